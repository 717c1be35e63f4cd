"""How the events of fulfillment change an order: released to locations, taken back, shipped, captured,
delivered or picked up, and canceled before they leave."""

from typing import Literal

from domain import events as ev
from domain.errors import InvariantViolation
from domain.models import SkuQuantity
from domain.order_change import Change, HandlerTable
from domain.order_state import FulfillmentOrderState
from domain.order_status import status_after_cancel

_table = HandlerTable()
_on = _table.on
HANDLERS = _table.handlers


@_on(ev.FulfillmentOrderCreated)
def _released(change: Change, e: ev.FulfillmentOrderCreated) -> None:
    order = change.order
    if any(fo.id == e.fulfillment_order_id for fo in order.fulfillment_orders):
        raise InvariantViolation(f"fulfillment order {e.fulfillment_order_id} exists already")
    if e.exchange_id is not None:
        order.exchange(e.exchange_id)  # the replacement of an exchange on the order
    change.add_fulfillment_order(
        FulfillmentOrderState(
            id=e.fulfillment_order_id,
            location_id=e.location_id,
            lines=e.lines,
            promised_date=e.promised_date,
            reship=e.reship,
            exchange_id=e.exchange_id,
        )
    )
    change.follow_fulfillment()


@_on(ev.FulfillmentOrderRejected)
def _rejected(change: Change, e: ev.FulfillmentOrderRejected) -> None:
    _take_back(change, e.fulfillment_order_id, "rejected")


@_on(ev.FulfillmentOrderWithdrawn)
def _withdrawn(change: Change, e: ev.FulfillmentOrderWithdrawn) -> None:
    _take_back(change, e.fulfillment_order_id, "withdrawn")


def _take_back(change: Change, fo_id: str, status: Literal["rejected", "withdrawn"]) -> None:
    """A released fulfillment order comes back from its location: its units are unallocated again."""
    fo = change.fulfillment_order(fo_id)
    if fo.status != "released":
        raise InvariantViolation(f"{fo_id} is {fo.status}; only a released one can be {status}")
    fo.status = status
    for q in fo.lines if not fo.reship else []:  # a reship's units were never the order's allocation
        change.line(q.sku).allocated -= q.quantity
    change.follow_fulfillment()


@_on(ev.LinesBackordered)
def _backordered(change: Change, e: ev.LinesBackordered) -> None:
    change.order.backordered_until = e.until
    change.follow_fulfillment()


@_on(ev.ReadyForPickup)
def _ready_for_pickup(change: Change, e: ev.ReadyForPickup) -> None:
    fo = change.fulfillment_order(e.fulfillment_order_id)
    if fo.status != "released":
        raise InvariantViolation(f"{fo.id} is {fo.status}, it cannot become ready for pickup")
    fo.status = "ready_for_pickup"
    change.follow_fulfillment()


@_on(ev.PickedUp)
def _picked_up(change: Change, e: ev.PickedUp) -> None:
    """Collected at the store: shipped and delivered at once."""
    fo = change.fulfillment_order(e.fulfillment_order_id)
    if fo.status != "ready_for_pickup":
        raise InvariantViolation(f"{fo.id} is {fo.status}, it cannot be picked up")
    fo.status = "delivered"
    for q in fo.lines:
        line = change.line(q.sku)
        line.shipped += q.quantity
        line.delivered += q.quantity
    change.follow_fulfillment()


@_on(ev.ShipmentShipped)
def _shipped(change: Change, e: ev.ShipmentShipped) -> None:
    fo = change.fulfillment_order(e.fulfillment_order_id)
    if fo.status != "released":
        raise InvariantViolation(f"{fo.id} is {fo.status}, it cannot ship again")
    fo.status, fo.carrier, fo.tracking_number = "shipped", e.carrier, e.tracking_number
    for q in fo.lines if not fo.reship else []:  # a reship's units are not counted on the order's lines
        change.line(q.sku).shipped += q.quantity
    change.follow_fulfillment()


@_on(ev.PaymentCaptured)
def _captured(change: Change, e: ev.PaymentCaptured) -> None:
    fo = change.fulfillment_order(e.fulfillment_order_id)
    fo.captured += e.amount
    fo.capture_id = e.transaction_id
    change.authorization(e.authorization_id or change.order.payment.authorization_id).captured += e.amount
    if fo.exchange_id is not None:
        change.exchange(fo.exchange_id).charged += e.amount
    change.payment.captured += e.amount


@_on(ev.InvoiceIssued)
def _invoiced(change: Change, e: ev.InvoiceIssued) -> None:
    change.fulfillment_order(e.fulfillment_order_id).invoice_id = e.invoice_id


@_on(ev.ShipmentDelivered)
def _delivered(change: Change, e: ev.ShipmentDelivered) -> None:
    fo = change.fulfillment_order(e.fulfillment_order_id)
    if fo.status != "shipped":
        raise InvariantViolation(f"{fo.id} is {fo.status}, it cannot be delivered")
    fo.status = "delivered"
    for q in fo.lines if not fo.reship else []:
        change.line(q.sku).delivered += q.quantity
    change.follow_fulfillment()


@_on(ev.ItemsCanceled)
def _canceled(change: Change, e: ev.ItemsCanceled) -> None:
    for q in e.lines:
        line = change.line(q.sku)
        # unallocated (backordered) units go first: canceling them releases nothing
        from_unallocated = min(q.quantity, line.unallocated)
        line.canceled += q.quantity
        # the rest come off fulfillment orders that have not left their location
        from_allocated = min(q.quantity - from_unallocated, line.allocated - line.shipped)
        line.allocated -= from_allocated
        _take_off_open_fulfillment_orders(change, q.sku, from_allocated)
    change.order.status, change.order.backordered_until = status_after_cancel(change.order)


def _take_off_open_fulfillment_orders(change: Change, sku: str, units: int) -> None:
    """Units of the sku come off the open fulfillment orders in turn; an emptied one is canceled."""
    for fo in change.order.fulfillment_orders:
        if units == 0 or not fo.open or fo.reship:
            continue
        kept = []
        for held in fo.lines:
            taken = min(held.quantity, units) if held.sku == sku else 0
            units -= taken
            if held.quantity > taken:
                kept.append(SkuQuantity(sku=held.sku, quantity=held.quantity - taken))
        if kept == fo.lines and kept:
            continue  # it holds none of the sku
        written = change.fulfillment_order(fo.id)
        written.lines = kept
        if not kept:
            written.status = "canceled"


@_on(ev.OrderCompleted)
def _completed(change: Change, e: ev.OrderCompleted) -> None:
    change.order.status = "completed"


@_on(ev.PartnerAskedAgain)
def _partner_asked_again(change: Change, e: ev.PartnerAskedAgain) -> None:
    """The timeline shows it; the order itself is unchanged."""
