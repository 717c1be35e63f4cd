"""Alembic environment: the URL comes from the caller (store.migrate), never from a file."""

from alembic import context
from sqlalchemy import create_engine

from store.db import sqlalchemy_url
from store.schema import metadata

url = context.config.get_main_option("sqlalchemy.url")
assert url, "store.migrate sets sqlalchemy.url"
engine = create_engine(sqlalchemy_url(url))
with engine.connect() as connection:
    context.configure(connection=connection, target_metadata=metadata, compare_type=True)
    with context.begin_transaction():
        context.run_migrations()
engine.dispose()
