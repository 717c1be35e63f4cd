"""Inputs, update results and signal payloads of the order workflow."""

from datetime import datetime
from decimal import Decimal
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, Field

from domain.events import RecordedEvent
from domain.fraud import FraudRules
from domain.models import (
    MAX_AMOUNT,
    MAX_LINES,
    Address,
    LocationId,
    PlaceOrder,
    Quantity,
    RequestedLines,
    Sku,
    SkuQuantity,
    one_line_per_sku,
)
from domain.order import Order

# New orders run the composed workflow; orders started before it finish as the type they started as.
ORDER_WORKFLOW = "OrderLifecycle"
LEGACY_ORDER_WORKFLOW = "Order"
CHECKOUT_UPDATE = "checkout"
WAREHOUSE_SIGNAL = "warehouse_event"
CARRIER_SIGNAL = "carrier_event"
CANCEL_UPDATE = "cancel"
SUMMARY_QUERY = "summary"
# an operator's "run the step that failed for good again, its cause is fixed"
RETRY_UPDATE = "retry"


# What a partner's identifiers may not hold: a NUL byte, which no text column takes.
NO_NUL = r"^[^\x00]*$"
PartnerSku = Annotated[Sku, Field(pattern=NO_NUL)]


# The order process a new order runs. 1: orders started before steps needed a person instead of retrying or
# compensating, and before partner deadlines; they keep running that way. 2: attention, bounded steps,
# partner deadlines, authorization renewal and continue-as-new. Carried in the input, so choosing costs the
# history nothing; changes within a version go behind workflow.patched(). It chooses within the legacy type
# (`Order`); the composed workflow (`OrderLifecycle`) always runs version 2's process.
ORDER_PROCESS_VERSION = 2


class OrderInput(BaseModel):
    order: PlaceOrder
    # absent in the inputs of orders started before versions were numbered: they are version 1
    process_version: int = Field(default=1, ge=1, le=ORDER_PROCESS_VERSION)
    return_window_seconds: float = Field(gt=0)
    # the channel's policy for units nothing can fill: wait this long for stock, or None to cancel them at once
    backorder_seconds: float | None = None
    # how long a pickup order waits at the store before it is canceled and restocked
    pickup_hold_seconds: float = Field(default=7 * 86400, gt=0)
    # how long an order held for fraud review waits for an agent before it is canceled
    review_seconds: float = Field(default=2 * 86400, gt=0)
    # how long a location may take to ship, and a carrier to deliver, before the order asks again
    fulfillment_sla_seconds: float = Field(default=3 * 86400, gt=0)
    delivery_sla_seconds: float = Field(default=14 * 86400, gt=0)
    # the fraud screen's rules when the order was placed; absent from older inputs, which used these defaults
    fraud_rules: FraudRules = Field(default_factory=FraudRules)
    # the run continues as new past this many history events (or when Temporal suggests it)
    max_history_events: int = Field(default=10_000, gt=0)
    # set when the order is to wait for its account's approver (the checkout decided so from the account)
    approval: "ApprovalPolicy | None" = None
    # set when the order continues as new: where the previous run left off
    resume: "ResumeState | None" = None


class ApprovalPolicy(BaseModel):
    """A B2B order above its account's approval threshold waits, reserved, for one of the account's approvers:
    past the first deadline agents are asked too (the order needs attention), past the second it is canceled."""

    account_id: str
    threshold: Decimal
    escalate_after_seconds: float = Field(gt=0)
    expire_after_seconds: float = Field(gt=0)


class PartnerDeadline(BaseModel):
    """When a partner's news of a fulfillment order is due; past it the order asks again, then needs a person."""

    fulfillment_order_id: str
    waiting_for: Literal["shipment", "delivery"]
    since: datetime
    due: datetime
    asked: bool = False
    flagged: bool = False


class ResumeState(BaseModel):
    """Everything a run carries into the next when it continues as new: the order and every pending wait."""

    order: Order
    checkout: "CheckoutResult"
    phase: Literal["fulfilment", "window", "grace"]
    window_closes: datetime | None = None
    grace_ends: datetime | None = None
    collect_by: dict[str, datetime] = {}
    early_deliveries: list[str] = []
    released_rejections: list[str] = []
    stock_arrived: bool = False
    deadlines: dict[str, PartnerDeadline] = {}
    projected_status: str | None = None
    projected_attention: bool = False
    unprojected: list[RecordedEvent] = []
    approved: bool | None = None
    counters: dict[str, int] = {}


class CheckoutResult(BaseModel):
    order_id: str
    status: str
    reason: str | None = None
    currency: str
    total: Decimal
    fulfillment_order_ids: list[str] = []
    repeated: bool = False  # a checkout after the first: the order was placed by an earlier one


class WarehouseEvent(BaseModel):
    """A location's news of a fulfillment order. Stores also report pickup orders ready and collected."""

    fulfillment_order_id: str = Field(min_length=1, max_length=80, pattern=NO_NUL)
    event: Literal["picked", "packed", "shipped", "rejected", "ready_for_pickup", "picked_up"]
    # as the fulfillment_orders columns hold them; several fulfillment orders may share a tracking number
    tracking_number: str | None = Field(default=None, max_length=64, pattern=NO_NUL)
    carrier: str | None = Field(default=None, max_length=64, pattern=NO_NUL)
    reason: str | None = Field(default=None, max_length=1000)


