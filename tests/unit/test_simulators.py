"""The partner simulators against a fake OMS, and the warehouse client against a fake warehouse."""

import asyncio
import json
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest

from domain.models import SkuQuantity
from integrations.simulators import create_simulator_app
from integrations.warehouse import FulfillmentRequest, HttpWarehouseClient, WarehouseRefused, WarehouseUnavailable

OMS = "http://oms.test"
PARTNER_TOKEN = "partner-secret"


@dataclass
class FakeOms:
    """Records every webhook; `answers` scripts the status codes of the first calls per event."""

    answers: dict[str, list[int]] = field(default_factory=dict)
    calls: list[tuple[str, dict[str, Any], int]] = field(default_factory=list)
    called: asyncio.Event = field(default_factory=asyncio.Event)

    async def handle(self, request: httpx.Request) -> httpx.Response:
        assert request.headers["Authorization"] == f"Bearer {PARTNER_TOKEN}"
        body = json.loads(request.content)
        scripted = self.answers.get(body["event"], [])
        status = scripted.pop(0) if scripted else 202
        self.calls.append((request.url.path, body, status))
        self.called.set()
        return httpx.Response(status, json={"detail": "scripted"})

    def delivered(self) -> list[tuple[str, dict[str, Any]]]:
        """The webhooks the OMS accepted, in order."""
        return [(path, body) for path, body, status in self.calls if status < 300]


@asynccontextmanager
async def simulator(oms: FakeOms, mode: str = "auto") -> AsyncIterator[httpx.AsyncClient]:
    app = create_simulator_app(OMS, PARTNER_TOKEN, mode, 0.01, transport=httpx.MockTransport(oms.handle))
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://sim.test") as client,
    ):
        yield client


def fulfillment_request(fo_id: str) -> dict[str, Any]:
    return {
        "fulfillment_order_id": fo_id,
        "order_id": fo_id.rsplit("-", 1)[0],
        "location_id": "DC-TOKYO",
        "lines": [{"sku": "LEGO-76419", "quantity": 1}],
        "ship_to": {"name": "Aiko Sato", "line1": "1-1 Marunouchi", "country": "JP"},
        "delivery_method": "standard",
    }


async def release(client: httpx.AsyncClient, fo_id: str) -> httpx.Response:
    return await client.post(
        "/warehouse/fulfillment-orders", json=fulfillment_request(fo_id), headers={"Idempotency-Key": fo_id}
    )


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


def new_fo_id() -> str:
    return f"W-{uuid.uuid4().hex[:8]}-F1"


async def test_auto_mode_reports_each_step_to_delivery() -> None:
    oms, fo_id = FakeOms(), new_fo_id()
    async with simulator(oms) as client:
        # when a fulfillment order is released to the warehouse
        answer = await release(client, fo_id)
        assert answer.status_code == 202
        record = await reaches(client, fo_id, "delivered")

    # then the OMS heard picked, packed, shipped (with tracking), in transit and delivered for that number
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
    assert [body["event"] for _, body in oms.delivered()] == ["picked", "packed", "shipped", "in_transit", "delivered"]


async def test_a_refused_webhook_stops_the_sequence() -> None:
    # given an OMS that rejects "packed" as invalid (a 4xx that retrying cannot fix)
    oms, fo_id = FakeOms(answers={"packed": [422]}), new_fo_id()
    async with simulator(oms) as client:
        await release(client, fo_id)
        record = await reaches(client, fo_id, "failed")

    # then it is not retried, nothing after it is sent, and the operator sees why
    assert [(body["event"], status) for _, body, status in oms.calls] == [("picked", 202), ("packed", 422)]
    assert record["error"].startswith("packed: 422")


async def test_the_same_fulfillment_order_twice_runs_once() -> None:
    oms, fo_id = FakeOms(), new_fo_id()
    async with simulator(oms) as client:
        # when the OMS retries its release of the same fulfillment order
        first, second = await release(client, fo_id), await release(client, fo_id)
        await reaches(client, fo_id, "delivered")
        await asyncio.sleep(0.1)  # room for a second run's webhooks, were there one
        received = (await client.get("/warehouse/fulfillment-orders")).json()

    # then both are accepted, one record exists, and one sequence of five webhooks was sent
    assert (first.status_code, second.status_code) == (202, 202)
    assert len([r for r in received if r["fulfillment_order_id"] == fo_id]) == 1
    assert len(oms.calls) == 5


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


# -- the warehouse client -------------------------------------------------------------------------
REQUEST = FulfillmentRequest(
    fulfillment_order_id="W-1001-F1",
    order_id="W-1001",
    location_id="DC-TOKYO",
    lines=[SkuQuantity(sku="LEGO-76419", quantity=2)],
    ship_to={"name": "Aiko Sato", "country": "JP"},
    delivery_method="next_day",
)


def warehouse(handler: Callable[[httpx.Request], httpx.Response]) -> HttpWarehouseClient:
    return HttpWarehouseClient("http://wms.test/", transport=httpx.MockTransport(handler))


def test_release_posts_the_request_with_its_idempotency_key() -> None:
    seen: list[httpx.Request] = []

    def accept(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(202, json={})

    with warehouse(accept) as client:
        client.release(REQUEST)

    [request] = seen
    assert (request.method, str(request.url)) == ("POST", "http://wms.test/warehouse/fulfillment-orders")
    assert request.headers["Idempotency-Key"] == "W-1001-F1"
    assert FulfillmentRequest.model_validate_json(request.content) == REQUEST


@pytest.mark.parametrize("status", [500, 503, 429])
def test_release_outage_is_transient(status: int) -> None:
    with warehouse(lambda _: httpx.Response(status)) as client, pytest.raises(WarehouseUnavailable):
        client.release(REQUEST)


def test_release_connection_error_is_transient() -> None:
    def unreachable(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    with warehouse(unreachable) as client, pytest.raises(WarehouseUnavailable):
        client.release(REQUEST)


@pytest.mark.parametrize("status", [400, 404, 422])
def test_release_rejection_is_permanent(status: int) -> None:
    answer = httpx.Response(status, json={"detail": "unknown location"})
    with warehouse(lambda _: answer) as client, pytest.raises(WarehouseRefused, match="unknown location"):
        client.release(REQUEST)
