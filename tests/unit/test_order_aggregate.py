"""The Order aggregate: state from events, invariants refused before they can break."""

from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal
from typing import get_args

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from domain import events as ev
from domain.errors import InvariantViolation
from domain.models import SkuQuantity
from domain.order import HANDLERS, Order
from tests.orders import checkout_body, place_order

NOW = datetime(2026, 11, 1, tzinfo=UTC)
LEGO = [SkuQuantity(sku="LEGO-76419", quantity=1)]


def accepted_order() -> Order:
    return Order.from_events(
        "W-1",
        [
            ev.OrderPlaced(at=NOW, order=place_order("W-1")),
            ev.PaymentAuthorized(at=NOW, authorization_id="auth_1", amount=Decimal(24980)),
            ev.InventoryReserved(at=NOW, location_id="DC-TOKYO", lines=LEGO),
            ev.FulfillmentOrderCreated(at=NOW, fulfillment_order_id="W-1-F1", location_id="DC-TOKYO", lines=LEGO),
        ],
    )


def test_an_accepted_order_is_authorized_and_allocated() -> None:
    order = accepted_order()
    assert order.status == "accepted"
    assert order.payment.authorized == Decimal(24980)
    assert order.line("LEGO-76419").allocated == 1
    assert order.line("LEGO-76419").unallocated == 0
    assert order.version == 4


def test_shipping_then_delivering_moves_quantities_and_status() -> None:
    # given an accepted order
    order = accepted_order()
    # when it ships, is captured and delivered
    order.apply(ev.ShipmentShipped(at=NOW, fulfillment_order_id="W-1-F1", carrier="yamato", tracking_number="Y1"))
    assert str(order.status) == "shipped"
    order.apply(
        ev.PaymentCaptured(at=NOW, transaction_id="cap_1", fulfillment_order_id="W-1-F1", amount=Decimal(24980))
    )
    order.apply(ev.ShipmentDelivered(at=NOW, fulfillment_order_id="W-1-F1", tracking_number="Y1"))
    # then every quantity followed and the money is captured
    line = order.line("LEGO-76419")
    assert (line.shipped, line.delivered) == (1, 1)
    assert order.status == "delivered"
    assert order.payment.captured == Decimal(24980)


def test_capturing_more_than_authorized_is_refused_and_changes_nothing() -> None:
    order = accepted_order()
    before = order.model_copy(deep=True)
    with pytest.raises(InvariantViolation, match="exceed authorized"):
        order.apply(
            ev.PaymentCaptured(at=NOW, transaction_id="cap_1", fulfillment_order_id="W-1-F1", amount=Decimal(30000))
        )
    assert order == before


def test_allocating_more_than_ordered_is_refused() -> None:
    order = accepted_order()
    with pytest.raises(InvariantViolation, match="exceed ordered"):
        order.apply(ev.InventoryReserved(at=NOW, location_id="DC-OSAKA", lines=LEGO))


def test_delivering_before_shipping_is_refused() -> None:
    order = accepted_order()
    with pytest.raises(InvariantViolation, match="cannot be delivered"):
        order.apply(ev.ShipmentDelivered(at=NOW, fulfillment_order_id="W-1-F1", tracking_number="Y1"))


def test_shipping_twice_is_refused() -> None:
    order = accepted_order()
    order.apply(ev.ShipmentShipped(at=NOW, fulfillment_order_id="W-1-F1", carrier="yamato", tracking_number="Y1"))
    with pytest.raises(InvariantViolation, match="cannot ship again"):
        order.apply(ev.ShipmentShipped(at=NOW, fulfillment_order_id="W-1-F1", carrier="yamato", tracking_number="Y1"))


def test_events_round_trip_through_json_for_the_history_and_read_model() -> None:
    event = ev.PaymentAuthorized(at=NOW, authorization_id="auth_1", amount=Decimal("12.50"))
    assert ev.EVENT_ADAPTER.validate_json(ev.EVENT_ADAPTER.dump_json(event)) == event
    assert "12.50" in ev.describe(event)


