"""Domain events of an order. The Order aggregate changes only by applying one of these.

The events themselves are defined by phase (events_checkout, events_fulfillment, events_service); this module
is where they are imported from, with the union every history and read model holds."""

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

from domain.events_base import Event
from domain.events_checkout import (
    ApprovalDecided,
    ApprovalEscalated,
    ApprovalRequested,
    AuthorizationRenewed,
    AuthorizationVoided,
    FraudScreened,
    InventoryReserved,
    OrderHeld,
    OrderPlaced,
    OrderUnavailable,
    PaymentAuthorized,
    PaymentDeclined,
    ReviewDecided,
)
from domain.events_fulfillment import (
    FulfillmentOrderCreated,
    FulfillmentOrderRejected,
    FulfillmentOrderWithdrawn,
    InvoiceIssued,
    ItemsCanceled,
    LinesBackordered,
    OrderCompleted,
    PartnerAskedAgain,
    PaymentCaptured,
    PickedUp,
    ReadyForPickup,
    ShipmentDelivered,
    ShipmentShipped,
)
from domain.events_service import (
    AddressChanged,
    AppeasementGranted,
    AttentionCleared,
    AttentionNeeded,
    ExchangeLine,
    ExchangeRequested,
    RefundFailed,
    RefundIssued,
    RefundPart,
    ReturnedLine,
    ReturnReceived,
    ReturnRequested,
    StepFailed,
)

__all__ = [
    "EVENT_ADAPTER",
    "AddressChanged",
    "AppeasementGranted",
    "ApprovalDecided",
    "ApprovalEscalated",
    "ApprovalRequested",
    "AttentionCleared",
    "AttentionNeeded",
    "AuthorizationRenewed",
    "AuthorizationVoided",
    "Event",
    "ExchangeLine",
    "ExchangeRequested",
    "FraudScreened",
    "FulfillmentOrderCreated",
    "FulfillmentOrderRejected",
    "FulfillmentOrderWithdrawn",
    "InventoryReserved",
    "InvoiceIssued",
    "ItemsCanceled",
    "LinesBackordered",
    "OrderCompleted",
    "OrderEvent",
    "OrderHeld",
    "OrderPlaced",
    "OrderUnavailable",
    "PartnerAskedAgain",
    "PaymentAuthorized",
    "PaymentCaptured",
    "PaymentDeclined",
    "PickedUp",
    "ReadyForPickup",
    "RecordedEvent",
    "RefundFailed",
    "RefundIssued",
    "RefundPart",
    "ReturnReceived",
    "ReturnRequested",
    "ReturnedLine",
    "ReviewDecided",
    "ShipmentDelivered",
    "ShipmentShipped",
    "StepFailed",
    "describe",
]

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
    | PartnerAskedAgain
    | ApprovalRequested
    | ApprovalEscalated
    | ApprovalDecided,
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
        case ApprovalRequested(account_id=a, threshold=t, until=u):
            return f"Above account {a}'s approval threshold of {t}: waiting for its approver until {u:%Y-%m-%d %H:%M}"
        case ApprovalEscalated(account_id=a, until=u):
            return f"No approver of account {a} decided in time: escalated to agents until {u:%Y-%m-%d %H:%M}"
        case ApprovalDecided(approved=ok, reason=r, actor=who):
            return f"{'Approved' if ok else 'Rejected'} by {who} for the account: {r}"
    raise AssertionError(f"no description for {event!r}")


class RecordedEvent(BaseModel):
    """An event with its position in the order's stream, as the read model stores it."""

    model_config = ConfigDict(frozen=True)
    seq: int
    event: OrderEvent
