"""The partner simulators against a fake OMS: shipped, pickup and rejected flows, and cancels."""

import asyncio
import json
import uuid
from collections.abc import AsyncIterator, Collection
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest

from integrations.simulators import create_simulator_app, parse_locations

OMS = "http://oms.test"
PARTNER_TOKEN = "partner-secret"
DELAY_S = 0.01


@dataclass
class FakeOms:
    """Records every webhook; `answers` scripts the status codes of the first calls per event.

    A webhook for the event in `hold` is recorded and then left unanswered until the test sets `resume`, so a
    test can act while the simulator is at a known step; `holding` is set once it arrives.
    """

    answers: dict[str, list[int]] = field(default_factory=dict)
    hold: str | None = None
    calls: list[tuple[str, dict[str, Any], int]] = field(default_factory=list)
    called: asyncio.Event = field(default_factory=asyncio.Event)
    holding: asyncio.Event = field(default_factory=asyncio.Event)
    resume: asyncio.Event = field(default_factory=asyncio.Event)

    async def handle(self, request: httpx.Request) -> httpx.Response:
        assert request.headers["Authorization"] == f"Bearer {PARTNER_TOKEN}"
        body = json.loads(request.content)
        if body["event"] == self.hold and not self.resume.is_set():
            self.holding.set()
            await self.resume.wait()
        scripted = self.answers.get(body["event"], [])
        status = scripted.pop(0) if scripted else 202
        self.calls.append((request.url.path, body, status))
        self.called.set()
        return httpx.Response(status, json={"detail": "scripted"})

    def events(self) -> list[str]:
        """Every answered webhook's event, in the order sent."""
        return [body["event"] for _, body, _ in self.calls]

    def delivered(self) -> list[tuple[str, dict[str, Any]]]:
        """The webhooks the OMS accepted, in order."""
        return [(path, body) for path, body, status in self.calls if status < 300]


@asynccontextmanager
async def simulator(oms: FakeOms, mode: str = "auto", reject: Collection[str] = ()) -> AsyncIterator[httpx.AsyncClient]:
    app = create_simulator_app(
        OMS, PARTNER_TOKEN, mode, DELAY_S, transport=httpx.MockTransport(oms.handle), reject_locations=reject
    )
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://sim.test") as client,
    ):
        yield client


def fulfillment_request(fo_id: str, location_id: str = "DC-TOKYO", delivery_method: str = "standard") -> dict[str, Any]:
    return {
        "fulfillment_order_id": fo_id,
        "order_id": fo_id.rsplit("-", 1)[0],
        "location_id": location_id,
        "lines": [{"sku": "LEGO-76419", "quantity": 1}],
        "ship_to": {"name": "Aiko Sato", "line1": "1-1 Marunouchi", "country": "JP"},
        "delivery_method": delivery_method,
    }


async def release(
    client: httpx.AsyncClient, fo_id: str, location_id: str = "DC-TOKYO", delivery_method: str = "standard"
) -> httpx.Response:
    return await client.post(
        "/warehouse/fulfillment-orders",
        json=fulfillment_request(fo_id, location_id, delivery_method),
        headers={"Idempotency-Key": fo_id},
    )


async def release_pickup(client: httpx.AsyncClient, fo_id: str) -> httpx.Response:
    return await release(client, fo_id, location_id="STORE-SHIBUYA", delivery_method="pickup")


async def cancel(client: httpx.AsyncClient, fo_id: str) -> httpx.Response:
    return await client.post(f"/warehouse/fulfillment-orders/{fo_id}/cancel")


async def status_of(client: httpx.AsyncClient, fo_id: str) -> dict[str, Any]:
    received = (await client.get("/warehouse/fulfillment-orders")).json()
    [record] = [r for r in received if r["fulfillment_order_id"] == fo_id]
    return dict(record)


async def reaches(client: httpx.AsyncClient, fo_id: str, status: str) -> dict[str, Any]:
    """Poll the simulator until the fulfillment order reaches `status`; its record then."""
    for _ in range(500):
        record = await status_of(client, fo_id)
        if record["status"] == status:
            return record
        await asyncio.sleep(0.01)
    raise AssertionError(f"{fo_id} is still {record['status']}, never {status}")


def new_fo_id(n: int = 1) -> str:
    return f"W-{uuid.uuid4().hex[:8]}-F{n}"


async def settle() -> None:
    """Time for several more simulated steps, were any still to come."""
    await asyncio.sleep(DELAY_S * 10)


SHIP_FLOW = ("picked", "packed", "shipped", "in_transit", "out_for_delivery", "delivered")
PICKUP_FLOW = ("picked", "packed", "ready_for_pickup", "picked_up")


