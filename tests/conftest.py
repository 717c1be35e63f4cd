"""Fixtures shared by every tier: the database (see tests/database.py)."""

from collections.abc import Iterator

import pytest
from sqlalchemy import Engine

from store.db import make_engine
from tests.database import fresh_database


@pytest.fixture(scope="session")
def database_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with fresh_database(tmp_path_factory.mktemp("db")) as url:
        yield url


@pytest.fixture(scope="session")
def engine(database_url: str) -> Iterator[Engine]:
    engine = make_engine(database_url)
    yield engine
    engine.dispose()
