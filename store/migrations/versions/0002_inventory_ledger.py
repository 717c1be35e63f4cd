"""inventory ledger, location groups, reservation expiry

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op
revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None

MOVEMENT_KINDS = "'receipt','adjustment','reservation','release','shipment','return_restock','expiry'"


def upgrade() -> None:
    op.create_table('inventory_movements',
    sa.Column('id', sa.BigInteger(), autoincrement=True, nullable=False),
    sa.Column('location_id', sa.String(length=64), nullable=False),
    sa.Column('sku', sa.String(length=64), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('on_hand_delta', sa.Integer(), server_default='0', nullable=False),
    sa.Column('reserved_delta', sa.Integer(), server_default='0', nullable=False),
    sa.Column('reason', sa.Text(), server_default='', nullable=False),
    sa.Column('reference', sa.String(length=200), nullable=True),
    sa.Column('movement_key', sa.String(length=240), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.CheckConstraint(f"kind in ({MOVEMENT_KINDS})", name=op.f('ck_inventory_movements_kind')),
    sa.ForeignKeyConstraint(['location_id'], ['locations.id'], name=op.f('fk_inventory_movements_location_id')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_inventory_movements')),
    sa.UniqueConstraint('movement_key', name=op.f('uq_inventory_movements_movement_key'))
    )
    op.create_index('ix_inventory_movements_location_sku', 'inventory_movements', ['location_id', 'sku'], unique=False)
    op.create_index('ix_inventory_movements_reference', 'inventory_movements', ['reference'], unique=False)

    op.create_table('location_groups',
    sa.Column('id', sa.String(length=64), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('channel', sa.String(length=16), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_location_groups'))
    )
    op.create_index(op.f('ix_location_groups_channel'), 'location_groups', ['channel'], unique=False)
    op.create_table('location_group_members',
    sa.Column('group_id', sa.String(length=64), nullable=False),
    sa.Column('location_id', sa.String(length=64), nullable=False),
    sa.ForeignKeyConstraint(['group_id'], ['location_groups.id'], name=op.f('fk_location_group_members_group_id'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['location_id'], ['locations.id'], name=op.f('fk_location_group_members_location_id'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('group_id', 'location_id', name=op.f('pk_location_group_members'))
    )

    op.add_column('reservations', sa.Column('expires_at', sa.DateTime(timezone=True), nullable=True))
    op.create_index(
        'ix_reservations_expiring', 'reservations', ['expires_at'], unique=False,
        postgresql_where=sa.text("status = 'reserved' AND expires_at IS NOT NULL"),
    )
    op.drop_constraint(op.f('ck_reservations_status'), 'reservations', type_='check')
    op.create_check_constraint(
        op.f('ck_reservations_status'), 'reservations', "status in ('reserved','released','shipped','expired')"
    )

    # Stock that exists already opens the ledger, so the sum of every location/SKU's deltas is its level.
    op.execute(
        """
        INSERT INTO inventory_movements (location_id, sku, kind, on_hand_delta, reserved_delta, reason, reference)
        SELECT location_id, sku, 'adjustment', on_hand, reserved, 'opening balance', 'migration:0002'
        FROM inventory_levels
        WHERE on_hand <> 0 OR reserved <> 0
        """
    )


def downgrade() -> None:
    op.execute("UPDATE reservations SET status = 'released' WHERE status = 'expired'")
    op.drop_constraint(op.f('ck_reservations_status'), 'reservations', type_='check')
    op.create_check_constraint(
        op.f('ck_reservations_status'), 'reservations', "status in ('reserved','released','shipped')"
    )
    op.drop_index('ix_reservations_expiring', table_name='reservations',
                  postgresql_where=sa.text("status = 'reserved' AND expires_at IS NOT NULL"))
    op.drop_column('reservations', 'expires_at')
    op.drop_table('location_group_members')
    op.drop_index(op.f('ix_location_groups_channel'), table_name='location_groups')
    op.drop_table('location_groups')
    op.drop_index('ix_inventory_movements_reference', table_name='inventory_movements')
    op.drop_index('ix_inventory_movements_location_sku', table_name='inventory_movements')
    op.drop_table('inventory_movements')
