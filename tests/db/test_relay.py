"""The relay against a real HTTP subscriber: signed deliveries in order per order, retries with backoff, failures
listed and replayed over the API, and a restart that loses nothing and resends only what was in flight."""

import asyncio
import json
import time
from collections.abc import Callable
from types import SimpleNamespace
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from events_out.contracts import OutboxEvent
from events_out.relay import Relay, RetryPolicy
from events_out.subscriptions import Subscriptions
from starter import cli
from starter.api.app import create_app
from starter.api.webhooks import signature_refusal
from starter.settings import Settings
from store.order_projection import OrderProjection
from tests.db.subscriber import Subscriber
from tests.db.test_projection_errors import accepted, new_order_id, shipped

pytestmark = [pytest.mark.db, pytest.mark.usefixtures("no_subscriptions")]
SECRET = "a-secret-the-subscriber-shares"
# milliseconds where production waits seconds: three attempts, 50 ms then 100 ms apart
FAST = RetryPolicy(first_delay=0.05, max_delay=0.4, max_attempts=3, max_age=60)
OPERATOR = {"Authorization": "Bearer t-operator"}


def fast_relay(engine: Engine, policy: RetryPolicy = FAST, lease: float = 5.0) -> Relay:
    return Relay(engine, policy=policy, poll_interval=0.01, lease=lease, webhook_timeout=2.0)


async def until(relay: Relay | None, done: Callable[[], bool], seconds: float = 15.0) -> None:
    """Run the relay round after round (or just wait, without one) until `done`."""
    deadline = time.monotonic() + seconds
    while not done():
        if time.monotonic() > deadline:
            raise AssertionError("not within the time")
        if relay is not None:
            await relay.run_once()
        await asyncio.sleep(0.01)


def api(engine: Engine) -> TestClient:
    """The real app on the test database (its lifespan, which connects to Temporal, is not run)."""
    app = create_app(Settings(env="test", tokens="t-operator:operator"))
    app.state.services = SimpleNamespace(engine=engine)
    return TestClient(app)


def sequences(received: list[Any], order_id: str) -> list[int]:
    return [r.body["sequence"] for r in received if r.body["order_id"] == order_id]


async def test_every_event_is_posted_signed_and_in_order_to_each_subscriber_that_takes_it(engine: Engine) -> None:
    async with Subscriber() as server:
        # given a subscriber of every event and one of shipments only
        subscriptions = Subscriptions(engine)
        subscriptions.create(server.url("/every"), ["*"], SECRET)
        subscriptions.create(server.url("/shipped"), ["ShipmentShipped"], SECRET)
        # and two orders placed, the first of them then shipped
        a, b = new_order_id(), new_order_id()
        (order_a, placed_a), (_, placed_b) = accepted(a), accepted(b)
        projection = OrderProjection(engine)
        projection.project(placed_a)
        projection.project(placed_b)
        projection.project(shipped(order_a, "YMT-" + a))
        # when the relay runs until both have what they take
        relay = fast_relay(engine)
        await until(relay, lambda: len(server.delivered("/every")) == 9 and len(server.delivered("/shipped")) == 1)
        await relay.close()
    # then every delivery is signed with the secret over the exact bytes sent, as the API checks a partner's
    for r in server.received:
        assert signature_refusal(r.headers["x-oms-signature"], r.raw, SECRET, time.time()) is None
        assert signature_refusal(r.headers["x-oms-signature"], r.raw, "another-secret-altogether", time.time())
        assert set(r.body) == {"event_id", "order_id", "sequence", "type", "occurred_at", "data"}
        assert r.headers["x-oms-event-id"] == str(r.body["event_id"])
    # and each order's events came once each, in their order
    every = server.delivered("/every")
    assert sequences(every, a) == [1, 2, 3, 4, 5]
    assert sequences(every, b) == [1, 2, 3, 4]
    assert every[0].body["type"] == "OrderPlaced" and every[0].body["data"]["order"]["order_id"] == a
    # and the shipments-only subscriber got the one shipment
    assert [(r.body["order_id"], r.body["type"]) for r in server.delivered("/shipped")] == [(a, "ShipmentShipped")]


