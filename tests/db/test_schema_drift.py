"""The migrations build exactly the tables the code declares: a column, index or constraint added to one and not
the other is found here, not on an operator's database."""

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Engine

from store.schema import metadata

pytestmark = pytest.mark.db


def test_the_migrated_database_has_every_table_as_declared_and_nothing_else(engine: Engine) -> None:
    # given the session's database, built by the migrations alone; when it is compared with the declared tables
    with engine.connect() as conn:
        # with the options the migrations' own environment compares with (store/migrations/env.py)
        differences = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), metadata)
    # then there is no difference
    assert differences == []
