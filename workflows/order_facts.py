"""What the order's parts ask of the aggregate, as pure functions of it."""

from collections import Counter

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from activities import contracts as act
    from domain.models import Address
    from domain.order import CLOSED_FULFILLMENT, FulfillmentOrderState, Order

Holdings = dict[str, tuple[str, Counter[str]]]


def holdings(order: Order) -> Holdings:
    """What each open fulfillment order still holds, by sku."""
    return {
        fo.id: (fo.location_id, Counter({q.sku: q.quantity for q in fo.lines}))
        for fo in order.fulfillment_orders
        if fo.open
    }


def awaiting_capture(order: Order) -> list[FulfillmentOrderState]:
    return [fo for fo in order.fulfillment_orders if fo.status in ("shipped", "delivered") and fo.invoice_id is None]


def nothing_left_to_capture(order: Order) -> bool:
    """No unit left to ship or route, and every shipment captured: what is still authorized can go."""
    return (
        not any(fo.open for fo in order.fulfillment_orders)
        and not order.unallocated_lines()
        and not awaiting_capture(order)
    )


def fulfilled(order: Order) -> bool:
    """Every unit delivered, picked up or canceled, and every shipment captured."""
    return (
        all(fo.status == "delivered" or fo.status in CLOSED_FULFILLMENT for fo in order.fulfillment_orders)
        and not order.unallocated_lines()
        and not awaiting_capture(order)
    )


def service_settled(order: Order) -> bool:
    """No return waiting for its refund and no reship or replacement still on its way."""
    return (
        all(r.status in ("refunded", "refund_failed") for r in order.returns)
        and not any(fo.open or fo.status == "shipped" for fo in order.fulfillment_orders)
        and not order.unallocated_lines()
    )


def open_fulfillment_orders(order: Order) -> list[act.AllocatedFulfillmentOrder]:
    """What the order's locations hold for it now, as routing and hand-off take it."""
    return [
        act.AllocatedFulfillmentOrder(fulfillment_order_id=fo.id, location_id=fo.location_id, lines=fo.lines)
        for fo in order.fulfillment_orders
        if fo.open
    ]


def destination(order: Order) -> Address:
    """Where the order goes now: an agent may have changed the checkout's address."""
    address = order.delivery_address
    assert address is not None, "a placed order has its checkout's address"
    return address


def hand_off_request(order: Order, fulfillment_orders: list[act.AllocatedFulfillmentOrder]) -> act.HandOffRequest:
    """Give these fulfillment orders to their locations, to ship where the order goes now."""
    assert order.placed is not None, "only a placed order is handed to locations"
    return act.HandOffRequest(
        order_id=order.order_id,
        ship_to=destination(order).model_dump(mode="json"),
        delivery_method=order.placed.delivery_method,
        fulfillment_orders=fulfillment_orders,
        requested_delivery_date=order.placed.requested_delivery_date,
    )
