"""customer notifications, sent once per event and channel; the simulated SMS provider and mail catcher

`notifications` is claimed before a message is sent and settled after (store/notification_tables.py).

Revision ID: 0012
Revises: 0011
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "notifications",
        sa.Column("event_id", sa.BigInteger, primary_key=True),
        sa.Column("channel", sa.String(8), primary_key=True),
        sa.Column("order_id", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(24), nullable=False),
        sa.Column("recipient", sa.String(254), nullable=False),
        sa.Column("state", sa.String(8), nullable=False),
        sa.Column("reference", sa.String(200)),
        sa.Column("error", sa.Text),
        sa.Column("claimed_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.Column("settled_at", sa.DateTime(timezone=True)),
        sa.CheckConstraint("state in ('claimed','sent','failed')", name="ck_notifications_state"),
    )
    op.create_index("ix_notifications_order_id", "notifications", ["order_id"])
    op.create_index(
        "ix_notifications_unsettled",
        "notifications",
        ["claimed_at"],
        postgresql_where=sa.text("state = 'claimed'"),
    )
    op.create_table(
        "simulator_sms_messages",
        sa.Column("id", sa.BigInteger, primary_key=True, autoincrement=True),
        sa.Column("idempotency_key", sa.String(200), nullable=False, unique=True),
        sa.Column("to", sa.String(32), nullable=False),
        sa.Column("sender", sa.String(32), nullable=False),
        sa.Column("body", sa.Text, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
    )
    op.create_index("ix_simulator_sms_messages_to", "simulator_sms_messages", ["to"])
    op.create_table(
        "simulator_mails",
        sa.Column("id", sa.BigInteger, primary_key=True, autoincrement=True),
        sa.Column("message_id", sa.String(254)),
        sa.Column("mail_from", sa.String(254), nullable=False),
        sa.Column("rcpt_to", postgresql.JSONB, nullable=False),
        sa.Column("subject", sa.Text, nullable=False),
        sa.Column("body", sa.Text, nullable=False),
        sa.Column("raw", sa.Text, nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
    )


def downgrade() -> None:
    op.drop_table("simulator_mails")
    op.drop_table("simulator_sms_messages")
    op.drop_table("notifications")
