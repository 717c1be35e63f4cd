"""Every table the migrations build, on the one MetaData: what Alembic compares the database with, and what the
schema drift test holds the migrations to. A module of tables is named here once."""

import store.account_tables
import store.document_tables
import store.ledger_tables
import store.notification_tables
import store.outbox_tables  # noqa: F401  (each module declares its tables on the one MetaData)
from store.tables import metadata

__all__ = ["metadata"]
