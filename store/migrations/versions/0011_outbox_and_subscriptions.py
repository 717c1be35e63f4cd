"""events out: the outbox, webhook subscriptions and each destination's progress

The projection writes every new domain event to `outbox` in the transaction that writes it to `order_events`.
The relay hands each event on to every destination (webhook subscribers, NATS, notifications): how far it has
read the outbox per destination in `outbox_destinations`, what is still owed (pending, retried with backoff) or
gave up (failed, replayable) in `outbox_deliveries`.

Revision ID: 0011
Revises: 0010
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "outbox",
        sa.Column("event_id", sa.BigInteger(), primary_key=True, autoincrement=True),
        sa.Column("order_id", sa.String(64), nullable=False),
        sa.Column("sequence", sa.Integer(), nullable=False),
        sa.Column("type", sa.String(64), nullable=False),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("data", JSONB(), nullable=False),
        sa.Column(
            "txid", sa.BigInteger(), nullable=False, server_default=sa.text("pg_current_xact_id()::text::bigint")
        ),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.PrimaryKeyConstraint("event_id", name="pk_outbox"),
        sa.UniqueConstraint("order_id", "sequence", name="uq_outbox_order_sequence"),
    )
    op.create_index("ix_outbox_txid_event_id", "outbox", ["txid", "event_id"])
    op.create_table(
        "subscriptions",
        sa.Column("id", sa.String(40), nullable=False),
        sa.Column("url", sa.String(2048), nullable=False),
        sa.Column("events", JSONB(), nullable=False),
        sa.Column("secret", sa.String(256), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.PrimaryKeyConstraint("id", name="pk_subscriptions"),
    )
    op.create_table(
        "outbox_destinations",
        sa.Column("name", sa.String(80), nullable=False),
        sa.Column("after_txid", sa.BigInteger(), nullable=False, server_default="0"),
        sa.Column("after_event_id", sa.BigInteger(), nullable=False, server_default="0"),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.PrimaryKeyConstraint("name", name="pk_outbox_destinations"),
    )
    op.create_table(
        "outbox_deliveries",
        sa.Column("destination", sa.String(80), nullable=False),
        sa.Column("event_id", sa.BigInteger(), nullable=False),
        sa.Column("order_id", sa.String(64), nullable=False),
        sa.Column("state", sa.String(16), nullable=False, server_default="pending"),
        sa.Column("attempts", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.Column("first_attempt_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("failed_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint("state in ('pending','failed')", name="ck_outbox_deliveries_state"),
        sa.ForeignKeyConstraint(
            ["destination"],
            ["outbox_destinations.name"],
            name="fk_outbox_deliveries_destination",
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(["event_id"], ["outbox.event_id"], name="fk_outbox_deliveries_event_id"),
        sa.PrimaryKeyConstraint("destination", "event_id", name="pk_outbox_deliveries"),
    )
    op.create_index(
        "ix_outbox_deliveries_pending",
        "outbox_deliveries",
        ["destination", "order_id", "event_id"],
        postgresql_where=sa.text("state = 'pending'"),
    )
    op.create_index(
        "ix_outbox_deliveries_failed",
        "outbox_deliveries",
        ["destination", "event_id"],
        postgresql_where=sa.text("state = 'failed'"),
    )


def downgrade() -> None:
    op.drop_index("ix_outbox_deliveries_failed", table_name="outbox_deliveries")
    op.drop_index("ix_outbox_deliveries_pending", table_name="outbox_deliveries")
    op.drop_table("outbox_deliveries")
    op.drop_table("outbox_destinations")
    op.drop_table("subscriptions")
    op.drop_index("ix_outbox_txid_event_id", table_name="outbox")
    op.drop_table("outbox")
