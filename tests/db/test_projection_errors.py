"""The read model never blocks an order: shared tracking numbers are projected, and a row the database cannot hold
is skipped and flagged on the order instead of failing the projection on every retry."""

import uuid
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy.exc import OperationalError

from activities.contracts import ProjectionBatch
from domain import events as ev
from domain.ids import workflow_id_for
from domain.models import SkuQuantity
from domain.order import Order
from store.db import make_engine
from store.order_projection import OrderProjection
from store.order_queries import OrderQueries
from store.read_model import OrderSummary
from store.tables import order_events
from tests.orders import place_order

pytestmark = pytest.mark.db
NOW = datetime(2026, 11, 1, tzinfo=UTC)
LEGO = [SkuQuantity(sku="LEGO-76419", quantity=1)]


def new_order_id() -> str:
    return f"PE-{uuid.uuid4().hex[:8]}"


def batch_of(order: Order, events: list[ev.OrderEvent]) -> ProjectionBatch:
    recorded = []
    for event in events:
        order.apply(event)
        recorded.append(ev.RecordedEvent(seq=order.version, event=event))
    return ProjectionBatch(
        workflow_id=workflow_id_for(order.order_id), order=order.model_copy(deep=True), events=recorded
    )


def accepted(order_id: str, *, actor: str = "customer:C-1") -> tuple[Order, ProjectionBatch]:
    order = Order(order_id=order_id)
    return order, batch_of(
        order,
        [
            ev.OrderPlaced(at=NOW, actor=actor, order=place_order(order_id)),
            ev.PaymentAuthorized(at=NOW, authorization_id=f"auth_{order_id}", amount=Decimal(24980)),
            ev.InventoryReserved(at=NOW, location_id="DC-TOKYO", lines=LEGO),
            ev.FulfillmentOrderCreated(
                at=NOW,
                fulfillment_order_id=f"{order_id}-F1",
                location_id="DC-TOKYO",
                lines=LEGO,
                promised_date=date(2026, 11, 4),
            ),
        ],
    )


def shipped(order: Order, tracking_number: str) -> ProjectionBatch:
    return batch_of(
        order,
        [
            ev.ShipmentShipped(
                at=NOW, fulfillment_order_id=f"{order.order_id}-F1", carrier="yamato", tracking_number=tracking_number
            )
        ],
    )


def read(engine: Engine, order_id: str) -> OrderSummary:
    summary = OrderQueries(engine).get(order_id)
    assert summary is not None
    return summary


def test_two_orders_in_one_parcel_are_both_projected_and_found_by_its_tracking_number(engine: Engine) -> None:
    # given two orders whose fulfillment orders the warehouse packed into one parcel
    projection, parcel = OrderProjection(engine), f"YMT-{uuid.uuid4().hex[:12]}"
    first, second = new_order_id(), new_order_id()
    for order_id in (first, second):
        order, placed = accepted(order_id)
        projection.project(placed)
        # when each is projected as shipped with the parcel's tracking number
        assert projection.project(shipped(order, parcel)) is None
    # then both read back shipped with that tracking number, unflagged
    for order_id in (first, second):
        summary = read(engine, order_id)
        assert [s.tracking_number for s in summary.shipments] == [parcel]
        assert summary.projection_error is None
    # and the parcel's tracking number finds both fulfillment orders
    found = OrderQueries(engine).fulfillment_orders_of_tracking(parcel)
    assert sorted(found) == sorted([(first, f"{first}-F1"), (second, f"{second}-F1")])


def test_a_tracking_number_the_column_cannot_hold_is_skipped_and_the_order_flagged(engine: Engine) -> None:
    # given an accepted order, projected
    order_id = new_order_id()
    order, placed = accepted(order_id)
    projection = OrderProjection(engine)
    projection.project(placed)
    # when it ships with a tracking number longer than the column holds (it got past an older API)
    reason = projection.project(shipped(order, "T" * 80))
    # then the projection does not fail: what fits is written (the status and the timeline) ...
    assert reason is not None and "fulfillment_orders" in reason
    summary = read(engine, order_id)
    assert summary.status == "shipped"
    assert [t.type for t in summary.timeline][-1] == "ShipmentShipped"
    # ... the fulfillment order keeps what it had, and the order says why its read model is incomplete, and since when
    assert summary.fulfillment_orders[0].tracking_number is None
    assert summary.projection_error is not None
    assert "fulfillment_orders" in summary.projection_error.reason
    assert summary.projection_error.at is not None


def test_an_event_the_timeline_cannot_hold_is_skipped_and_the_rest_is_written(engine: Engine) -> None:
    # given an order placed by an actor name longer than the timeline's column
    order_id = new_order_id()
    _, placed = accepted(order_id, actor="customer:" + "C" * 200)
    # when it is projected
    reason = OrderProjection(engine).project(placed)
    # then the order, its lines and fulfillment order are written, and every event but the one that cannot be
    assert reason is not None and "order_events" in reason
    summary = read(engine, order_id)
    assert summary.status == "accepted"
    assert [fo.id for fo in summary.fulfillment_orders] == [f"{order_id}-F1"]
    assert [t.type for t in summary.timeline] == ["PaymentAuthorized", "InventoryReserved", "FulfillmentOrderCreated"]
    assert summary.projection_error is not None and "order_events" in summary.projection_error.reason


def test_an_order_whose_own_row_cannot_be_written_does_not_fail_the_projection(engine: Engine) -> None:
    # given an order whose total is more than the money column holds (placed before the API bounded it)
    order_id = new_order_id()
    body = place_order(order_id, lines=[{"sku": "JET-1", "quantity": 1, "unit_price": "1"}])
    huge = body.model_copy(update={"lines": [body.lines[0].model_copy(update={"unit_price": Decimal(10**15)})]})
    order = Order(order_id=order_id)
    batch = batch_of(order, [ev.OrderPlaced.model_construct(at=NOW, actor="customer:C-1", order=huge)])
    # when it is projected, then nothing can be written, but the projection says why rather than raising
    reason = OrderProjection(engine).project(batch)
    assert reason is not None and "orders" in reason
    assert OrderQueries(engine).get(order_id) is None
    with engine.connect() as conn:
        assert (
            conn.execute(
                select(func.count()).select_from(order_events).where(order_events.c.order_id == order_id)
            ).scalar()
            == 0
        )


def test_a_flag_stays_after_later_batches_project_cleanly(engine: Engine) -> None:
    # given an order flagged once: its placing event could not go on the timeline
    order_id = new_order_id()
    order, placed = accepted(order_id, actor="customer:" + "C" * 200)
    projection = OrderProjection(engine)
    projection.project(placed)
    # when the next batch projects cleanly
    assert projection.project(shipped(order, "YMT-1" + order_id)) is None
    # then it is written, and the order still tells an agent that its timeline misses an event
    summary = read(engine, order_id)
    assert summary.status == "shipped"
    assert [s.tracking_number for s in summary.shipments] == ["YMT-1" + order_id]
    assert summary.projection_error is not None and "order_events" in summary.projection_error.reason


def test_a_lost_connection_still_raises_so_the_step_is_retried() -> None:
    # given a database that cannot be reached (nothing listens on port 1)
    unreachable = make_engine("postgresql://oms@127.0.0.1:1/oms")
    _, placed = accepted(new_order_id())
    # when a batch is projected, then the failure is raised for the activity to retry, not flagged and dropped
    with pytest.raises(OperationalError):
        OrderProjection(unreachable).project(placed)
    unreachable.dispose()
