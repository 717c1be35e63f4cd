"""The order's status as its fulfillment has it: given an order's lines and fulfillment orders, then this status."""

from datetime import UTC, datetime

import pytest

from domain.models import SkuQuantity
from domain.order import FulfillmentOrderState, LineState, Order, OrderStatus
from domain.order_status import ShippingStatus, shipping_status, status_after_cancel

UNTIL = datetime(2026, 11, 8, tzinfo=UTC)


def line(*, ordered: int = 2, allocated: int = 2, canceled: int = 0, shipped: int = 0, delivered: int = 0) -> LineState:
    return LineState(
        sku="A",
        unit_price=100,
        ordered=ordered,
        allocated=allocated,
        canceled=canceled,
        shipped=shipped,
        delivered=delivered,
    )


def order(
    *fulfillment: str,
    status: OrderStatus = "accepted",
    held: bool = False,
    lines: list[LineState] | None = None,
    until: datetime | None = None,
) -> Order:
    """An order whose fulfillment orders have these statuses, one unit of the sku each."""
    fos = [
        FulfillmentOrderState.model_validate(
            {"id": f"F{n}", "location_id": "DC", "lines": [SkuQuantity(sku="A", quantity=1)], "status": s}
        )
        for n, s in enumerate(fulfillment, start=1)
    ]
    return Order(
        order_id="S-1",
        status=status,
        held=held,
        lines=lines if lines is not None else [line()],
        fulfillment_orders=fos,
        backordered_until=until,
    )


WAITING = [line(allocated=1)]  # one unit allocated to no fulfillment order
ALL_CANCELED = [line(allocated=0, canceled=2)]

SHIPPING_STATUS = [
    # settled by their own event, whatever the fulfillment does
    pytest.param(order("shipped", status="completed"), ShippingStatus("completed", None), id="completed"),
    pytest.param(
        order(status="payment_declined", lines=WAITING, until=UNTIL),
        ShippingStatus("payment_declined", UNTIL),
        id="payment-declined",
    ),
    pytest.param(order("released", status="unavailable"), ShippingStatus("unavailable", None), id="unavailable"),
    # a fraud review holds whatever is left of the order, its backorder too
    pytest.param(order("released", held=True, lines=WAITING, until=UNTIL), ShippingStatus("on_hold", UNTIL), id="held"),
    pytest.param(
        order("canceled", held=True, lines=ALL_CANCELED), ShippingStatus("canceled", None), id="held-nothing-left"
    ),
    # nothing held anywhere and nothing waiting
    pytest.param(order("rejected", lines=ALL_CANCELED), ShippingStatus("canceled", None), id="nothing-left"),
    # units waiting for stock, or to be routed again
    pytest.param(order("released", lines=WAITING, until=UNTIL), ShippingStatus("backordered", UNTIL), id="backordered"),
    pytest.param(
        order("shipped", lines=[line(allocated=1, shipped=1)], until=UNTIL),
        ShippingStatus("partially_shipped", UNTIL),
        id="backordered-after-a-shipment",
    ),
    pytest.param(order("rejected", lines=[line(allocated=0)]), ShippingStatus("accepted", None), id="rerouting"),
    pytest.param(
        order("delivered", lines=[line(allocated=1, shipped=1, delivered=1)]),
        ShippingStatus("partially_shipped", None),
        id="rerouting-after-a-delivery",
    ),
    # everything allocated: the fulfillment orders say
    pytest.param(order("delivered", "delivered"), ShippingStatus("delivered", None), id="all-delivered"),
    pytest.param(order("ready_for_pickup"), ShippingStatus("ready_for_pickup", None), id="ready"),
    pytest.param(
        order("ready_for_pickup", "delivered"), ShippingStatus("ready_for_pickup", None), id="ready-and-picked-up"
    ),
    pytest.param(order("released"), ShippingStatus("accepted", None), id="released"),
    pytest.param(order("released", "ready_for_pickup"), ShippingStatus("accepted", None), id="released-and-ready"),
    pytest.param(order("released", "shipped"), ShippingStatus("partially_shipped", None), id="released-and-shipped"),
    pytest.param(
        order("ready_for_pickup", "shipped"), ShippingStatus("partially_shipped", None), id="ready-and-shipped"
    ),
    pytest.param(order("shipped"), ShippingStatus("shipped", None), id="shipped"),
    pytest.param(order("shipped", "delivered"), ShippingStatus("shipped", None), id="shipped-and-delivered"),
    pytest.param(
        order("released", "rejected", "canceled", "withdrawn"),
        ShippingStatus("accepted", None),
        id="closed-ones-do-not-count",
    ),
    pytest.param(order("released", until=UNTIL), ShippingStatus("accepted", None), id="backorder-ends-when-filled"),
]


@pytest.mark.parametrize(("given", "then"), SHIPPING_STATUS)
def test_the_status_follows_the_fulfillment(given: Order, then: ShippingStatus) -> None:
    # given an order as the row has it
    # when its status is derived
    derived = shipping_status(given)
    # then it is the row's
    assert derived == then


AFTER_CANCEL = [
    pytest.param(
        order("canceled", lines=ALL_CANCELED, until=UNTIL), ShippingStatus("canceled", UNTIL), id="everything"
    ),
    pytest.param(
        order("released", lines=[line(allocated=1, canceled=1)]),
        ShippingStatus("accepted", None),
        id="part-of-a-routed-order",
    ),
    pytest.param(
        order("shipped", lines=[line(allocated=1, canceled=1, shipped=1)]),
        ShippingStatus("shipped", None),
        id="what-had-not-shipped",
    ),
    pytest.param(
        order(status="pending", lines=[line(allocated=0, canceled=1)], until=UNTIL),
        ShippingStatus("pending", UNTIL),
        id="part-of-an-order-not-routed-yet",
    ),
]


@pytest.mark.parametrize(("given", "then"), AFTER_CANCEL)
def test_a_cancel_cancels_the_order_only_when_nothing_is_left(given: Order, then: ShippingStatus) -> None:
    # given an order whose units were canceled as the row has it
    # when its status after the cancel is derived
    derived = status_after_cancel(given)
    # then it is the row's
    assert derived == then


def test_deriving_a_status_changes_nothing_on_the_order() -> None:
    # given a backordered order whose units were all allocated meanwhile
    given = order("released", until=UNTIL)
    before = given.model_copy(deep=True)
    # when its status is derived
    shipping_status(given)
    # then the order is as it was: only applying an event changes it
    assert given == before
    assert given.backordered_until == UNTIL
