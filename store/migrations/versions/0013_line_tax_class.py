"""each order line's tax class, so the order's tax per rate can be computed from the read model

A line keeps the class captured at checkout (or, for a line an exchange added, the catalog's when the line was first
written), so a product reclassified later does not change the tax of orders already placed. Lines written before
this take the catalog's class now, and `standard` for a sku the catalog no longer has.

Revision ID: 0013
Revises: 0012
"""

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("order_lines", sa.Column("tax_class", sa.String(16), nullable=False, server_default="standard"))
    op.create_check_constraint(op.f("ck_order_lines_tax_class"), "order_lines", "tax_class in ('standard','reduced')")
    op.execute(
        "UPDATE order_lines SET tax_class = p.tax_class FROM products p "
        "WHERE p.sku = order_lines.sku AND p.tax_class <> order_lines.tax_class"
    )


def downgrade() -> None:
    op.drop_constraint(op.f("ck_order_lines_tax_class"), "order_lines", type_="check")
    op.drop_column("order_lines", "tax_class")
