"""An order's status: set by the events that settle it, otherwise derived from its lines and fulfillment orders."""

from datetime import datetime
from typing import TYPE_CHECKING, Literal, NamedTuple, get_args

from domain.order_state import CLOSED_FULFILLMENT, FulfillmentStatus

if TYPE_CHECKING:
    from domain.order import Order

OrderStatus = Literal[
    "pending",
    "on_hold",
    "accepted",
    "backordered",
    "ready_for_pickup",
    "partially_shipped",
    "shipped",
    "delivered",
    "completed",
    "payment_declined",
    "unavailable",
    "canceled",
]
# Every status in the order of the lifecycle (for lists and charts that read as orders move).
STATUSES: tuple[str, ...] = get_args(OrderStatus)
FINAL_STATUSES: frozenset[str] = frozenset({"completed", "payment_declined", "unavailable", "canceled"})
# settled by their own event: nothing its fulfillment does afterwards changes them
_SETTLED: frozenset[str] = frozenset({"completed", "payment_declined", "unavailable"})


class ShippingStatus(NamedTuple):
    """The status an order's fulfillment gives it, and until when it waits for stock (None: it does not)."""

    status: OrderStatus
    backordered_until: datetime | None


def shipping_status(order: "Order") -> ShippingStatus:
    """What the order is as its fulfillment orders and lines stand: a held order stays on hold while anything
    of it is left, and a backorder's date is kept only while units still wait for stock."""
    if order.status in _SETTLED:
        return ShippingStatus(order.status, order.backordered_until)
    if order.held and any(line.canceled < line.ordered for line in order.lines):
        return ShippingStatus("on_hold", order.backordered_until)
    waiting = any(line.unallocated > 0 for line in order.lines)
    until = order.backordered_until if waiting else None
    states = {fo.status for fo in order.fulfillment_orders} - CLOSED_FULFILLMENT
    return ShippingStatus(_fulfillment_status(states, waiting, until), until)


def status_after_cancel(order: "Order") -> ShippingStatus:
    """Every unit canceled cancels the order; after a partial cancel a routed order goes by its fulfillment, and
    one not routed yet stays as it was."""
    if all(line.canceled == line.ordered for line in order.lines):
        return ShippingStatus("canceled", order.backordered_until)
    if order.fulfillment_orders:
        return shipping_status(order)
    return ShippingStatus(order.status, order.backordered_until)


def _fulfillment_status(states: set[FulfillmentStatus], waiting: bool, until: datetime | None) -> OrderStatus:
    """`states`: of the fulfillment orders still holding units; `waiting`: units not allocated to any."""
    moved = bool(states & {"shipped", "delivered"})
    if not states and not waiting:
        return "canceled"
    if waiting and until is not None:
        return "partially_shipped" if moved else "backordered"
    if waiting:
        return "partially_shipped" if moved else "accepted"  # being rerouted
    if states == {"delivered"}:
        return "delivered"
    if states <= {"ready_for_pickup", "delivered"} and "ready_for_pickup" in states:
        return "ready_for_pickup"
    if states == {"released"} or states == {"released", "ready_for_pickup"}:
        return "accepted"
    if states & {"released", "ready_for_pickup"}:
        return "partially_shipped"
    return "shipped"
