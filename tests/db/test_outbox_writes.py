"""The projection writes each new event to the outbox in the transaction that writes it to the timeline: a batch
that fails leaves no outbox row, a retried one adds none twice, and the tolerant path sends what it recorded."""

from typing import Any

import pytest
from sqlalchemy import Engine, select, text

from store import order_projection
from store.order_projection import OrderProjection
from store.outbox_tables import outbox
from store.tables import order_events
from tests.db.test_projection_errors import accepted, new_order_id, shipped

pytestmark = pytest.mark.db


def outbox_rows(engine: Engine, order_id: str) -> list[tuple[Any, ...]]:
    with engine.connect() as conn:
        rows = conn.execute(
            select(outbox.c.event_id, outbox.c.sequence, outbox.c.type, outbox.c.data)
            .where(outbox.c.order_id == order_id)
            .order_by(outbox.c.event_id)
        ).all()
    return [tuple(r) for r in rows]


def timeline(engine: Engine, order_id: str) -> list[tuple[int, str]]:
    with engine.connect() as conn:
        rows = conn.execute(
            select(order_events.c.seq, order_events.c.type)
            .where(order_events.c.order_id == order_id)
            .order_by(order_events.c.seq)
        ).all()
    return [(r.seq, r.type) for r in rows]


def test_each_event_reaches_the_outbox_once_in_order_and_without_the_card_token(engine: Engine) -> None:
    # given an accepted order's first batch, projected twice (a retried activity), then its shipment
    order_id = new_order_id()
    order, placed = accepted(order_id)
    projection = OrderProjection(engine)
    projection.project(placed)
    projection.project(placed)
    projection.project(shipped(order, "YMT-" + order_id))
    # when its outbox is read
    rows = outbox_rows(engine, order_id)
    # then it holds every event once, as the timeline has them, the event ids rising with the sequence
    assert [(seq, kind) for _, seq, kind, _ in rows] == timeline(engine, order_id)
    assert [kind for _, _, kind, _ in rows] == [
        "OrderPlaced",
        "PaymentAuthorized",
        "InventoryReserved",
        "FulfillmentOrderCreated",
        "ShipmentShipped",
    ]
    assert [event_id for event_id, *_ in rows] == sorted(event_id for event_id, *_ in rows)
    # and the placing event carries the payment method, never the card token
    placed_data = rows[0][3]
    assert placed_data["order"]["payment"]["method"] == "card"
    assert "token" not in placed_data["order"]["payment"]


def test_a_batch_that_fails_after_its_events_leaves_no_outbox_row(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    # given a batch whose payments statement fails after its events were written (not a data error: raised)
    order_id = new_order_id()
    _, placed = accepted(order_id)
    monkeypatch.setattr(order_projection, "INSERT_PAYMENTS", text("SELECT * FROM no_such_table"))
    # when it is projected, the step fails
    with pytest.raises(Exception, match="no_such_table"):
        OrderProjection(engine).project(placed)
    # then neither the timeline nor the outbox has any of its events
    assert timeline(engine, order_id) == []
    assert outbox_rows(engine, order_id) == []
    # and once the step is retried and succeeds, each event is in the outbox once
    monkeypatch.undo()
    OrderProjection(engine).project(placed)
    assert [seq for _, seq, _, _ in outbox_rows(engine, order_id)] == [1, 2, 3, 4]


def test_the_tolerant_path_sends_what_it_recorded_once(engine: Engine) -> None:
    # given an order whose placing event the timeline cannot hold (an actor name too long for its column)
    order_id = new_order_id()
    order, placed = accepted(order_id, actor="customer:" + "C" * 200)
    projection = OrderProjection(engine)
    # when it is projected (the strict attempt fails and is rolled back, the tolerant one skips that event), twice
    assert projection.project(placed) is not None
    projection.project(placed)
    # then the outbox holds the events the timeline holds, once each, and not the one it could not hold
    assert [(seq, kind) for _, seq, kind, _ in outbox_rows(engine, order_id)] == timeline(engine, order_id)
    assert [kind for _, _, kind, _ in outbox_rows(engine, order_id)] == [
        "PaymentAuthorized",
        "InventoryReserved",
        "FulfillmentOrderCreated",
    ]
    # and a later clean batch adds only its own event
    projection.project(shipped(order, "YMT-" + order_id))
    assert [kind for _, _, kind, _ in outbox_rows(engine, order_id)][-1] == "ShipmentShipped"
    assert len(outbox_rows(engine, order_id)) == 4
