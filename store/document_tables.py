"""Invoices and credit memos as issued: each series' counter and each document's number and snapshot.

Kept beside store/tables.py, on its MetaData, so that module stays small; Alembic sees it (migrations/env.py).
"""

from sqlalchemy import BigInteger, CheckConstraint, Column, DateTime, String, Table, UniqueConstraint
from sqlalchemy.dialects.postgresql import JSONB

from store.tables import metadata

# One row per series: the last number it gave. Taken FOR UPDATE in the projection's transaction, so numbers are
# handed out one transaction at a time and a rolled-back batch gives its number back.
document_series = Table(
    "document_series",
    metadata,
    Column("series", String(32), primary_key=True),
    Column("last_number", BigInteger, nullable=False, server_default="0"),
)

documents = Table(
    "documents",
    metadata,
    Column("number", String(48), primary_key=True),
    Column("series", String(32), nullable=False),
    Column("sequence", BigInteger, nullable=False),
    Column("kind", String(16), nullable=False),
    # the invoice id or refund id it documents: one document each, however often the batch is projected
    Column("source_id", String(128), nullable=False),
    Column("order_id", String(64), nullable=False, index=True),
    Column("issued_at", DateTime(timezone=True), nullable=False, index=True),
    # what the document says, as issued; never rewritten
    Column("snapshot", JSONB, nullable=False),
    CheckConstraint("kind in ('invoice','credit_memo')", name="kind"),
    UniqueConstraint("kind", "source_id", name="uq_documents_source"),
    UniqueConstraint("series", "sequence", name="uq_documents_series_sequence"),
)
