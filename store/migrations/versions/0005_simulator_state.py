"""the partner simulators keep what they received and the webhooks they owe in PostgreSQL

Fulfillment orders with their lines, flow and tracking number; cancels that came before the release;
pending webhooks with their due time and attempts; amends by idempotency key.

Revision ID: 0005
Revises: 0004
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None

JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql')


def upgrade() -> None:
    op.create_table(
        'simulator_fulfillment_orders',
        sa.Column('fulfillment_order_id', sa.String(length=80), nullable=False),
        sa.Column('order_id', sa.String(length=64), nullable=False),
        sa.Column('location_id', sa.String(length=64), nullable=False),
        sa.Column('delivery_method', sa.String(length=32), nullable=False),
        sa.Column('lines', JSON, nullable=False),
        sa.Column('request', JSON, nullable=False),
        sa.Column('flow', JSON, nullable=False),
        sa.Column('next_step', sa.Integer(), server_default='0', nullable=False),
        sa.Column('status', sa.String(length=24), nullable=False),
        sa.Column('tracking_number', sa.String(length=40), nullable=True),
        sa.Column('carrier', sa.String(length=32), nullable=True),
        sa.Column('error', sa.Text(), nullable=True),
        sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
        sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
        sa.PrimaryKeyConstraint('fulfillment_order_id', name=op.f('pk_simulator_fulfillment_orders')),
        sa.UniqueConstraint('tracking_number', name=op.f('uq_simulator_fulfillment_orders_tracking_number')),
    )
    op.create_table(
        'simulator_early_cancels',
        sa.Column('fulfillment_order_id', sa.String(length=80), nullable=False),
        sa.Column('canceled_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
        sa.PrimaryKeyConstraint('fulfillment_order_id', name=op.f('pk_simulator_early_cancels')),
    )
    op.create_table(
        'simulator_webhooks',
        sa.Column('id', sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column('fulfillment_order_id', sa.String(length=80), nullable=False),
        sa.Column('stage', sa.String(length=24), nullable=False),
        sa.Column('step', sa.Integer(), nullable=False),
        sa.Column('chain', sa.Boolean(), nullable=False),
        sa.Column('path', sa.String(length=40), nullable=False),
        sa.Column('body', JSON, nullable=False),
        sa.Column('due_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('attempts', sa.Integer(), server_default='0', nullable=False),
        sa.Column('state', sa.String(length=16), server_default='pending', nullable=False),
        sa.Column('last_answer', sa.Text(), nullable=True),
        sa.Column('sent_at', sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "state in ('pending','sent','failed','canceled')", name=op.f('ck_simulator_webhooks_state')
        ),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_simulator_webhooks')),
    )
    op.create_index(
        op.f('ix_simulator_webhooks_fulfillment_order_id'), 'simulator_webhooks', ['fulfillment_order_id']
    )
    op.create_index(
        'ix_simulator_webhooks_due', 'simulator_webhooks', ['due_at'], postgresql_where=sa.text("state = 'pending'")
    )
    op.create_table(
        'simulator_amendments',
        sa.Column('idempotency_key', sa.String(length=200), nullable=False),
        sa.Column('fulfillment_order_id', sa.String(length=80), nullable=False),
        sa.Column('remove', JSON, nullable=False),
        sa.Column('lines', JSON, nullable=False),
        sa.Column('status', sa.String(length=24), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
        sa.PrimaryKeyConstraint('idempotency_key', name=op.f('pk_simulator_amendments')),
    )


def downgrade() -> None:
    op.drop_table('simulator_amendments')
    op.drop_index('ix_simulator_webhooks_due', table_name='simulator_webhooks')
    op.drop_index(op.f('ix_simulator_webhooks_fulfillment_order_id'), table_name='simulator_webhooks')
    op.drop_table('simulator_webhooks')
    op.drop_table('simulator_early_cancels')
    op.drop_table('simulator_fulfillment_orders')
