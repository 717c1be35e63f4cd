"""Alembic environment: the URL comes from the caller (store.migrate), never from a file."""

from alembic import context
from sqlalchemy import create_engine

# each module's tables join the same metadata
import store.account_tables
import store.document_tables
import store.ledger_tables
import store.notification_tables
import store.outbox_tables  # noqa: F401
from store.db import sqlalchemy_url
from store.tables import metadata

url = context.config.get_main_option("sqlalchemy.url")
assert url, "store.migrate sets sqlalchemy.url"
engine = create_engine(sqlalchemy_url(url))
with engine.connect() as connection:
    context.configure(connection=connection, target_metadata=metadata, compare_type=True)
    with context.begin_transaction():
        context.run_migrations()
engine.dispose()
