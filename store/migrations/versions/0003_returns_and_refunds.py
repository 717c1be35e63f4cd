"""returns, refunds and appeasements in the read model; delivery promises and backorders

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql
revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None

PAYMENT_KINDS = "'authorize','capture','void','refund','appeasement'"
UNALLOCATED = "(ordered - canceled - allocated) > 0"


def upgrade() -> None:
    op.create_table('returns',
    sa.Column('return_id', sa.String(length=80), nullable=False),
    sa.Column('order_id', sa.String(length=64), nullable=False),
    sa.Column('rma', sa.String(length=80), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('method', sa.String(length=16), nullable=False),
    sa.Column('location_id', sa.String(length=64), nullable=False),
    sa.Column('label', sa.Text(), nullable=True),
    sa.Column('lines', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('received', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'),
              nullable=False),
    sa.Column('refund_amount', sa.Numeric(precision=18, scale=4), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.CheckConstraint("status in ('requested','received','refunded')", name=op.f('ck_returns_status')),
    sa.ForeignKeyConstraint(['order_id'], ['orders.order_id'], name=op.f('fk_returns_order_id')),
    sa.PrimaryKeyConstraint('return_id', name=op.f('pk_returns'))
    )
    op.create_index(op.f('ix_returns_order_id'), 'returns', ['order_id'], unique=False)

    op.add_column('fulfillment_orders', sa.Column('promised_date', sa.Date(), nullable=True))
    op.add_column('fulfillment_orders',
                  sa.Column('refunded', sa.Numeric(precision=18, scale=4), server_default='0', nullable=False))
    op.add_column('orders', sa.Column('promised_date', sa.Date(), nullable=True))
    op.add_column('orders', sa.Column('backordered_until', sa.DateTime(timezone=True), nullable=True))

    # Refund and appeasement rows are keyed `<refund id>:<capture transaction id>`, longer than a gateway id.
    op.alter_column('payments', 'transaction_id', existing_type=sa.String(length=80), type_=sa.String(length=200),
                    existing_nullable=False)
    op.create_check_constraint(op.f('ck_payments_kind'), 'payments', f"kind in ({PAYMENT_KINDS})")

    op.create_index('ix_order_lines_unallocated_sku', 'order_lines', ['sku'], unique=False,
                    postgresql_where=sa.text(UNALLOCATED))


def downgrade() -> None:
    op.drop_index('ix_order_lines_unallocated_sku', table_name='order_lines',
                  postgresql_where=sa.text(UNALLOCATED))
    op.drop_constraint(op.f('ck_payments_kind'), 'payments', type_='check')
    op.execute("DELETE FROM payments WHERE kind IN ('refund','appeasement')")
    op.alter_column('payments', 'transaction_id', existing_type=sa.String(length=200), type_=sa.String(length=80),
                    existing_nullable=False)
    op.drop_column('orders', 'backordered_until')
    op.drop_column('orders', 'promised_date')
    op.drop_column('fulfillment_orders', 'refunded')
    op.drop_column('fulfillment_orders', 'promised_date')
    op.drop_index(op.f('ix_returns_order_id'), table_name='returns')
    op.drop_table('returns')
