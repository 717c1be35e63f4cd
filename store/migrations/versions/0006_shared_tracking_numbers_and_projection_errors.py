"""several fulfillment orders may share a tracking number; orders the read model could not fully write are flagged

One parcel may carry several fulfillment orders, of one order or of several: the tracking number is
indexed, not unique. An order whose projection could not write a row (a value its column cannot hold)
carries the reason and the time in `projection_error` / `projection_error_at`.

Revision ID: 0006
Revises: 0005
"""

import sqlalchemy as sa
from alembic import op

revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.drop_constraint(op.f('uq_fulfillment_orders_tracking_number'), 'fulfillment_orders', type_='unique')
    op.create_index(op.f('ix_fulfillment_orders_tracking_number'), 'fulfillment_orders', ['tracking_number'])
    op.add_column('orders', sa.Column('projection_error', sa.Text(), nullable=True))
    op.add_column('orders', sa.Column('projection_error_at', sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    op.drop_column('orders', 'projection_error_at')
    op.drop_column('orders', 'projection_error')
    op.drop_index(op.f('ix_fulfillment_orders_tracking_number'), table_name='fulfillment_orders')
    op.create_unique_constraint(
        op.f('uq_fulfillment_orders_tracking_number'), 'fulfillment_orders', ['tracking_number']
    )
