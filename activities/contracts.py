"""What the order workflow and its activities exchange. Activity names are the stable API between them."""

from datetime import date, datetime
from decimal import Decimal
from typing import Any

from pydantic import BaseModel

from domain.events import RecordedEvent, RefundPart
from domain.models import Channel, DeliveryMethod, SkuQuantity
from domain.order import Order

AUTHORIZE_PAYMENT = "authorize_payment"
VOID_AUTHORIZATION = "void_authorization"
ALLOCATE_ORDER = "allocate_order"
RELEASE_INVENTORY = "release_inventory"
SETTLE_SHIPMENT = "settle_shipment"
SHIP_RESHIP = "ship_reship"
PROJECT_ORDER = "project_order"
REFUND_PAYMENT = "refund_payment"
RESTOCK_RETURN = "restock_return"
CANCEL_FULFILLMENT = "cancel_fulfillment"
HAND_OFF_FULFILLMENT = "hand_off_fulfillment"
AMEND_FULFILLMENT = "amend_fulfillment"
TRACK_PARCEL = "track_parcel"

# ApplicationError types the workflow tells apart; they are non-retryable.
PAYMENT_DECLINED = "PaymentDeclined"
PAYMENT_REFUSED = "PaymentRefused"
# Errors no retry will mend: a partner's refusal, bad data, an unknown id. Python exceptions raised in an
# activity arrive as ApplicationErrors typed by their class name.
NON_RETRYABLE_ERRORS = [
    PAYMENT_DECLINED,
    PAYMENT_REFUSED,
    "WarehouseRefused",
    "CarrierRefused",
    "UnknownLocation",
    "ValueError",
    "TypeError",
    "KeyError",
    "ValidationError",
    "InvariantViolation",
    "DataError",
    "IntegrityError",
    "ProgrammingError",
]


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
    expires_at: datetime | None = None  # an authorization's, as the gateway says


class AmendRequest(BaseModel):
    """Take units off a released fulfillment order at its location (a partial cancel), once per key."""

    fulfillment_order_id: str
    remove: list[SkuQuantity]
    key: str


class AllocatedFulfillmentOrder(BaseModel):
    fulfillment_order_id: str
    location_id: str
    lines: list[SkuQuantity]
    promised_date: date | None = None


class AllocateRequest(BaseModel):
    """Route these lines, reserve them and hand each fulfillment order to its location.

    New fulfillment orders are numbered from `first_number`, and their reservations carry that id, so a
    retry finds what an earlier attempt of the same step reserved; `excluded` locations rejected this
    order before.
    """

    order_id: str
    channel: Channel
    lines: list[SkuQuantity]
    latitude: float | None
    longitude: float | None
    pickup_location_id: str | None = None
    ship_to: dict[str, Any]
    delivery_method: DeliveryMethod
    first_number: int = 1
    excluded: list[str] = []
    # an order on hold (fraud review) reserves until then and is not handed to any location yet
    hold_until: datetime | None = None
    # the day a B2B buyer asked to have it, which its locations are told
    requested_delivery_date: date | None = None


class HandOffRequest(BaseModel):
    """A held order approved: keep its reservations for good and hand its fulfillment orders over."""

    order_id: str
    ship_to: dict[str, Any]
    delivery_method: DeliveryMethod
    fulfillment_orders: list[AllocatedFulfillmentOrder]
    requested_delivery_date: date | None = None


class AllocateResult(BaseModel):
    fulfillment_orders: list[AllocatedFulfillmentOrder] = []
    unfilled: list[SkuQuantity] = []


class ReleaseRequest(BaseModel):
    """Give back what the order holds of these lines (None: everything it holds), once per key."""

    order_id: str
    lines: list[SkuQuantity] | None = None
    location_id: str | None = None
    key: str | None = None
    fulfillment_order_id: str | None = None  # only what this fulfillment order holds


class RefundRequest(BaseModel):
    """Refund each part against its own capture; each part is keyed, so a retry refunds nothing twice."""

    idempotency_key: str
    parts: list[RefundPart]


class RestockRequest(BaseModel):
    return_id: str
    location_id: str
    lines: list[SkuQuantity]


class SettleRequest(BaseModel):
    """A shipped fulfillment order: its units leave stock and its amount is captured."""

    order_id: str
    location_id: str
    capture: CaptureRequest
    fulfillment_order_id: str | None = None


class ShipRequest(BaseModel):
    """A shipped reship: its units leave stock; nothing is charged."""

    order_id: str
    location_id: str
    fulfillment_order_id: str | None = None


class ProjectionBatch(BaseModel):
    """The order as it stands and the events recorded since the last batch, for the read model."""

    workflow_id: str
    order: Order
    events: list[RecordedEvent]
