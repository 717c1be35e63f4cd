"""Projection writes on real PostgreSQL: a stale or repeated batch changes nothing, a first batch needs its
OrderPlaced, and each fulfillment order's promise and status reach the order's row."""

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from sqlalchemy import Engine, select

from activities.contracts import ProjectionBatch
from domain import events as ev
from domain.ids import workflow_id_for
from domain.models import SkuQuantity
from store.order_projection import OrderProjection
from store.order_queries import OrderQueries
from store.tables import fulfillment_orders, orders, returns
from tests.db.test_read_model import (
    batch_of,
    clock,
    new_order_id,
    placed_two_location_order,
    read,
    record,
    shipped_captured_and_delivered,
)

pytestmark = pytest.mark.db


def test_promised_dates_follow_the_fulfillment_orders_and_a_rejected_one_shows_as_rejected(engine: Engine) -> None:
    # given an order released to DC-1 (promised Nov 4) and ST-2 (promised Nov 5)
    order_id, at = new_order_id(), clock()
    order, placed = placed_two_location_order(order_id, at)
    projection = OrderProjection(engine)
    projection.project(placed)
    first = read(engine, order_id)

    # when ST-2 rejects its fulfillment order, and B is backordered until Nov 20
    until = datetime(2026, 11, 20, 9, tzinfo=UTC)
    projection.project(
        batch_of(
            order,
            [
                ev.FulfillmentOrderRejected(
                    at=next(at), actor="partner", fulfillment_order_id=f"{order_id}-F2", reason="damaged stock"
                ),
                ev.LinesBackordered(at=next(at), lines=[SkuQuantity(sku="B-2", quantity=1)], until=until),
            ],
        )
    )
    waiting = read(engine, order_id)

    # and then stock turns up at DC-3, which promises Nov 8
    b = SkuQuantity(sku="B-2", quantity=1)
    projection.project(
        batch_of(
            order,
            [
                ev.InventoryReserved(at=next(at), location_id="DC-3", lines=[b]),
                ev.FulfillmentOrderCreated(
                    at=next(at),
                    fulfillment_order_id=f"{order_id}-F3",
                    location_id="DC-3",
                    lines=[b],
                    promised_date=date(2026, 11, 8),
                ),
            ],
        )
    )
    rerouted = read(engine, order_id)

    # then the order first promised the later of its two dates, with each fulfillment order's own date
    assert first.promised_date == date(2026, 11, 5)
    assert [(fo.id, fo.promised_date, fo.status) for fo in first.fulfillment_orders] == [
        (f"{order_id}-F1", date(2026, 11, 4), "released"),
        (f"{order_id}-F2", date(2026, 11, 5), "released"),
    ]
    assert first.backordered_until is None
    # and while B waits, the rejected fulfillment order shows as rejected and no longer counts as a promise
    assert waiting.status == "backordered"
    assert waiting.backordered_until == until
    assert [(fo.id, fo.status) for fo in waiting.fulfillment_orders] == [
        (f"{order_id}-F1", "released"),
        (f"{order_id}-F2", "rejected"),
    ]
    assert waiting.promised_date == date(2026, 11, 4)
    assert [ln.allocated for ln in waiting.lines] == [2, 0]
    assert "rejected by its location: damaged stock" in waiting.timeline[-2].summary
    # and once rerouted, the new promise is the order's and the backorder is over
    assert rerouted.status == "accepted"
    assert rerouted.promised_date == date(2026, 11, 8)
    assert rerouted.backordered_until is None
    assert [fo.status for fo in rerouted.fulfillment_orders] == ["released", "rejected", "released"]


def test_a_stale_batch_changes_nothing_at_all(engine: Engine) -> None:
    # given an order projected up to delivery, then a return requested
    order_id, at = new_order_id(), clock()
    order, placed = placed_two_location_order(order_id, at)
    projection = OrderProjection(engine)
    projection.project(placed)
    delivered = shipped_captured_and_delivered(order, at)
    return_requested = batch_of(
        order,
        [
            ev.ReturnRequested(
                at=next(at),
                return_id=f"{order_id}-R1",
                rma=f"RMA-{order_id}-R1",
                lines=[SkuQuantity(sku="B-2", quantity=1)],
                reason="changed my mind",
                method="in_store",
                location_id="ST-2",
                label=None,
                refund_amount=Decimal("5.50"),
            )
        ],
    )
    projection.project(delivered)
    projection.project(return_requested)
    before = read(engine, order_id)
    rows_before = _row_times(engine, order_id)

    # when the first batch (an older order: released, nothing shipped or captured) is retried late
    projection.project(placed)
    # and so is the delivery batch
    projection.project(delivered)

    # then the summary, every row and its update time are as they were
    assert read(engine, order_id) == before
    assert _row_times(engine, order_id) == rows_before
    assert before.status == "delivered" and [r.status for r in before.returns] == ["requested"]
    assert [fo.status for fo in before.fulfillment_orders] == ["delivered", "delivered"]


