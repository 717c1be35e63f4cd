"""Domain events of an order. The Order aggregate changes only by applying one of these."""

from datetime import datetime
from decimal import Decimal
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

from domain.models import PlaceOrder, SkuQuantity


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


class PaymentDeclined(Event):
    type: Literal["PaymentDeclined"] = "PaymentDeclined"
    reason: str


class InventoryReserved(Event):
    type: Literal["InventoryReserved"] = "InventoryReserved"
    location_id: str
    lines: list[SkuQuantity]


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
    | OrderCompleted,
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
    raise AssertionError(f"no description for {event!r}")


class RecordedEvent(BaseModel):
    """An event with its position in the order's stream, as the read model stores it."""

    model_config = ConfigDict(frozen=True)
    seq: int
    event: OrderEvent
