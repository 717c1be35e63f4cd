"""The parts of an order's state: its lines, fulfillment orders, returns, exchanges and payment.

Each is kept in the Order aggregate (domain/order.py) and changed only by applying an event to it."""

from datetime import date, datetime
from decimal import Decimal
from typing import Literal

from pydantic import BaseModel

from domain.events_service import ExchangeLine, ReturnedLine
from domain.models import SkuQuantity
from domain.tax import TaxClass


class LineState(BaseModel):
    sku: str
    unit_price: Decimal
    ordered: int
    allocated: int = 0
    shipped: int = 0
    delivered: int = 0
    canceled: int = 0
    returned: int = 0
    # captured at checkout; None for lines added by an exchange or placed before it was captured
    tax_class: TaxClass | None = None
    # the rate added on top of the price where prices are quoted without tax (quoted at checkout); None: in the price
    tax_rate: Decimal | None = None

    @property
    def unallocated(self) -> int:
        return self.ordered - self.canceled - self.allocated


FulfillmentStatus = Literal["released", "ready_for_pickup", "shipped", "delivered", "canceled", "rejected", "withdrawn"]
# fulfillment orders that no longer hold or move any units
CLOSED_FULFILLMENT: frozenset[str] = frozenset({"canceled", "rejected", "withdrawn"})


class FulfillmentOrderState(BaseModel):
    id: str
    location_id: str
    lines: list[SkuQuantity]
    status: FulfillmentStatus = "released"
    carrier: str | None = None
    tracking_number: str | None = None
    captured: Decimal = Decimal(0)
    capture_id: str | None = None
    refunded: Decimal = Decimal(0)
    invoice_id: str | None = None
    promised_date: date | None = None
    reship: bool = False  # units sent again at no charge: not counted on the order's lines
    exchange_id: str | None = None  # the replacement of an exchange: charged only beyond the returned value

    @property
    def refundable(self) -> Decimal:
        return self.captured - self.refunded

    @property
    def open(self) -> bool:
        """Still to leave its location: released to it, or waiting there for the customer."""
        return self.status in ("released", "ready_for_pickup")


class ReturnState(BaseModel):
    id: str
    rma: str
    lines: list[SkuQuantity]
    method: str
    location_id: str
    label: str | None
    refund_amount: Decimal
    status: Literal["requested", "received", "refunded", "refund_failed"] = "requested"
    received: list[ReturnedLine] = []


class ExchangeState(BaseModel):
    id: str
    return_id: str
    lines: list[ExchangeLine]
    credit: Decimal
    difference: Decimal
    authorization_id: str | None
    charged: Decimal = Decimal(0)

    @property
    def charge(self) -> Decimal:
        """What the replacement costs beyond the returned units, captured as it ships."""
        return max(self.difference, Decimal(0))


class AuthorizationState(BaseModel):
    amount: Decimal
    captured: Decimal = Decimal(0)
    voided: Decimal = Decimal(0)
    expires_at: datetime | None = None

    @property
    def capturable(self) -> Decimal:
        return self.amount - self.captured - self.voided


class PaymentState(BaseModel):
    authorization_id: str | None = None  # the checkout's; an exchange may add its own in `authorizations`
    authorized: Decimal = Decimal(0)
    captured: Decimal = Decimal(0)
    refunded: Decimal = Decimal(0)
    voided: Decimal = Decimal(0)
    authorizations: dict[str, AuthorizationState] = {}

    @property
    def capturable(self) -> Decimal:
        return self.authorized - self.captured - self.voided

    def open_authorizations(self) -> list[str]:
        """Authorizations with money still held on the customer's card, checkout's first."""
        return [auth_id for auth_id, auth in self.authorizations.items() if auth.capturable > 0]


class Attention(BaseModel):
    reason: str
    since: datetime