def test_repeating_a_batch_writes_each_row_once_and_rewrites_nothing_unchanged(engine: Engine) -> None:
    # given an order whose whole history, returns and refunds included, arrives as one batch
    order_id, at = new_order_id(), clock()
    order, placed = placed_two_location_order(order_id, at)
    delivered = shipped_captured_and_delivered(order, at)
    returned_and_refunded = record(
        order,
        [
            ev.ReturnRequested(
                at=next(at),
                return_id=f"{order_id}-R1",
                rma=f"RMA-{order_id}-R1",
                lines=[SkuQuantity(sku="A-1", quantity=2)],
                reason="wrong colour",
                method="mail",
                location_id="DC-1",
                label="https://labels.example/x.pdf",
                refund_amount=Decimal("39.98"),
            ),
            ev.ReturnReceived(
                at=next(at),
                return_id=f"{order_id}-R1",
                lines=[ev.ReturnedLine(sku="A-1", quantity=2, condition="damaged")],
            ),
        ],
    )
    returned_and_refunded += record(
        order,
        [
            ev.RefundIssued(
                at=next(at),
                refund_id=f"{order_id}-RF1",
                return_id=f"{order_id}-R1",
                amount=Decimal("39.98"),
                parts=order.refund_parts(Decimal("39.98"), prefer_skus={"A-1"}),
            )
        ],
    )
    everything = ProjectionBatch(
        workflow_id=workflow_id_for(order_id),
        order=order,
        events=placed.events + delivered.events + returned_and_refunded,
    )
    projection = OrderProjection(engine)

    # when the projection activity runs it, and is retried with the same batch
    projection.project(everything)
    once = read(engine, order_id)
    fo_times = _row_times(engine, order_id)["fulfillment_orders"]
    projection.project(everything)

    # then each event, payment, invoice and return is there once
    twice = read(engine, order_id)
    assert [t.seq for t in twice.timeline] == list(range(1, order.version + 1))
    assert [p.kind for p in twice.payments] == ["authorize", "capture", "capture", "refund"]
    assert len(twice.invoices) == 2 and len(twice.returns) == 1
    assert twice.returns[0].status == "refunded"
    assert [(r.sku, r.condition) for r in twice.returns[0].received] == [("A-1", "damaged")]
    assert str(twice.payment.refunded) == "39.98"
    # and the repeat changed nothing but the order row's update time
    assert twice.model_dump(exclude={"updated_at"}) == once.model_dump(exclude={"updated_at"})
    assert _row_times(engine, order_id)["fulfillment_orders"] == fo_times


def test_a_first_batch_without_its_order_placed_event_is_refused(engine: Engine) -> None:
    # given an order's events after the first batch, never projected before
    order_id, at = new_order_id(), clock()
    order, _ = placed_two_location_order(order_id, at)
    later = shipped_captured_and_delivered(order, at)
    # when it is projected, then it is refused with the reason, and nothing is written
    with pytest.raises(ValueError, match="without its OrderPlaced event"):
        OrderProjection(engine).project(later)
    assert OrderQueries(engine).get(order_id) is None


def _row_times(engine: Engine, order_id: str) -> dict[str, list[object]]:
    with engine.connect() as conn:
        return {
            "orders": list(
                conn.execute(select(orders.c.version, orders.c.updated_at).where(orders.c.order_id == order_id))
            ),
            "fulfillment_orders": list(
                conn.execute(
                    select(fulfillment_orders.c.id, fulfillment_orders.c.updated_at)
                    .where(fulfillment_orders.c.order_id == order_id)
                    .order_by(fulfillment_orders.c.id)
                )
            ),
            "returns": list(
                conn.execute(
                    select(returns.c.return_id, returns.c.updated_at)
                    .where(returns.c.order_id == order_id)
                    .order_by(returns.c.return_id)
                )
            ),
        }
