"""An order's payment transactions as the gateway recorded them, for agents and operators.

The read model's payment totals say what the order believes happened; this is the gateway's own
ledger (the simulator's tables), so a person can reconcile the two and see each idempotency key.
The route itself lives on the orders router (`GET /v1/orders/{order_id}/payments`).
"""

from datetime import datetime
from decimal import Decimal

from pydantic import BaseModel

from domain.money import quantize
from integrations.payments import GatewayTransaction, PaymentGateway, TransactionKind, TransactionStatus


class PaymentTransaction(BaseModel):
    transaction_id: str
    type: TransactionKind
    amount: Decimal
    currency: str
    status: TransactionStatus
    decline_reason: str | None = None
    idempotency_key: str
    parent_id: str | None = None
    created_at: datetime

    @classmethod
    def of(cls, tx: GatewayTransaction) -> "PaymentTransaction":
        return cls(
            transaction_id=tx.id,
            type=tx.kind,
            # The ledger stores four decimals whatever the currency; the API speaks the currency's minor unit.
            amount=quantize(tx.amount, tx.currency),
            currency=tx.currency,
            status=tx.status,
            decline_reason=tx.decline_reason,
            idempotency_key=tx.idempotency_key,
            parent_id=tx.parent_id,
            created_at=tx.created_at,
        )


def order_transactions(gateway: PaymentGateway, order_id: str) -> list[PaymentTransaction]:
    """The order's gateway transactions, oldest first (the order id is their merchant reference). Raises
    GatewayUnavailable when the gateway cannot be reached."""
    return [PaymentTransaction.of(tx) for tx in gateway.transactions(order_id)]