async def test_an_order_waits_while_its_failing_event_is_retried_with_backoff_and_other_orders_go_on(
    engine: Engine,
) -> None:
    a, b = new_order_id(), new_order_id()
    refusals = {"left": 2}

    def answer(path: str, body: dict[str, Any]) -> int:
        # the subscriber refuses A's first event twice, then takes it
        if (body["order_id"], body["sequence"]) == (a, 1) and refusals["left"]:
            refusals["left"] -= 1
            return 500
        return 200

    async with Subscriber(answer=answer) as server:
        # given a subscriber of every event, and orders A and B placed
        Subscriptions(engine).create(server.url(), ["*"], SECRET)
        projection = OrderProjection(engine)
        projection.project(accepted(a)[1])
        projection.project(accepted(b)[1])
        # when the relay runs (300 ms before the second attempt, doubled after) until all is taken
        relay = fast_relay(engine, RetryPolicy(first_delay=0.3, max_delay=5, max_attempts=5, max_age=60))
        await until(relay, lambda: len(server.delivered()) == 8)
        await relay.close()
    # then A's first event was tried three times, each wait at least the backoff and longer than the one before
    tries = [r for r in server.received if r.key == (a, 1)]
    assert [r.status for r in tries] == [500, 500, 200]
    first_wait, second_wait = tries[1].at - tries[0].at, tries[2].at - tries[1].at
    assert first_wait >= 0.3
    assert second_wait >= 0.6 and second_wait > first_wait
    # and none of A's later events was sent before its first was taken
    assert sequences(server.received, a) == [1, 1, 1, 2, 3, 4]
    # while B was not held back: all of it was taken before A's first event was
    assert sequences(server.delivered(), b) == [1, 2, 3, 4]
    assert max(r.at for r in server.delivered() if r.body["order_id"] == b) < tries[-1].at


async def test_an_event_that_keeps_failing_is_listed_and_the_order_goes_on_until_a_replay_sends_it(
    engine: Engine,
) -> None:
    a = new_order_id()
    healthy = {"now": False}

    def answer(path: str, body: dict[str, Any]) -> int:
        # the subscriber cannot take the order's second event until it is mended
        return 200 if healthy["now"] or body["sequence"] != 2 else 503

    async with Subscriber(answer=answer) as server:
        # given a subscription made over the API, and an order placed
        http = api(engine)
        created = http.post(
            "/v1/subscriptions", json={"url": server.url(), "events": ["*"], "secret": SECRET}, headers=OPERATOR
        )
        assert created.status_code == 201, created.text
        sub = created.json()["id"]
        OrderProjection(engine).project(accepted(a)[1])
        # when the relay runs until the order's stream has gone on past the event that fails
        relay = fast_relay(engine)
        await until(relay, lambda: sequences(server.delivered(), a) == [1, 3, 4])
        # then that event was tried as often as the policy allows, and is listed with why
        assert [r.status for r in server.received if r.key == (a, 2)] == [503, 503, 503]
        listed = http.get(f"/v1/subscriptions/{sub}/failures", headers=OPERATOR).json()["failures"]
        assert [(f["order_id"], f["sequence"], f["type"], f["attempts"]) for f in listed] == [
            (a, 2, "PaymentAuthorized", 3)
        ]
        assert "503" in listed[0]["last_error"]
        # when the subscriber is mended and its failures are replayed (no body)
        healthy["now"] = True
        replayed = http.post(f"/v1/subscriptions/{sub}/replay", headers=OPERATOR)
        assert replayed.status_code == 202 and replayed.json() == {"id": sub, "replayed": 1}
        await until(relay, lambda: len(server.delivered()) == 4)
        # then it is taken, and no longer listed
        assert server.delivered()[-1].key == (a, 2)
        assert http.get(f"/v1/subscriptions/{sub}/failures", headers=OPERATOR).json()["failures"] == []
        # and a replay from the order's first event sends all of it again, in order
        first = min(r.body["event_id"] for r in server.delivered())
        again = http.post(f"/v1/subscriptions/{sub}/replay", json={"from_event_id": first}, headers=OPERATOR)
        assert again.json()["replayed"] == 4
        await until(relay, lambda: len(server.delivered()) == 8)
        assert sequences(server.delivered()[4:], a) == [1, 2, 3, 4]
        await relay.close()
        # and a subscription that does not exist is a 404 on both
        assert http.get("/v1/subscriptions/sub_none/failures", headers=OPERATOR).status_code == 404
        assert http.post("/v1/subscriptions/sub_none/replay", headers=OPERATOR).status_code == 404


async def test_a_restarted_relay_loses_nothing_and_resends_only_what_was_in_flight(engine: Engine) -> None:
    a = new_order_id()
    held: list[int] = []

    def hold(body: dict[str, Any]) -> bool:
        # the subscriber sits on the first delivery of event 3 (the relay is stopped while it waits)
        if body["sequence"] == 3 and not held:
            held.append(body["event_id"])
            return True
        return False

    async with Subscriber(hold=hold) as server:
        # given a subscriber, an order placed, and a relay with a half-second lease on what it sends
        Subscriptions(engine).create(server.url(), ["*"], SECRET)
        order, placed = accepted(a)
        OrderProjection(engine).project(placed)
        stop = asyncio.Event()
        running = asyncio.create_task(fast_relay(engine, lease=0.5).run(stop))
        # when the relay is killed while event 3 is in flight
        await until(None, lambda: bool(held))
        running.cancel()
        await asyncio.gather(running, return_exceptions=True)
        # and the order ships while no relay runs, and then another relay starts
        OrderProjection(engine).project(shipped(order, "YMT-" + a))
        second = fast_relay(engine, lease=0.5)
        await until(second, lambda: sequences(server.delivered(), a) == [1, 2, 3, 4, 5])
        await second.close()
    # then every event was taken, in order, and only event 3 (in flight at the stop) was sent twice
    assert [body["sequence"] for body in server.arrived] == [1, 2, 3, 3, 4, 5]
    # and not before its lease ran out: no two relays send one event at once
    tries = sorted(r.at for r in server.received if r.key == (a, 3))
    assert tries[1] - tries[0] >= 0.45