class CarrierEvent(BaseModel):
    tracking_number: str = Field(min_length=1, max_length=64, pattern=NO_NUL)
    event: Literal["in_transit", "out_for_delivery", "delivered", "exception"]


class CancelRequest(BaseModel):
    """Cancel these lines (None: everything still cancelable)."""

    lines: RequestedLines | None = None
    reason: str = Field(min_length=1, max_length=500)
    actor: str


class CancelResult(BaseModel):
    order_id: str
    status: str
    canceled: list[SkuQuantity]
    # units a location said it was too late to take back (picked or shipped): not canceled, and why
    refused: list[SkuQuantity] = []
    refusal: str | None = None


class OrderOutcome(BaseModel):
    order_id: str
    status: str
    events: int


RETURN_UPDATE = "request_return"
APPEASEMENT_UPDATE = "grant_appeasement"
RETURN_SIGNAL = "return_event"
STOCK_RECEIVED_SIGNAL = "stock_received"
REVIEW_UPDATE = "review"
# an account approver's (or an agent's) verdict on a B2B order above its account's approval threshold
APPROVAL_UPDATE = "approval"
ADDRESS_UPDATE = "change_address"
RESHIP_UPDATE = "reship"


class ReturnRequest(BaseModel):
    """Return delivered units: by mail with a generated label, or dropped off at a store."""

    lines: RequestedLines
    reason: str = Field(min_length=1, max_length=500)
    method: Literal["mail", "in_store"] = "mail"
    location_id: LocationId | None = None
    actor: str


class ReturnResult(BaseModel):
    return_id: str
    rma: str
    label: str | None
    location_id: str
    refund_estimate: Decimal


class ReturnedUnits(BaseModel):
    sku: PartnerSku
    quantity: Quantity
    condition: Literal["resellable", "damaged"]


def _one_line_per_sku_and_condition(lines: list[ReturnedUnits]) -> list[ReturnedUnits]:
    seen: set[tuple[str, str]] = set()
    for line in lines:
        if (line.sku, line.condition) in seen:
            raise ValueError(
                f"each sku may appear on one line only per condition; {line.sku} ({line.condition}) is named twice: "
                "add up the quantities"
            )
        seen.add((line.sku, line.condition))
    return lines


class ReturnEvent(BaseModel):
    return_id: str = Field(min_length=1, max_length=80, pattern=NO_NUL)
    event: Literal["received"]
    # each sku once per condition: a location may report one sku's units part resellable, part damaged
    lines: Annotated[list[ReturnedUnits], AfterValidator(_one_line_per_sku_and_condition)] = Field(
        min_length=1, max_length=MAX_LINES
    )


class AppeasementRequest(BaseModel):
    amount: Decimal = Field(gt=0, le=MAX_AMOUNT)
    reason: str = Field(min_length=1, max_length=500)
    actor: str


class AppeasementResult(BaseModel):
    order_id: str
    refunded: Decimal
    refundable_left: Decimal


class StockReceived(BaseModel):
    """Stock arrived somewhere: a backordered order tries to allocate again."""

    location_id: str
    sku: str
    quantity: int


class ReviewDecision(BaseModel):
    """An agent's verdict on an order held for fraud review."""

    approve: bool
    reason: str = Field(min_length=1, max_length=500)
    actor: str


class ApprovalDecision(BaseModel):
    """An account approver's (or an agent's) verdict on an order waiting for its account's approval."""

    approve: bool
    reason: str = Field(min_length=1, max_length=500)
    actor: str


class AddressChange(BaseModel):
    address: Address
    reason: str = Field(min_length=1, max_length=500)
    actor: str


class ReshipRequest(BaseModel):
    """Send lost or damaged units again, at no charge."""

    lines: RequestedLines
    reason: str = Field(min_length=1, max_length=500)
    actor: str


class ActionResult(BaseModel):
    order_id: str
    status: str
    fulfillment_order_ids: list[str] = []


EXCHANGE_UPDATE = "exchange"


class ReplacementLine(BaseModel):
    """A unit sent in exchange. A sku on the order keeps its price; a new one (another size) names its own: the
    catalog's, or one an agent set, with `price_reason`."""

    sku: Sku
    quantity: Quantity
    unit_price: Decimal | None = Field(default=None, ge=0, le=MAX_AMOUNT)
    price_reason: str | None = Field(default=None, max_length=500)


class ExchangeRequest(BaseModel):
    """Return delivered units and send replacements now; the return's value pays for them."""

    returned: RequestedLines
    replacement: Annotated[list[ReplacementLine], AfterValidator(one_line_per_sku)] = Field(
        min_length=1, max_length=MAX_LINES
    )
    reason: str = Field(min_length=1, max_length=500)
    method: Literal["mail", "in_store"] = "mail"
    location_id: LocationId | None = None
    actor: str


class ExchangeResult(BaseModel):
    exchange_id: str
    return_id: str
    rma: str
    label: str | None
    location_id: str
    # positive: charged as the replacement ships; negative: refunded once the return is received
    difference: Decimal
    fulfillment_order_ids: list[str]


class RetryRequest(BaseModel):
    """Run again the steps that failed for good and put the order in attention."""

    reason: str = Field(min_length=1, max_length=500)
    actor: str


class RetryResult(BaseModel):
    order_id: str
    status: str
    retried: list[str]  # the steps run again
    attention: str | None  # what still needs a person, if a step failed again


ResumeState.model_rebuild()
OrderInput.model_rebuild()
