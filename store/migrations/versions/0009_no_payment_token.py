"""the read model keeps no payment token

Only the payment gateway keeps a card's token. The timeline's `OrderPlaced` events stored the checkout as posted,
token included (`data.order.payment.token`); from now on they keep the payment's method only, and the tokens
already stored are removed. There is no way back: a downgrade leaves them removed.

Revision ID: 0009
Revises: 0008
"""

from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        """
        UPDATE order_events
        SET data = data #- '{order,payment,token}'
        WHERE type = 'OrderPlaced' AND jsonb_exists(data #> '{order,payment}', 'token')
        """
    )


def downgrade() -> None:
    pass  # the tokens are gone for good; the gateway has them
