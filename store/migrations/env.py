"""Alembic environment: the URL comes from the caller (store.migrate), never from a file."""

from alembic import context
from sqlalchemy import create_engine

import store.document_tables  # (its tables join the same metadata)
import store.notification_tables  # (its tables join the same metadata)
import store.outbox_tables  # noqa: F401  (its tables join the same metadata)
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
