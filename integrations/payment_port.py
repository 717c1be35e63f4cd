"""The payment port: what the order's payment steps ask of whoever holds the money, and what they hear back.

Two hold it: the card gateway (`integrations/payments.py` simulates one), and the OMS's own ledger for what no
card pays (an account's net terms, a storefront platform's prepayment: `integrations/own_ledger.py`).
"""

from datetime import datetime, timedelta
from decimal import Decimal
from typing import Literal, Protocol

from pydantic import BaseModel, ConfigDict, computed_field

# How long an authorization holds the funds before the issuer releases them.
AUTHORIZATION_TTL = timedelta(days=7)

TransactionKind = Literal["authorize", "capture", "void", "refund"]
TransactionStatus = Literal["succeeded", "declined"]


class GatewayTransaction(BaseModel):
    model_config = ConfigDict(frozen=True)

    id: str
    idempotency_key: str
    kind: TransactionKind
    merchant_reference: str
    parent_id: str | None
    amount: Decimal
    currency: str
    status: TransactionStatus
    decline_reason: str | None
    created_at: datetime

    @computed_field  # type: ignore[prop-decorator]
    @property
    def expires_at(self) -> datetime | None:
        """When the authorization lapses (created_at + AUTHORIZATION_TTL); other transactions do not expire."""
        return self.created_at + AUTHORIZATION_TTL if self.kind == "authorize" else None


class PaymentError(Exception):
    """Base of the gateway's errors."""


class CardDeclined(PaymentError):
    """The issuer said no. Permanent: retrying the same card will not help."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class GatewayUnavailable(PaymentError):
    """The gateway could not be reached or answered with an outage. Transient: retry with the same key."""


class GatewayRefused(PaymentError):
    """The gateway's ledger refused the request (over-capture, over-refund, unknown parent, key reuse)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class PaymentGateway(Protocol):
    def save_payment_method(self, idempotency_key: str, customer_reference: str, token: str) -> str:
        """Keep the card's token at the gateway; the answer (`pm_...`) pays from then on. One key, one method."""
        ...

    def authorize(
        self, idempotency_key: str, merchant_reference: str, token: str, amount: Decimal, currency: str
    ) -> GatewayTransaction:
        """`token` is a saved payment method (`pm_...`), or a card token for orders placed before the vault."""
        ...

    def capture(self, idempotency_key: str, authorization_id: str, amount: Decimal) -> GatewayTransaction: ...

    def void(self, idempotency_key: str, authorization_id: str) -> GatewayTransaction:
        """Release whatever of the authorization is not captured; the result's amount is what was voided."""
        ...

    def refund(self, idempotency_key: str, capture_id: str, amount: Decimal) -> GatewayTransaction: ...

    def transactions(self, merchant_reference: str) -> list[GatewayTransaction]:
        """Every transaction made with this merchant reference (the order id), oldest first."""
        ...
