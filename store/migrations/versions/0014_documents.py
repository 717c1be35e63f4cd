"""invoices and credit memos numbered without gaps per series, each kept as issued

Revision ID: 0014
Revises: 0013
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "document_series",
        sa.Column("series", sa.String(32), primary_key=True),
        sa.Column("last_number", sa.BigInteger, nullable=False, server_default="0"),
    )
    op.create_table(
        "documents",
        sa.Column("number", sa.String(48), primary_key=True),
        sa.Column("series", sa.String(32), nullable=False),
        sa.Column("sequence", sa.BigInteger, nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("source_id", sa.String(128), nullable=False),
        sa.Column("order_id", sa.String(64), nullable=False),
        sa.Column("issued_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("snapshot", JSONB, nullable=False),
        sa.CheckConstraint("kind in ('invoice','credit_memo')", name=op.f("ck_documents_kind")),
        sa.UniqueConstraint("kind", "source_id", name="uq_documents_source"),
        sa.UniqueConstraint("series", "sequence", name="uq_documents_series_sequence"),
    )
    op.create_index(op.f("ix_documents_order_id"), "documents", ["order_id"])
    op.create_index(op.f("ix_documents_issued_at"), "documents", ["issued_at"])


def downgrade() -> None:
    op.drop_table("documents")
    op.drop_table("document_series")