async def test_auto_mode_reports_each_step_to_delivery() -> None:
    oms, fo_id = FakeOms(), new_fo_id()
    async with simulator(oms) as client:
        # when a fulfillment order is released to the warehouse
        answer = await release(client, fo_id)
        assert answer.status_code == 202
        record = await reaches(client, fo_id, "delivered")

    # then the OMS heard picked, packed, shipped (with tracking), in transit, out for delivery and delivered
    tracking = record["tracking_number"]
    assert tracking.startswith("YMT") and len(tracking) == 13 and tracking[3:].isdigit()
    assert oms.delivered() == [
        ("/v1/webhooks/warehouse", {"fulfillment_order_id": fo_id, "event": "picked"}),
        ("/v1/webhooks/warehouse", {"fulfillment_order_id": fo_id, "event": "packed"}),
        (
            "/v1/webhooks/warehouse",
            {"fulfillment_order_id": fo_id, "event": "shipped", "tracking_number": tracking, "carrier": "yamato"},
        ),
        ("/v1/webhooks/carrier", {"tracking_number": tracking, "event": "in_transit"}),
        ("/v1/webhooks/carrier", {"tracking_number": tracking, "event": "out_for_delivery"}),
        ("/v1/webhooks/carrier", {"tracking_number": tracking, "event": "delivered"}),
    ]


async def test_webhook_is_retried_while_the_oms_does_not_know_the_shipment_yet() -> None:
    # given an OMS that answers 404 twice to "shipped" before it has projected the fulfillment order
    oms, fo_id = FakeOms(answers={"shipped": [404, 404]}), new_fo_id()
    async with simulator(oms) as client:
        await release(client, fo_id)
        await reaches(client, fo_id, "delivered")

    # then "shipped" was sent three times, accepted once, and the carrier events still followed
    shipped = [status for _, body, status in oms.calls if body["event"] == "shipped"]
    assert shipped == [404, 404, 202]
    assert [body["event"] for _, body in oms.delivered()] == [*SHIP_FLOW]


async def test_a_refused_webhook_stops_the_sequence() -> None:
    # given an OMS that rejects "packed" as invalid (a 4xx that retrying cannot fix)
    oms, fo_id = FakeOms(answers={"packed": [422]}), new_fo_id()
    async with simulator(oms) as client:
        await release(client, fo_id)
        record = await reaches(client, fo_id, "failed")

    # then it is not retried, nothing after it is sent, and the operator sees why
    assert [(body["event"], status) for _, body, status in oms.calls] == [("picked", 202), ("packed", 422)]
    assert record["error"].startswith("packed: 422")


async def test_an_order_that_closed_is_not_retried() -> None:
    # given an OMS whose order has closed before the carrier's news arrives (409: no longer accepts events)
    oms, fo_id = FakeOms(answers={"in_transit": [409]}), new_fo_id()
    async with simulator(oms) as client:
        await release(client, fo_id)
        record = await reaches(client, fo_id, "failed")

    # then the simulator gives up at once rather than knocking on a closed order
    assert [status for _, body, status in oms.calls if body["event"] == "in_transit"] == [409]
    assert record["error"].startswith("in_transit: 409")


async def test_the_same_fulfillment_order_twice_runs_once() -> None:
    oms, fo_id = FakeOms(), new_fo_id()
    async with simulator(oms) as client:
        # when the OMS retries its release of the same fulfillment order
        first, second = await release(client, fo_id), await release(client, fo_id)
        await reaches(client, fo_id, "delivered")
        await asyncio.sleep(0.1)  # room for a second run's webhooks, were there one
        received = (await client.get("/warehouse/fulfillment-orders")).json()

    # then both are accepted, one record exists, and one sequence of six webhooks was sent
    assert (first.status_code, second.status_code) == (202, 202)
    assert len([r for r in received if r["fulfillment_order_id"] == fo_id]) == 1
    assert oms.events() == [*SHIP_FLOW]


async def test_off_mode_records_the_request_and_sends_nothing() -> None:
    oms, fo_id = FakeOms(), new_fo_id()
    async with simulator(oms, mode="off") as client:
        answer = await release(client, fo_id)
        await asyncio.sleep(0.1)
        record = await status_of(client, fo_id)
        health = await client.get("/healthz")

    assert answer.status_code == 202
    assert record["status"] == "received"
    assert record["request"]["lines"] == [{"sku": "LEGO-76419", "quantity": 1}]
    assert oms.calls == []
    assert health.json()["status"] == "ok"


