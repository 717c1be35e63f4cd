"""The read model: projections are idempotent, never go backwards, and answer the screens' questions."""

import uuid
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from sqlalchemy import Engine

from domain import events as ev
from domain.models import SkuQuantity
from domain.order import Order
from store.read_model import OrderProjection, OrderQueries, ProjectionBatch
from tests.orders import place_order

pytestmark = pytest.mark.db
NOW = datetime(2026, 11, 1, tzinfo=UTC)


def record(order: Order, events: list[ev.OrderEvent]) -> list[ev.RecordedEvent]:
    recorded = []
    for event in events:
        order.apply(event)
        recorded.append(ev.RecordedEvent(seq=order.version, event=event))
    return recorded


def test_an_order_is_projected_once_and_read_back_with_lines_payments_and_timeline(engine: Engine) -> None:
    # given an accepted order's first batch of events, projected twice (a retried activity)
    order_id = f"RM-{uuid.uuid4().hex[:8]}"
    order = Order(order_id=order_id)
    lines = [SkuQuantity(sku="LEGO-76419", quantity=1)]
    first = record(
        order,
        [
            ev.OrderPlaced(
                at=NOW,
                actor="customer:C-7",
                order=place_order(order_id, customer={"id": "C-7", "email": "a@b.co", "name": "Aiko Sato"}),
            ),
            ev.PaymentAuthorized(at=NOW, authorization_id=f"auth_{order_id}", amount=Decimal(24980)),
            ev.InventoryReserved(at=NOW, location_id="DC-TOKYO", lines=lines),
            ev.FulfillmentOrderCreated(
                at=NOW, fulfillment_order_id=f"{order_id}-F1", location_id="DC-TOKYO", lines=lines
            ),
        ],
    )
    projection, queries = OrderProjection(engine), OrderQueries(engine)
    batch = ProjectionBatch(workflow_id=f"order-{order_id}", order=order.model_copy(deep=True), events=first)
    projection.project(batch)
    projection.project(batch)

    # when it ships and that batch is projected, then the first batch is retried late
    shipped = record(
        order,
        [
            ev.ShipmentShipped(
                at=NOW, fulfillment_order_id=f"{order_id}-F1", carrier="yamato", tracking_number=f"T{order_id}"
            )
        ],
    )
    projection.project(ProjectionBatch(workflow_id=f"order-{order_id}", order=order, events=shipped))
    projection.project(batch)

    # then the summary shows the newest state, each event once, and the authorization
    summary = queries.get(order_id)
    assert summary is not None
    assert summary.status == "shipped"
    assert [t.seq for t in summary.timeline] == [1, 2, 3, 4, 5]
    assert summary.timeline[0].actor == "customer:C-7"
    assert summary.lines[0].shipped == 1 and summary.lines[0].allocated == 1
    assert str(summary.payment.authorized) == "24980"
    assert [p.kind for p in summary.payments] == ["authorize"]
    assert summary.shipments[0].tracking_number == f"T{order_id}"
    # and a carrier's tracking number resolves to the order
    assert queries.fulfillment_order_of_tracking(f"T{order_id}") == (order_id, f"{order_id}-F1")
    # and agents find it by customer, status and channel
    assert [o.order_id for o in queries.search(customer_id="C-7", status="shipped", channel="web")] == [order_id]
    assert queries.search(customer_id="C-7", status="delivered") == []


def test_an_unknown_order_reads_as_none(engine: Engine) -> None:
    assert OrderQueries(engine).get("nope") is None
