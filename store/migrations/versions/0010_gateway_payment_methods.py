"""the gateway vaults card tokens as payment methods

At checkout the API hands the storefront's card token to the gateway, which keeps it and answers with a
payment method reference (`pm_...`). Only that reference travels in the order's workflow input and history;
the token itself stays with the gateway (here, the simulator's table).

Revision ID: 0010
Revises: 0009
"""

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "gateway_payment_methods",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column("idempotency_key", sa.String(200), nullable=False, unique=True),
        sa.Column("customer_reference", sa.String(64), nullable=False),
        sa.Column("token", sa.String(128), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
    )


def downgrade() -> None:
    op.drop_table("gateway_payment_methods")