class Sink:
    """An internal destination (as NATS or notifications are): refuses every event while `down`."""

    def __init__(self, name: str, types: frozenset[str] | None = None) -> None:
        self.name, self.types = name, types
        self.down = True
        self.taken: list[tuple[str, int]] = []
        self.shown: list[str] = []  # every event type it was handed

    async def deliver(self, event: OutboxEvent) -> None:
        self.shown.append(event.type)
        if self.down:
            raise ConnectionError("the sink is down")
        self.taken.append((event.order_id, event.sequence))


async def test_an_internal_destination_is_owed_only_the_event_types_it_takes(engine: Engine) -> None:
    # given an internal sink that takes shipments only (as notifications take what a customer hears of)
    sink = Sink(f"sink-{new_order_id()}", types=frozenset({"ShipmentShipped"}))
    sink.down = False
    relay = Relay(engine, [sink], policy=FAST, poll_interval=0.01)
    await relay.destinations()
    # when an order is placed (four events) and shipped (one)
    a = new_order_id()
    order, placed = accepted(a)
    OrderProjection(engine).project(placed)
    OrderProjection(engine).project(shipped(order, "YMT-" + a))
    await until(relay, lambda: len(sink.taken) == 1)
    left = await relay.run_once()
    await relay.close()
    # then it was handed the shipment alone, and nothing is left owed to it
    assert sink.shown == ["ShipmentShipped"]
    assert sink.taken == [(a, 5)]
    assert left == 0


async def test_an_internal_destination_fails_and_is_replayed_like_a_subscription_from_the_command_line(
    engine: Engine, database_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # given an internal sink that is down, and an order placed once the relay knows the sink
    sink = Sink(f"sink-{new_order_id()}")
    relay = Relay(engine, [sink], policy=FAST, poll_interval=0.01)
    await relay.destinations()
    a = new_order_id()
    OrderProjection(engine).project(accepted(a)[1])
    monkeypatch.setattr(cli, "get_settings", lambda: Settings(database_url=database_url))

    def oms(*args: str) -> Any:
        capsys.readouterr()  # the relay's log lines so far
        assert cli.run(["relay", *args]) == 0
        return json.loads(capsys.readouterr().out)

    # when the relay runs until each of the order's events has given up
    await until(relay, lambda: len(oms("--failures", sink.name)) == 4)
    # then `oms relay` lists them, in order, with why
    listed = oms("--failures", sink.name)
    assert [(f["order_id"], f["sequence"], f["attempts"]) for f in listed] == [(a, n, 3) for n in (1, 2, 3, 4)]
    assert "the sink is down" in listed[0]["last_error"]
    status = {s["name"]: s for s in oms("--status")}
    assert (status[sink.name]["pending"], status[sink.name]["failed"]) == (0, 4)
    # when the sink is back and its failures are replayed from the command line
    sink.down = False
    assert oms("--replay", sink.name) == {"destination": sink.name, "replayed": 4}
    await until(relay, lambda: len(sink.taken) == 4)
    await relay.close()
    # then it takes every event, in order, and nothing is left listed
    assert sink.taken == [(a, n) for n in (1, 2, 3, 4)]
    assert oms("--failures", sink.name) == []


async def test_a_running_relay_picks_up_a_new_subscription_and_delivers_as_events_come(engine: Engine) -> None:
    # given a relay running on its own (polling every 10 ms)
    stop = asyncio.Event()
    running = asyncio.create_task(fast_relay(engine).run(stop))
    async with Subscriber() as server:
        # when a subscription is made while it runs, and then an order is placed and shipped
        Subscriptions(engine).create(server.url(), ["*"], SECRET)
        await asyncio.sleep(1.2)  # the relay looks for new subscriptions every second
        a = new_order_id()
        order, placed = accepted(a)
        OrderProjection(engine).project(placed)
        await until(None, lambda: len(server.delivered()) == 4, seconds=5)
        OrderProjection(engine).project(shipped(order, "YMT-" + a))
        await until(None, lambda: len(server.delivered()) == 5, seconds=5)
        stop.set()
        await running
    # then the subscriber got the order's events as they were written, in order
    assert sequences(server.delivered(), a) == [1, 2, 3, 4, 5]