def test_checkout_refuses_duplicate_skus_pickup_without_store_and_too_precise_prices() -> None:
    line = {"sku": "A", "quantity": 1, "unit_price": "100"}
    with pytest.raises(ValidationError, match="one line only"):
        place_order(lines=[line, line])
    with pytest.raises(ValidationError, match="pickup_location_id"):
        place_order(delivery_method="pickup")
    with pytest.raises(ValidationError, match="more decimals than JPY"):
        place_order(lines=[{"sku": "A", "quantity": 1, "unit_price": "100.5"}])
    with pytest.raises(ValidationError):
        place_order(lines=[{"sku": "A", "quantity": 0, "unit_price": "100"}])
    assert place_order(currency="USD", lines=[{"sku": "A", "quantity": 3, "unit_price": "1.10"}]).total == Decimal(
        "3.30"
    )
    assert checkout_body()["order_id"].startswith("T-")


@given(
    st.lists(
        st.tuples(st.sampled_from(["capture", "void", "ship", "deliver"]), st.integers(min_value=1, max_value=30000)),
        max_size=12,
    )
)
def test_no_sequence_of_events_breaks_the_money_or_quantity_invariants(steps: list[tuple[str, int]]) -> None:
    # given an accepted order, when any sequence of events is offered, refused ones change nothing
    order = accepted_order()
    for n, (kind, amount) in enumerate(steps):
        event: ev.OrderEvent
        match kind:
            case "capture":
                event = ev.PaymentCaptured(
                    at=NOW, transaction_id=f"c{n}", fulfillment_order_id="W-1-F1", amount=Decimal(amount)
                )
            case "void":
                event = ev.AuthorizationVoided(at=NOW, authorization_id="auth_1", amount=Decimal(amount))
            case "ship":
                event = ev.ShipmentShipped(at=NOW, fulfillment_order_id="W-1-F1", carrier="y", tracking_number="Y")
            case _:
                event = ev.ShipmentDelivered(at=NOW, fulfillment_order_id="W-1-F1", tracking_number="Y")
        before = order.model_copy(deep=True)
        try:
            order.apply(event)
        except InvariantViolation:
            assert order == before
    # then the invariants hold
    p = order.payment
    assert p.captured + p.voided <= p.authorized
    assert p.refunded <= p.captured
    for line in order.lines:
        assert line.ordered == line.canceled + line.allocated + line.unallocated
        assert line.returned <= line.delivered <= line.shipped <= line.allocated


def delivered_with_return() -> Order:
    """An order delivered and captured, with one return of its set asked for."""
    order = accepted_order()
    events: list[ev.OrderEvent] = [
        ev.ShipmentShipped(at=NOW, fulfillment_order_id="W-1-F1", carrier="yamato", tracking_number="Y1"),
        ev.PaymentCaptured(at=NOW, transaction_id="cap_1", fulfillment_order_id="W-1-F1", amount=Decimal(24980)),
        ev.ShipmentDelivered(at=NOW, fulfillment_order_id="W-1-F1", tracking_number="Y1"),
        ev.ReturnRequested(
            at=NOW,
            return_id="W-1-R1",
            rma="RMA-W-1-1",
            lines=LEGO,
            reason="too small",
            method="mail",
            location_id="DC-TOKYO",
            label=None,
            refund_amount=Decimal(24980),
        ),
    ]
    for event in events:
        order.apply(event)
    return order


def test_a_return_is_refunded_once_and_only_after_it_arrived() -> None:
    # given a return asked for but not yet received
    order = delivered_with_return()
    part = ev.RefundPart(fulfillment_order_id="W-1-F1", transaction_id="cap_1", amount=Decimal(24980))
    refund = ev.RefundIssued(at=NOW, refund_id="RF-1", return_id="W-1-R1", amount=Decimal(24980), parts=[part])
    # when it is refunded before it arrives, then that is refused and changes nothing
    before = order.model_copy(deep=True)
    with pytest.raises(InvariantViolation, match="only a received one is refunded"):
        order.apply(refund)
    assert order == before
    # when it arrives, it is refunded once; a second refund of the same return is refused
    order.apply(
        ev.ReturnReceived(
            at=NOW, return_id="W-1-R1", lines=[ev.ReturnedLine(sku="LEGO-76419", quantity=1, condition="damaged")]
        )
    )
    order.apply(refund)
    assert order.payment.refunded == Decimal(24980) and order.return_("W-1-R1").status == "refunded"
    with pytest.raises(InvariantViolation, match="only a received one is refunded"):
        order.apply(refund)