async def test_shutdown_cancels_the_runs_in_flight() -> None:
    # given a fulfillment order whose "picked" the OMS keeps answering with 503, so its run keeps retrying
    oms, fo_id = FakeOms(answers={"picked": [503] * 100}), new_fo_id()
    async with simulator(oms) as client:
        await release(client, fo_id)
        await asyncio.wait_for(oms.called.wait(), 5)

    # when the app has shut down, then its run is gone rather than left retrying in the background
    assert not [t for t in asyncio.all_tasks() if t.get_name() == f"simulate-{fo_id}"]


def test_unknown_mode_is_rejected() -> None:
    with pytest.raises(ValueError, match="auto"):
        create_simulator_app(OMS, PARTNER_TOKEN, "sometimes", 0.01)


# -- pickup orders (BOPIS) ------------------------------------------------------------------------


async def test_a_pickup_order_is_made_ready_at_the_store_and_collected() -> None:
    oms, fo_id = FakeOms(), new_fo_id()
    async with simulator(oms) as client:
        # when a pickup fulfillment order is released to a store
        answer = await release_pickup(client, fo_id)
        assert answer.status_code == 202
        record = await reaches(client, fo_id, "picked_up")
        await settle()

    # then the store reports picked, packed, ready for pickup and, once the customer came, picked up
    assert oms.delivered() == [
        ("/v1/webhooks/warehouse", {"fulfillment_order_id": fo_id, "event": event}) for event in PICKUP_FLOW
    ]
    # and no carrier is involved: no tracking number, no carrier webhook
    assert (record["tracking_number"], record["carrier"]) == (None, None)
    assert all(path == "/v1/webhooks/warehouse" for path, _, _ in oms.calls)


# -- rejections (OMS_SIMULATE_REJECT) -------------------------------------------------------------


def test_reject_locations_are_read_from_a_comma_separated_setting() -> None:
    assert parse_locations("") == frozenset()
    assert parse_locations(" STORE-SHIBUYA, DC-OSAKA ,,") == {"STORE-SHIBUYA", "DC-OSAKA"}


async def test_a_location_set_to_reject_answers_with_one_rejected_event() -> None:
    # given a simulator where STORE-SHIBUYA rejects everything
    oms, rejected_fo, rerouted_fo = FakeOms(), new_fo_id(1), new_fo_id(2)
    async with simulator(oms, reject={"STORE-SHIBUYA"}) as client:
        # when a fulfillment order is released there
        await release(client, rejected_fo, location_id="STORE-SHIBUYA")
        record = await reaches(client, rejected_fo, "rejected")
        await settle()
        rejections = list(oms.calls)
        # and the OMS reroutes it to another location
        await release(client, rerouted_fo, location_id="DC-TOKYO")
        await reaches(client, rerouted_fo, "delivered")
        health = (await client.get("/healthz")).json()

    # then the store sent only "rejected", with the reason, and nothing else for it
    assert rejections == [
        (
            "/v1/webhooks/warehouse",
            {"fulfillment_order_id": rejected_fo, "event": "rejected", "reason": "no capacity at STORE-SHIBUYA"},
            202,
        )
    ]
    assert record["tracking_number"] is None
    # and the other location fulfills the rerouted order as usual
    assert [body["event"] for _, body, _ in oms.calls[1:]] == [*SHIP_FLOW]
    assert all(body.get("fulfillment_order_id", rerouted_fo) == rerouted_fo for _, body, _ in oms.calls[1:])
    assert health["reject_locations"] == ["STORE-SHIBUYA"]


async def test_a_pickup_order_at_a_rejecting_store_is_rejected_too() -> None:
    oms, fo_id = FakeOms(), new_fo_id()
    async with simulator(oms, reject={"STORE-SHIBUYA"}) as client:
        await release_pickup(client, fo_id)
        await reaches(client, fo_id, "rejected")
        await settle()

    assert oms.events() == ["rejected"]


# -- cancel -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("delivery_method", "held", "sent_before"),
    [
        ("standard", "packed", ["picked"]),
        ("pickup", "ready_for_pickup", ["picked", "packed"]),
    ],
)
async def test_cancel_before_the_goods_leave_stops_every_later_webhook(
    delivery_method: str, held: str, sent_before: list[str]
) -> None:
    # given a fulfillment order whose run is at a known step (the OMS holds its answer to `held`)
    oms, fo_id = FakeOms(hold=held), new_fo_id()
    location = "STORE-SHIBUYA" if delivery_method == "pickup" else "DC-TOKYO"
    async with simulator(oms) as client:
        await release(client, fo_id, location_id=location, delivery_method=delivery_method)
        await asyncio.wait_for(oms.holding.wait(), 5)

        # when the OMS cancels it, and would then answer the webhook in flight
        answer = await cancel(client, fo_id)
        oms.resume.set()
        await settle()
        record = await status_of(client, fo_id)
        run_left = [t for t in asyncio.all_tasks() if t.get_name() == f"simulate-{fo_id}"]

    # then the location stopped it in time
    assert answer.status_code == 200
    assert answer.json() == {"fulfillment_order_id": fo_id, "canceled": True, "status": "canceled"}
    assert record["status"] == "canceled"
    # and nothing was sent after the steps before it (the one in flight was abandoned): no shipped / picked up,
    # no carrier events
    assert oms.events() == sent_before
    assert run_left == []


