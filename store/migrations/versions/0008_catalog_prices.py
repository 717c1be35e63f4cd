"""the catalog prices each product per currency and names its tax class

`products` had one price in one currency; it now has `prices` (`{"JPY": "5000", ...}`), a `tax_class`
(standard or reduced) and `edited_at`, when an operator last set the product (NULL while the demo seed owns it).
Each product keeps the price it had, in its currency.

Revision ID: 0008
Revises: 0007
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column(
        "products",
        sa.Column("prices", postgresql.JSONB(), nullable=False, server_default=sa.text("'{}'::jsonb")),
    )
    op.add_column("products", sa.Column("tax_class", sa.String(16), nullable=False, server_default="standard"))
    op.add_column("products", sa.Column("edited_at", sa.DateTime(timezone=True), nullable=True))
    op.create_check_constraint(op.f("ck_products_tax_class"), "products", "tax_class in ('standard','reduced')")
    # 24980.0000 JPY becomes {"JPY": "24980"}: the price as the currency writes it
    op.execute("UPDATE products SET prices = jsonb_build_object(currency, trim_scale(unit_price)::text)")
    op.drop_column("products", "unit_price")
    op.drop_column("products", "currency")


def downgrade() -> None:
    op.add_column("products", sa.Column("unit_price", sa.Numeric(18, 4), nullable=True))
    op.add_column("products", sa.Column("currency", sa.String(3), nullable=True))
    # one price survives: the yen price where there is one, else the first currency by code
    op.execute(
        """
        UPDATE products p SET currency = chosen.currency, unit_price = chosen.amount
        FROM (
            SELECT DISTINCT ON (sku) sku, key AS currency, value::numeric AS amount
            FROM products, jsonb_each_text(prices)
            ORDER BY sku, key <> 'JPY', key
        ) AS chosen
        WHERE p.sku = chosen.sku
        """
    )
    op.execute("UPDATE products SET unit_price = 0, currency = 'JPY' WHERE currency IS NULL")
    op.alter_column("products", "unit_price", nullable=False)
    op.alter_column("products", "currency", nullable=False)
    op.drop_constraint(op.f("ck_products_tax_class"), "products", type_="check")
    op.drop_column("products", "edited_at")
    op.drop_column("products", "tax_class")
    op.drop_column("products", "prices")