def test_a_negative_refund_is_refused_rather_than_taking_money_back() -> None:
    # given a captured order
    order = delivered_with_return()
    before = order.model_copy(deep=True)
    # when a goodwill "refund" of a negative amount is offered, then it is refused and changes nothing
    part = ev.RefundPart(fulfillment_order_id="W-1-F1", transaction_id="cap_1", amount=Decimal(-100))
    with pytest.raises(InvariantViolation, match="gives money back"):
        order.apply(ev.AppeasementGranted(at=NOW, refund_id="AP", amount=Decimal(-100), reason="x", parts=[part]))
    assert order == before


def received_return() -> Order:
    """An order delivered and captured, its set returned and arrived, not yet refunded."""
    order = delivered_with_return()
    arrived = [ev.ReturnedLine(sku="LEGO-76419", quantity=1, condition="damaged")]
    order.apply(ev.ReturnReceived(at=NOW, return_id="W-1-R1", lines=arrived))
    return order


def part(amount: int) -> ev.RefundPart:
    return ev.RefundPart(fulfillment_order_id="W-1-F1", transaction_id="cap_1", amount=Decimal(amount))


@pytest.mark.parametrize(
    ("given", "event", "refusal"),
    [
        pytest.param(
            delivered_with_return,
            ev.PaymentCaptured(
                at=NOW, transaction_id="c", fulfillment_order_id="W-1-F1", amount=Decimal(1), authorization_id="auth_0"
            ),
            "has no authorization auth_0",
            id="capture-against-an-unknown-authorization",
        ),
        pytest.param(
            accepted_order,
            ev.ItemsCanceled(at=NOW, lines=[*LEGO, SkuQuantity(sku="NOPE", quantity=1)], reason="x"),
            "has no line for sku NOPE",
            id="cancel-naming-an-unknown-sku-last",
        ),
        pytest.param(
            delivered_with_return,
            ev.ReturnReceived(
                at=NOW,
                return_id="W-1-R1",
                lines=[
                    ev.ReturnedLine(sku="LEGO-76419", quantity=1, condition="damaged"),
                    ev.ReturnedLine(sku="NOPE", quantity=1, condition="damaged"),
                ],
            ),
            "did not announce 1 x NOPE",
            id="return-arriving-with-a-stray-unit",
        ),
        pytest.param(
            delivered_with_return,
            ev.AppeasementGranted(
                at=NOW, refund_id="AP", amount=Decimal(24981), reason="x", parts=[part(24980), part(1)]
            ),
            "refund of 1 exceeds 0 left on W-1-F1",
            id="refund-whose-last-part-overdraws",
        ),
        pytest.param(
            received_return,
            ev.RefundIssued(at=NOW, refund_id="RF", return_id="W-1-R1", amount=Decimal(24981), parts=[part(24981)]),
            "refund of 24981 exceeds 24980 left on W-1-F1",
            id="refund-of-a-return-beyond-its-capture",
        ),
    ],
)
def test_an_event_refused_after_writing_part_of_it_leaves_the_order_as_it_was(
    given: Callable[[], Order], event: ev.OrderEvent, refusal: str
) -> None:
    # given an order, and its parts as read before the event
    order = given()
    held, before = order.model_copy(), order.model_copy(deep=True)
    # when an event is refused only after it wrote part of what it touches
    with pytest.raises(InvariantViolation, match=refusal):
        order.apply(event)
    # then the order, and every part read of it before, is as it was
    assert order == before
    assert held == before


def test_an_event_copies_only_the_parts_it_writes() -> None:
    # given an accepted order, and its parts as read before an event
    order = accepted_order()
    lines, fos, payment, returns = order.lines, order.fulfillment_orders, order.payment, order.returns
    # when its fulfillment order ships
    order.apply(ev.ShipmentShipped(at=NOW, fulfillment_order_id="W-1-F1", carrier="yamato", tracking_number="Y1"))
    # then what the shipment did not touch is the very same, not a copy
    assert order.payment is payment and order.returns is returns
    # and what it touched changed on the order, while what was read before keeps what it had
    assert (order.line("LEGO-76419").shipped, lines[0].shipped) == (1, 0)
    assert (order.fulfillment_order("W-1-F1").status, fos[0].status) == ("shipped", "released")


def test_every_event_a_history_holds_has_its_handler() -> None:
    # given the events an order's history may hold
    events = set(get_args(get_args(ev.OrderEvent)[0]))
    # then the aggregate applies each, and knows no other
    assert set(HANDLERS) == events
