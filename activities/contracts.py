"""What the order workflow and its activities exchange. Activity names are the stable API between them."""

from decimal import Decimal
from typing import Any

from pydantic import BaseModel

from domain.models import SkuQuantity

AUTHORIZE_PAYMENT = "authorize_payment"
VOID_AUTHORIZATION = "void_authorization"
ALLOCATE_ORDER = "allocate_order"
RELEASE_INVENTORY = "release_inventory"
SETTLE_SHIPMENT = "settle_shipment"
PROJECT_ORDER = "project_order"

# ApplicationError types the workflow tells apart; they are non-retryable.
PAYMENT_DECLINED = "PaymentDeclined"
PAYMENT_REFUSED = "PaymentRefused"


class AuthorizeRequest(BaseModel):
    idempotency_key: str
    order_id: str
    token: str
    amount: Decimal
    currency: str


class CaptureRequest(BaseModel):
    idempotency_key: str
    authorization_id: str
    amount: Decimal


class VoidRequest(BaseModel):
    idempotency_key: str
    authorization_id: str


class PaymentResult(BaseModel):
    transaction_id: str
    amount: Decimal


class AllocateRequest(BaseModel):
    """Reserve the order's lines and hand each fulfillment order to its location."""

    order_id: str
    lines: list[SkuQuantity]
    latitude: float | None
    longitude: float | None
    pickup_location_id: str | None = None
    ship_to: dict[str, Any]
    delivery_method: str


class AllocatedFulfillmentOrder(BaseModel):
    fulfillment_order_id: str
    location_id: str
    lines: list[SkuQuantity]


class AllocateResult(BaseModel):
    fulfillment_orders: list[AllocatedFulfillmentOrder] = []
    short_skus: list[str] = []


class ReleaseRequest(BaseModel):
    """Give back what the order holds of these lines (None: everything it holds)."""

    order_id: str
    lines: list[SkuQuantity] | None = None


class SettleRequest(BaseModel):
    """A shipped fulfillment order: its units leave stock and its amount is captured."""

    order_id: str
    location_id: str
    capture: CaptureRequest


def fulfillment_order_id(order_id: str, n: int) -> str:
    return f"{order_id}-F{n}"


def order_of_fulfillment_order(fo_id: str) -> str | None:
    """Fulfillment order ids carry their order id, so a partner's event finds its order without a lookup."""
    order_id, sep, n = fo_id.rpartition("-F")
    return order_id if sep and order_id and n.isdigit() else None
