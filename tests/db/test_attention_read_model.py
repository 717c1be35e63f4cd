"""An order that needs a person shows it in the read model, until it is cleared, and agents can list those orders."""

import uuid
from collections.abc import Iterator
from datetime import datetime

import pytest
from sqlalchemy import Engine

from activities.contracts import ProjectionBatch
from domain import events as ev
from domain.order import Order
from store.order_projection import OrderProjection
from store.order_queries import OrderQueries
from store.read_model import OrderAttention
from tests.db.test_read_model import batch_of, clock, new_order_id, placed_two_location_order, read
from tests.orders import place_order

pytestmark = pytest.mark.db

SILENT_WAREHOUSE = "warehouse: no shipped news of {oid}-F1 from DC-1 after asking again"


def needs_attention(order: Order, at: Iterator[datetime]) -> ProjectionBatch:
    return batch_of(
        order,
        [
            ev.AttentionNeeded(
                at=next(at),
                step="warehouse",
                reason=f"no shipped news of {order.order_id}-F1 from DC-1 after asking again",
            )
        ],
    )


def cleared(order: Order, at: Iterator[datetime]) -> ProjectionBatch:
    return batch_of(order, [ev.AttentionCleared(at=next(at), actor="operator", reason="the parcel was found")])


def test_an_order_needing_a_person_shows_why_and_since_when_until_it_is_cleared(engine: Engine) -> None:
    # given an order released to its locations, projected
    order_id, at = new_order_id(), clock()
    order, placed = placed_two_location_order(order_id, at)
    projection = OrderProjection(engine)
    projection.project(placed)
    assert read(engine, order_id).attention is None

    # when the warehouse stays silent past its deadline and the order asks for a person
    flagged = needs_attention(order, at)
    projection.project(flagged)

    # then the summary says why and since when
    since = flagged.events[0].event.at
    assert read(engine, order_id).attention == OrderAttention(reason=SILENT_WAREHOUSE.format(oid=order_id), since=since)

    # when an operator clears it
    projection.project(cleared(order, at))

    # then the summary no longer asks for anyone, and the timeline keeps both steps
    after = read(engine, order_id)
    assert after.attention is None
    assert [t.type for t in after.timeline][-2:] == ["AttentionNeeded", "AttentionCleared"]


def test_a_late_retry_of_the_batch_that_asked_for_a_person_does_not_bring_the_attention_back(engine: Engine) -> None:
    # given an order that needed a person and was cleared since
    order_id, at = new_order_id(), clock()
    order, placed = placed_two_location_order(order_id, at)
    projection = OrderProjection(engine)
    projection.project(placed)
    flagged = needs_attention(order, at)
    projection.project(flagged)
    projection.project(cleared(order, at))

    # when the batch that flagged it is projected again (a retried activity, late)
    projection.project(flagged)

    # then the order still needs nobody, and no search for attention finds it
    assert read(engine, order_id).attention is None
    customer_id = order.placed.customer.id if order.placed else ""
    assert OrderQueries(engine).search(customer_id=customer_id, attention=True) == []


def placed_for(customer_id: str, at: Iterator[datetime]) -> tuple[Order, ProjectionBatch]:
    order_id = new_order_id()
    order = Order(order_id=order_id)
    body = place_order(order_id, customer={"id": customer_id, "email": "c@example.com", "name": "Aiko Sato"})
    return order, batch_of(order, [ev.OrderPlaced(at=next(at), actor=f"customer:{customer_id}", order=body)])


def test_searching_by_attention_lists_the_orders_that_need_a_person_or_those_that_do_not(engine: Engine) -> None:
    # given three orders of one customer, the second of which needs a person
    customer_id, at = f"C-{uuid.uuid4().hex[:8]}", clock()
    projection = OrderProjection(engine)
    placed = [placed_for(customer_id, at) for _ in range(3)]
    for _, batch in placed:
        projection.project(batch)
    stuck = placed[1][0]
    flagged = needs_attention(stuck, at)
    projection.project(flagged)
    queries = OrderQueries(engine)

    # when an agent lists that customer's orders that need attention
    needing = queries.search(customer_id=customer_id, attention=True)

    # then only the stuck order comes back, with why and since when
    assert [(o.order_id, o.attention) for o in needing] == [
        (
            stuck.order_id,
            OrderAttention(reason=SILENT_WAREHOUSE.format(oid=stuck.order_id), since=flagged.events[0].event.at),
        )
    ]

    # and those that need nobody are the other two, newest first
    calm = queries.search(customer_id=customer_id, attention=False)
    assert [o.order_id for o in calm] == [placed[2][0].order_id, placed[0][0].order_id]
    assert all(o.attention is None for o in calm)

    # and without the filter all three are listed
    assert len(queries.search(customer_id=customer_id)) == 3
