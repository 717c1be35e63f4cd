"""orders that need a person carry why and since when

An order the workflow cannot take further by itself (a step that failed for good, a partner silent past its
deadline, a refund the gateway refused) has `attention_reason` / `attention_since` until an operator clears
it; a partial index finds those few among all orders.

Revision ID: 0007
Revises: 0006
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("orders", sa.Column("attention_reason", sa.Text(), nullable=True))
    op.add_column("orders", sa.Column("attention_since", sa.DateTime(timezone=True), nullable=True))
    op.create_index(
        "ix_orders_needing_attention",
        "orders",
        ["placed_at"],
        postgresql_where=sa.text("attention_reason IS NOT NULL"),
    )


def downgrade() -> None:
    op.drop_index("ix_orders_needing_attention", table_name="orders")
    op.drop_column("orders", "attention_since")
    op.drop_column("orders", "attention_reason")
