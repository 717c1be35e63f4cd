"""Domain events of an order. The Order aggregate changes only by applying one of these."""

from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

from domain.models import Address, PlaceOrder, SkuQuantity


class Event(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    at: datetime
    actor: str = "system"


class OrderPlaced(Event):
    type: Literal["OrderPlaced"] = "OrderPlaced"
    order: PlaceOrder


class FraudScreened(Event):
    type: Literal["FraudScreened"] = "FraudScreened"
    score: int
    reasons: list[str] = []


class PaymentAuthorized(Event):
    type: Literal["PaymentAuthorized"] = "PaymentAuthorized"
    authorization_id: str
    amount: Decimal
    expires_at: datetime | None = None  # the gateway's word; an order renews it before capturing after it


class AuthorizationRenewed(Event):
    """What an expiring authorization still held moved to a fresh one, before anything was captured on it."""

    type: Literal["AuthorizationRenewed"] = "AuthorizationRenewed"
    expiring_id: str
    authorization_id: str
    amount: Decimal
    expires_at: datetime | None = None


class PaymentDeclined(Event):
    type: Literal["PaymentDeclined"] = "PaymentDeclined"
    reason: str


class InventoryReserved(Event):
    type: Literal["InventoryReserved"] = "InventoryReserved"
    location_id: str
    lines: list[SkuQuantity]
    reship: bool = False  # extra units sent at no charge: not the order's own allocation


class OrderUnavailable(Event):
    type: Literal["OrderUnavailable"] = "OrderUnavailable"
    reason: str
    skus: list[str]


class AuthorizationVoided(Event):
    type: Literal["AuthorizationVoided"] = "AuthorizationVoided"
    authorization_id: str
    amount: Decimal


class FulfillmentOrderCreated(Event):
    type: Literal["FulfillmentOrderCreated"] = "FulfillmentOrderCreated"
    fulfillment_order_id: str
    location_id: str
    lines: list[SkuQuantity]
    promised_date: date | None = None
    reship: bool = False
    reason: str | None = None  # why it was sent, for a reship
    exchange_id: str | None = None  # the replacement of an exchange


class FulfillmentOrderRejected(Event):
    """The location refused the fulfillment order; its units are unallocated again and get rerouted."""

    type: Literal["FulfillmentOrderRejected"] = "FulfillmentOrderRejected"
    fulfillment_order_id: str
    reason: str


class FulfillmentOrderWithdrawn(Event):
    """Taken back from its location before it shipped (the address changed); its units are routed again."""

    type: Literal["FulfillmentOrderWithdrawn"] = "FulfillmentOrderWithdrawn"
    fulfillment_order_id: str
    reason: str


class OrderHeld(Event):
    """The fraud screen asks for a person: reserved but not handed to any location until reviewed."""

    type: Literal["OrderHeld"] = "OrderHeld"
    score: int
    until: datetime


class ReviewDecided(Event):
    type: Literal["ReviewDecided"] = "ReviewDecided"
    approved: bool
    reason: str


class AddressChanged(Event):
    type: Literal["AddressChanged"] = "AddressChanged"
    address: Address
    reason: str


class LinesBackordered(Event):
    """Nothing can fill these units now; the order waits for stock until `until`, then cancels them."""

    type: Literal["LinesBackordered"] = "LinesBackordered"
    lines: list[SkuQuantity]
    until: datetime


class ReadyForPickup(Event):
    type: Literal["ReadyForPickup"] = "ReadyForPickup"
    fulfillment_order_id: str
    collect_by: datetime


class PickedUp(Event):
    """The customer collected a pickup order at the store: shipped and delivered at once."""

    type: Literal["PickedUp"] = "PickedUp"
    fulfillment_order_id: str


class ShipmentShipped(Event):
    type: Literal["ShipmentShipped"] = "ShipmentShipped"
    fulfillment_order_id: str
    carrier: str
    tracking_number: str


class PaymentCaptured(Event):
    type: Literal["PaymentCaptured"] = "PaymentCaptured"
    transaction_id: str
    fulfillment_order_id: str
    amount: Decimal
    authorization_id: str | None = None  # None: the checkout's authorization


class InvoiceIssued(Event):
    type: Literal["InvoiceIssued"] = "InvoiceIssued"
    invoice_id: str
    fulfillment_order_id: str
    amount: Decimal


class ShipmentDelivered(Event):
    type: Literal["ShipmentDelivered"] = "ShipmentDelivered"
    fulfillment_order_id: str
    tracking_number: str


class ItemsCanceled(Event):
    type: Literal["ItemsCanceled"] = "ItemsCanceled"
    lines: list[SkuQuantity]
    reason: str


class OrderCompleted(Event):
    type: Literal["OrderCompleted"] = "OrderCompleted"


class ReturnRequested(Event):
    type: Literal["ReturnRequested"] = "ReturnRequested"
    return_id: str
    rma: str
    lines: list[SkuQuantity]
    reason: str
    method: Literal["mail", "in_store"]
    location_id: str
    label: str | None
    refund_amount: Decimal


class ReturnedLine(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    sku: str
    quantity: int = Field(gt=0)
    condition: Literal["resellable", "damaged"]


class ReturnReceived(Event):
    type: Literal["ReturnReceived"] = "ReturnReceived"
    return_id: str
    lines: list[ReturnedLine]


class RefundPart(BaseModel):
    """One refund against one capture: money goes back the way it came."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    fulfillment_order_id: str
    transaction_id: str
    amount: Decimal


class RefundIssued(Event):
    type: Literal["RefundIssued"] = "RefundIssued"
    refund_id: str
    return_id: str | None
    amount: Decimal
    parts: list[RefundPart]


class ExchangeLine(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    sku: str
    quantity: int = Field(gt=0)
    unit_price: Decimal = Field(ge=0)
    # why an agent set this price rather than the order's or the catalog's; absent from older events
    price_reason: str | None = None


class ExchangeRequested(Event):
    """Returned units are swapped for replacement ones. The returned units' value pays for the replacement
    (`credit`); `difference` is what the replacement costs beyond it (charged on shipment against
    `authorization_id`) or, when negative, what the return refunds once received."""

    type: Literal["ExchangeRequested"] = "ExchangeRequested"
    exchange_id: str
    return_id: str
    lines: list[ExchangeLine]
    credit: Decimal
    difference: Decimal
    authorization_id: str | None
    reason: str


class RefundFailed(Event):
    """The gateway refused a return's refund for good: the units are back, the money needs an agent."""

    type: Literal["RefundFailed"] = "RefundFailed"
    return_id: str
    amount: Decimal
    reason: str


class StepFailed(Event):
    """A service step failed for good and was given up; the timeline says what an operator must see to."""

    type: Literal["StepFailed"] = "StepFailed"
    step: str
    reason: str


class AttentionNeeded(Event):
    """The order cannot go on by itself: a step failed for good or a partner stayed silent past its deadline."""

    type: Literal["AttentionNeeded"] = "AttentionNeeded"
    step: str
    reason: str


class AttentionCleared(Event):
    type: Literal["AttentionCleared"] = "AttentionCleared"
    reason: str


class PartnerAskedAgain(Event):
    """A partner was silent past its deadline: the order asked it again (a lost webhook arrives this way)."""

    type: Literal["PartnerAskedAgain"] = "PartnerAskedAgain"
    fulfillment_order_id: str
    partner: str
    waiting_for: str


class AppeasementGranted(Event):
    type: Literal["AppeasementGranted"] = "AppeasementGranted"
    refund_id: str
    amount: Decimal
    reason: str
    parts: list[RefundPart]


OrderEvent = Annotated[
    OrderPlaced
    | FraudScreened
    | PaymentAuthorized
    | PaymentDeclined
    | InventoryReserved
    | OrderUnavailable
    | AuthorizationVoided
    | FulfillmentOrderCreated
    | ShipmentShipped
    | PaymentCaptured
    | InvoiceIssued
    | ShipmentDelivered
    | ItemsCanceled
    | OrderCompleted
    | FulfillmentOrderRejected
    | LinesBackordered
    | ReadyForPickup
    | PickedUp
    | ReturnRequested
    | ReturnReceived
    | RefundIssued
    | AppeasementGranted
    | FulfillmentOrderWithdrawn
    | OrderHeld
    | ReviewDecided
    | AddressChanged
    | ExchangeRequested
    | RefundFailed
    | StepFailed
    | AuthorizationRenewed
    | AttentionNeeded
    | AttentionCleared
    | PartnerAskedAgain,
    Field(discriminator="type"),
]

EVENT_ADAPTER: TypeAdapter[OrderEvent] = TypeAdapter(OrderEvent)


def describe(event: OrderEvent) -> str:
    """One line a person reads in the timeline."""
    match event:
        case OrderPlaced(order=o):
            return f"Order placed on {o.channel}: {len(o.lines)} line(s), {o.currency} {o.total}"
        case FraudScreened(score=s, reasons=r):
            return f"Fraud screen scored {s}" + (f" ({', '.join(r)})" if r else "")
        case PaymentAuthorized(amount=a, authorization_id=i):
            return f"Payment of {a} authorized ({i})"
        case PaymentDeclined(reason=r):
            return f"Payment declined: {r}"
        case InventoryReserved(location_id=loc, lines=lines):
            return f"Reserved {sum(ln.quantity for ln in lines)} unit(s) at {loc}"
        case OrderUnavailable(reason=r):
            return f"Unavailable: {r}"
        case AuthorizationVoided(amount=a):
            return f"Authorization of {a} voided"
        case FulfillmentOrderCreated(fulfillment_order_id=f, location_id=loc, reship=True, reason=r, actor=who):
            return f"Reship {f} released to {loc} at no charge by {who}: {r}"
        case FulfillmentOrderCreated(fulfillment_order_id=f, location_id=loc):
            return f"Fulfillment order {f} released to {loc}"
        case ShipmentShipped(fulfillment_order_id=f, carrier=c, tracking_number=t):
            return f"{f} shipped with {c}, tracking {t}"
        case PaymentCaptured(amount=a, fulfillment_order_id=f):
            return f"Captured {a} for {f}"
        case InvoiceIssued(invoice_id=i, amount=a):
            return f"Invoice {i} issued for {a}"
        case ShipmentDelivered(fulfillment_order_id=f):
            return f"{f} delivered"
        case ItemsCanceled(lines=lines, reason=r, actor=a):
            what = ", ".join(f"{q.quantity} x {q.sku}" for q in lines)
            return f"Canceled {what} by {a}: {r}"
        case OrderCompleted():
            return "Service window closed; order completed"
        case FulfillmentOrderRejected(fulfillment_order_id=f, reason=r):
            return f"{f} rejected by its location: {r}"
        case LinesBackordered(lines=lines, until=u):
            what = ", ".join(f"{q.quantity} x {q.sku}" for q in lines)
            return f"Backordered {what} until {u:%Y-%m-%d %H:%M}"
        case ReadyForPickup(fulfillment_order_id=f, collect_by=c):
            return f"{f} ready for pickup until {c:%Y-%m-%d}"
        case PickedUp(fulfillment_order_id=f):
            return f"{f} picked up by the customer"
        case ReturnRequested(rma=rma, lines=lines, method=m, refund_amount=a, actor=who):
            what = ", ".join(f"{q.quantity} x {q.sku}" for q in lines)
            return f"Return {rma} of {what} by {m}, requested by {who}; refund due {a}"
        case ReturnReceived(return_id=r, lines=lines):
            what = ", ".join(f"{q.quantity} x {q.sku} {q.condition}" for q in lines)
            return f"Return {r} received: {what}"
        case RefundIssued(amount=a, return_id=r):
            return f"Refunded {a}" + (f" for return {r}" if r else "")
        case AppeasementGranted(amount=a, reason=r, actor=who):
            return f"Goodwill refund of {a} by {who}: {r}"
        case FulfillmentOrderWithdrawn(fulfillment_order_id=f, reason=r):
            return f"{f} withdrawn from its location: {r}"
        case OrderHeld(score=score, until=u):
            return f"Held for fraud review (score {score}) until {u:%Y-%m-%d %H:%M}"
        case ReviewDecided(approved=ok, reason=r, actor=who):
            return f"{'Approved' if ok else 'Rejected'} after review by {who}: {r}"
        case AddressChanged(address=a, reason=r, actor=who):
            return f"Ship-to changed to {a.line1}, {a.city} by {who}: {r}"
        case ExchangeRequested(exchange_id=x, return_id=r, lines=lines, difference=d, reason=why, actor=who):
            what = ", ".join(
                f"{q.quantity} x {q.sku}"
                + (f" at {q.unit_price} (price set: {q.price_reason})" if q.price_reason else "")
                for q in lines
            )
            money = f"charge {d} on shipment" if d > 0 else (f"refund {-d} on receipt" if d < 0 else "even")
            return f"Exchange {x} by {who}: return {r} for {what} ({money}): {why}"
        case RefundFailed(return_id=r, amount=a, reason=why):
            return f"Refund of {a} for return {r} failed: {why}; an agent must settle it"
        case StepFailed(step=step, reason=why):
            return f"{step} failed for good: {why}; an operator must see to it"
        case AuthorizationRenewed(expiring_id=old, authorization_id=new, amount=a):
            return f"Authorization {old} was expiring: {a} authorized again as {new}"
        case AttentionNeeded(step=step, reason=why):
            return f"Needs attention: {step}: {why}"
        case AttentionCleared(reason=why, actor=who):
            return f"Attention cleared by {who}: {why}"
        case PartnerAskedAgain(fulfillment_order_id=f, partner=p, waiting_for=w):
            return f"No {w} news of {f} from {p} by its deadline: asked again"
    raise AssertionError(f"no description for {event!r}")


class RecordedEvent(BaseModel):
    """An event with its position in the order's stream, as the read model stores it."""

    model_config = ConfigDict(frozen=True)
    seq: int
    event: OrderEvent
