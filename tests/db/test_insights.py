"""The operators' figures across orders, read from rows inserted here.

The database is shared by the whole tier, so each test places its orders in a window of time of its own (a day
in 2001 no other test uses) and asks for that window only.
"""

import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import Engine, insert

from store.insights import InsightQueries
from store.tables import order_events, orders

pytestmark = pytest.mark.db

HOUR = 3600.0


def a_day_of_its_own() -> datetime:
    """Midnight of a day in 2001 picked at random: no other test's orders are placed in it."""
    return datetime(2001, 1, 1, tzinfo=UTC) + timedelta(days=uuid.uuid4().int % 3000)


def add_order(
    engine: Engine,
    placed: datetime,
    status: str,
    channel: str = "web",
    *,
    shipped_after_h: float | None = None,
    delivered_after_h: float | None = None,
    attention: str | None = None,
) -> str:
    """An order row and its timeline: placed, then (hours after placing) shipped and delivered, when given."""
    order_id = f"IN-{uuid.uuid4().hex[:10]}"
    zero = Decimal(0)
    with engine.begin() as conn:
        conn.execute(
            insert(orders).values(
                order_id=order_id,
                workflow_id=f"order-{order_id}",
                status=status,
                channel=channel,
                customer_id="C-IN",
                customer={"id": "C-IN"},
                currency="JPY",
                total=Decimal(1000),
                authorized=zero,
                captured=zero,
                refunded=zero,
                voided=zero,
                delivery_method="standard",
                shipping_address={},
                version=1,
                placed_at=placed,
                attention_reason=attention,
                attention_since=placed + timedelta(hours=1) if attention else None,
            )
        )
        events = [("OrderPlaced", placed)]
        if shipped_after_h is not None:
            events.append(("ShipmentShipped", placed + timedelta(hours=shipped_after_h)))
        if delivered_after_h is not None:
            events.append(("ShipmentDelivered", placed + timedelta(hours=delivered_after_h)))
        for seq, (kind, at) in enumerate(events, start=1):
            conn.execute(
                insert(order_events).values(
                    order_id=order_id, seq=seq, type=kind, at=at, actor="system", summary=kind, data={}
                )
            )
    return order_id


def test_orders_are_counted_by_status_and_channel_in_lifecycle_order(engine: Engine) -> None:
    # given five orders placed one day: three on the web, two in the app, in three statuses
    day = a_day_of_its_own()
    add_order(engine, day, "delivered", "web")
    add_order(engine, day, "delivered", "app")
    add_order(engine, day, "accepted", "web")
    add_order(engine, day, "canceled", "web")
    add_order(engine, day + timedelta(hours=2), "shipped", "app")
    # and one placed the next day, outside the window asked for
    add_order(engine, day + timedelta(days=1), "delivered", "store")
    # when the figures of that day are read
    seen = InsightQueries(engine).snapshot(since=day, until=day + timedelta(days=1))
    # then each status and channel has its count, in the order an order moves through them
    assert seen.total == 5
    assert [(c.label, c.count) for c in seen.by_status] == [
        ("accepted", 1),
        ("shipped", 1),
        ("delivered", 2),
        ("canceled", 1),
    ]
    assert [(c.label, c.count) for c in seen.by_channel] == [("web", 3), ("app", 2)]


def test_time_per_phase_has_the_median_and_the_90th_percentile_of_the_orders_through_it(engine: Engine) -> None:
    # given delivered orders that shipped after 1, 2, 3, 4 and 10 hours and arrived a day after shipping
    day = a_day_of_its_own()
    for hours in (1, 2, 3, 4, 10):
        add_order(engine, day, "delivered", shipped_after_h=hours, delivered_after_h=hours + 24)
    # and one shipped but not yet delivered after 6 hours, and one not shipped at all
    add_order(engine, day, "shipped", shipped_after_h=6)
    add_order(engine, day, "accepted")
    # when the figures of that day are read
    phases = {p.phase: p for p in InsightQueries(engine).snapshot(since=day, until=day + timedelta(days=1)).phases}
    # then placed → shipped counts the six that shipped: p50 of 1,2,3,4,6,10 h is 3.5 h, p90 is 8 h (interpolated)
    shipping = phases["placed → shipped"]
    assert (shipping.orders, shipping.p50_seconds, shipping.p90_seconds) == (6, 3.5 * HOUR, 8 * HOUR)
    # and shipped → delivered the five delivered ones, a day each
    delivery = phases["shipped → delivered"]
    assert (delivery.orders, delivery.p50_seconds, delivery.p90_seconds) == (5, 24 * HOUR, 24 * HOUR)
    # and the whole way: 25, 26, 27, 28 and 34 hours
    whole = phases["placed → delivered"]
    assert (whole.orders, whole.p50_seconds) == (5, 27 * HOUR)
    assert whole.p90_seconds == pytest.approx(31.6 * HOUR)


def test_a_parcel_delivered_of_an_order_still_shipping_is_not_the_orders_delivery(engine: Engine) -> None:
    # given an order with one parcel delivered and another still on its way (partially delivered, status shipped)
    day = a_day_of_its_own()
    add_order(engine, day, "shipped", shipped_after_h=1, delivered_after_h=5)
    # when the figures are read
    phases = {p.phase: p for p in InsightQueries(engine).snapshot(since=day, until=day + timedelta(days=1)).phases}
    # then it has shipped, but no delivery time is counted for it yet
    assert phases["placed → shipped"].orders == 1
    assert (phases["shipped → delivered"].orders, phases["shipped → delivered"].p50_seconds) == (0, None)


def test_orders_needing_a_person_are_counted_and_listed_newest_first(engine: Engine) -> None:
    # given three orders, two of which need a person, the second flagged an hour after the first
    day = a_day_of_its_own()
    first = add_order(engine, day, "shipped", attention="carrier silent")
    second = add_order(engine, day + timedelta(hours=1), "accepted", attention="capture failed")
    add_order(engine, day, "delivered")
    # when the figures are read
    seen = InsightQueries(engine).snapshot(since=day, until=day + timedelta(days=1))
    # then both are counted, and listed with why and since when, newest first
    assert seen.attention_count == 2
    assert [(a.order_id, a.status, a.reason) for a in seen.attention] == [
        (second, "accepted", "capture failed"),
        (first, "shipped", "carrier silent"),
    ]
    assert seen.attention[0].since == day + timedelta(hours=2)


def test_an_empty_window_has_no_orders_and_no_times(engine: Engine) -> None:
    # given a window nobody placed an order in
    day = a_day_of_its_own() - timedelta(days=4000)
    # when its figures are read
    seen = InsightQueries(engine).snapshot(since=day, until=day + timedelta(days=1))
    # then everything is zero or unknown, not an error
    assert (seen.total, seen.by_status, seen.by_channel, seen.attention_count) == (0, [], [], 0)
    assert all(p.orders == 0 and p.p50_seconds is None for p in seen.phases)
