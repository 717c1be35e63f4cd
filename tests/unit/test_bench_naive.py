"""The naive reference records what the order workflow records on its happy path, and the aggregate accepts it."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from activities.contracts import AllocatedFulfillmentOrder, AllocateResult, PaymentResult, ProjectionBatch
from domain import events as ev
from domain.models import PlaceOrder, SkuQuantity
from domain.order import Order
from starter.bench.workloads import bench_order, bench_skus
from workflows.messages import CarrierEvent, WarehouseEvent
from workflows.reference import (
    allocated_events,
    delivered_events,
    placed_events,
    settled_events,
    shipped_events,
)

NOW = datetime(2025, 1, 6, 10, 0, tzinfo=UTC)


def _record(order: Order, events: list[ev.OrderEvent], log: list[ev.RecordedEvent]) -> None:
    for event in events:
        order.apply(event)
        log.append(ev.RecordedEvent(seq=order.version, event=event))


def test_a_naive_order_goes_from_checkout_to_completed_through_the_aggregate() -> None:
    # given a three-line bench order
    skus = bench_skus("r1", 3)
    placed = PlaceOrder.model_validate(bench_order("Nr1-0", skus))
    order, log = Order(order_id=placed.order_id), list[ev.RecordedEvent]()
    # when checkout, shipment, delivery and completion record their events as the naive workflow does
    _record(order, placed_events(placed, NOW), log)
    auth = ev.PaymentAuthorized(at=NOW, actor="gateway", authorization_id="auth_1", amount=placed.total)
    _record(order, [auth], log)
    lines = [SkuQuantity(sku=sku, quantity=1) for sku in skus]
    fo = AllocatedFulfillmentOrder(fulfillment_order_id="Nr1-0-F1", location_id="DC-TOKYO", lines=lines)
    _record(order, allocated_events(AllocateResult(fulfillment_orders=[fo]), NOW), log)
    assert order.status not in ("pending", "canceled")
    shipment = WarehouseEvent(fulfillment_order_id="Nr1-0-F1", event="shipped", tracking_number="T1", carrier="b")
    _record(order, shipped_events(order, shipment, NOW + timedelta(seconds=1)), log)
    amount, auth_id = order.charge_for(order.fulfillment_order("Nr1-0-F1"))
    capture = PaymentResult(transaction_id="cap_1", amount=amount)
    assert auth_id == "auth_1"
    _record(order, settled_events("Nr1-0-F1", auth_id, amount, capture, NOW), log)
    _record(order, delivered_events(order, CarrierEvent(tracking_number="T1", event="delivered"), NOW), log)
    _record(order, [ev.OrderCompleted(at=NOW)], log)
    # then the order is completed, fully captured and invoiced, and every batch is one the projection takes
    assert order.status == "completed"
    assert amount == Decimal("3000")
    assert [e.event.type for e in log] == [
        "OrderPlaced",
        "FraudScreened",
        "PaymentAuthorized",
        "InventoryReserved",
        "FulfillmentOrderCreated",
        "ShipmentShipped",
        "PaymentCaptured",
        "InvoiceIssued",
        "ShipmentDelivered",
        "OrderCompleted",
    ]
    ProjectionBatch(workflow_id="bench-BenchNaive-r1-0", order=order, events=log)


def test_a_delivery_for_another_parcel_delivers_nothing() -> None:
    # given a shipped naive order
    placed = PlaceOrder.model_validate(bench_order("Nr1-1", bench_skus("r1", 1)))
    order = Order(order_id=placed.order_id)
    for event in placed_events(placed, NOW):
        order.apply(event)
    order.apply(ev.PaymentAuthorized(at=NOW, authorization_id="auth_1", amount=placed.total))
    fo = AllocatedFulfillmentOrder(
        fulfillment_order_id="Nr1-1-F1", location_id="DC-TOKYO", lines=[SkuQuantity(sku="BENCH-r1-00", quantity=1)]
    )
    for event in allocated_events(AllocateResult(fulfillment_orders=[fo]), NOW):
        order.apply(event)
    shipment = WarehouseEvent(fulfillment_order_id="Nr1-1-F1", event="shipped", tracking_number="T1")
    for event in shipped_events(order, shipment, NOW):
        order.apply(event)
    # when the carrier reports another tracking number, then no delivery is recorded
    assert delivered_events(order, CarrierEvent(tracking_number="T2", event="delivered"), NOW) == []