async def test_cancel_after_shipping_is_refused_and_the_delivery_goes_on() -> None:
    oms, fo_id = FakeOms(), new_fo_id()
    async with simulator(oms) as client:
        # given a fulfillment order that has shipped
        await release(client, fo_id)
        await reaches(client, fo_id, "delivered")
        # when the OMS tries to cancel it, twice
        first, second = await cancel(client, fo_id), await cancel(client, fo_id)
        record = await status_of(client, fo_id)

    # then both answers are 409 (too late), and the record still says what happened
    assert (first.status_code, second.status_code) == (409, 409)
    assert "already left" in first.json()["detail"]
    assert record["status"] == "delivered"
    assert oms.events() == [*SHIP_FLOW]


async def test_cancel_is_refused_from_the_moment_the_parcel_ships() -> None:
    # given the parcel has left: "shipped" is being sent but the OMS has not answered it yet
    oms, fo_id = FakeOms(hold="shipped"), new_fo_id()
    async with simulator(oms) as client:
        await release(client, fo_id)
        await asyncio.wait_for(oms.holding.wait(), 5)
        # when the OMS cancels
        answer = await cancel(client, fo_id)
        oms.resume.set()
        await reaches(client, fo_id, "delivered")

    # then it is too late, and the delivery goes on to the end
    assert answer.status_code == 409
    assert oms.events() == [*SHIP_FLOW]


async def test_cancel_after_the_customer_picked_up_is_refused() -> None:
    oms, fo_id = FakeOms(), new_fo_id()
    async with simulator(oms) as client:
        await release_pickup(client, fo_id)
        await reaches(client, fo_id, "picked_up")
        answer = await cancel(client, fo_id)

    assert answer.status_code == 409


async def test_a_repeated_cancel_gets_the_same_answer() -> None:
    oms, fo_id = FakeOms(hold="picked"), new_fo_id()
    async with simulator(oms) as client:
        # given a fulfillment order the OMS has canceled
        await release(client, fo_id)
        await asyncio.wait_for(oms.holding.wait(), 5)
        first = await cancel(client, fo_id)
        # when the cancel is repeated (an activity retry)
        second, third = await cancel(client, fo_id), await cancel(client, fo_id)
        oms.resume.set()
        await settle()

    # then every answer is the same "stopped", and nothing more was sent
    assert first.status_code == second.status_code == third.status_code == 200
    assert first.json() == second.json() == third.json()
    assert first.json()["canceled"] is True
    assert oms.calls == []


async def test_a_cancel_before_the_release_arrives_means_the_release_never_runs() -> None:
    oms, fo_id = FakeOms(), new_fo_id()
    async with simulator(oms) as client:
        # given the OMS canceled a fulfillment order the location never received
        answer = await cancel(client, fo_id)
        # when its release arrives late (a retried activity)
        released = await release(client, fo_id)
        await settle()
        record = await status_of(client, fo_id)

    # then the cancel is acknowledged, the release is recorded as canceled and nothing is ever sent
    assert answer.status_code == 200
    assert answer.json()["canceled"] is True
    assert released.status_code == 202
    assert record["status"] == "canceled"
    assert oms.calls == []


async def test_a_rejected_fulfillment_order_cancels_without_losing_its_rejection() -> None:
    oms, fo_id = FakeOms(), new_fo_id()
    async with simulator(oms, reject={"DC-TOKYO"}) as client:
        await release(client, fo_id)
        await reaches(client, fo_id, "rejected")
        answer = await cancel(client, fo_id)

    # nothing will ship for it, so the cancel stands; the record keeps the location's answer
    assert answer.status_code == 200
    assert answer.json() == {"fulfillment_order_id": fo_id, "canceled": True, "status": "rejected"}


async def test_off_mode_cancels_a_received_fulfillment_order() -> None:
    oms, fo_id = FakeOms(), new_fo_id()
    async with simulator(oms, mode="off") as client:
        await release(client, fo_id)
        answer = await cancel(client, fo_id)
        record = await status_of(client, fo_id)

    assert answer.status_code == 200
    assert record["status"] == "canceled"
    assert oms.calls == []
