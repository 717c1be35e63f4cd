"""reservations belong to a fulfillment order; returns whose refund failed for good

A reship or exchange may send the same sku from the same location again for the same order, so a
reservation is unique per fulfillment order, not per order. Rows from before carry ''.

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op

revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column(
        'reservations',
        sa.Column('fulfillment_order_id', sa.String(length=80), server_default='', nullable=False),
    )
    op.drop_constraint('order_sku_location', 'reservations', type_='unique')
    op.create_unique_constraint(
        'order_fulfillment_order_sku_location', 'reservations', ['order_id', 'fulfillment_order_id', 'sku', 'location_id']
    )
    op.drop_constraint(op.f('ck_returns_status'), 'returns', type_='check')
    op.create_check_constraint(
        op.f('ck_returns_status'), 'returns', "status in ('requested','received','refunded','refund_failed')"
    )


def downgrade() -> None:
    op.drop_constraint(op.f('ck_returns_status'), 'returns', type_='check')
    op.create_check_constraint(op.f('ck_returns_status'), 'returns', "status in ('requested','received','refunded')")
    op.drop_constraint('order_fulfillment_order_sku_location', 'reservations', type_='unique')
    op.create_unique_constraint('order_sku_location', 'reservations', ['order_id', 'sku', 'location_id'])
    op.drop_column('reservations', 'fulfillment_order_id')
