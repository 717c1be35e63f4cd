"""Events of fulfillment: fulfillment orders released to locations, shipped, delivered or picked up, the money
captured as they leave, and units canceled before they do."""

from datetime import date, datetime
from decimal import Decimal
from typing import Literal

from domain.events_base import Event
from domain.models import SkuQuantity


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


class PartnerAskedAgain(Event):
    """A partner was silent past its deadline: the order asked it again (a lost webhook arrives this way)."""

    type: Literal["PartnerAskedAgain"] = "PartnerAskedAgain"
    fulfillment_order_id: str
    partner: str
    waiting_for: str
