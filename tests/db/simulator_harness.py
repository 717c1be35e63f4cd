"""A fake OMS for the partner simulators, and helpers that drive a simulator app over HTTP in the test's loop."""

import asyncio
import json
import uuid
from collections.abc import AsyncIterator, Callable, Collection
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx
from sqlalchemy import Engine, delete

from integrations.simulator_faults import FaultPlan
from integrations.simulators import create_simulator_app
from store.tables import (
    simulator_amendments,
    simulator_early_cancels,
    simulator_fulfillment_orders,
    simulator_webhooks,
)

OMS = "http://oms.test"
PARTNER_TOKEN = "partner-secret"
DELAY_S = 0.01


@dataclass
class FakeOms:
    """Records every webhook; `answers` scripts the status codes of the first calls per event.

    Like the real OMS, a carrier event for a parcel whose `shipped` it has not taken yet is answered 503 (not known
    yet: send it again).
    A webhook for the event in `hold` is recorded and then left unanswered until the test sets `resume`, so a
    test can act while the simulator is at a known step; `holding` is set once it arrives.
    """

    answers: dict[str, list[int]] = field(default_factory=dict)
    hold: str | None = None
    calls: list[tuple[str, dict[str, Any], int]] = field(default_factory=list)
    called: asyncio.Event = field(default_factory=asyncio.Event)
    holding: asyncio.Event = field(default_factory=asyncio.Event)
    resume: asyncio.Event = field(default_factory=asyncio.Event)
    parcels: set[str] = field(default_factory=set)

    async def handle(self, request: httpx.Request) -> httpx.Response:
        assert request.headers["Authorization"] == f"Bearer {PARTNER_TOKEN}"
        body = json.loads(request.content)
        if body["event"] == self.hold and not self.resume.is_set():
            self.holding.set()
            await self.resume.wait()
        scripted = self.answers.get(body["event"], [])
        status = scripted.pop(0) if scripted else 202
        if request.url.path.endswith("/carrier") and body["tracking_number"] not in self.parcels:
            status = 503
        if status < 300 and body["event"] == "shipped":
            self.parcels.add(body["tracking_number"])
        self.calls.append((request.url.path, body, status))
        self.called.set()
        return httpx.Response(status, json={"detail": "scripted"})

    def events(self, fo_id: str | None = None) -> list[str]:
        """Every answered webhook's event, in the order sent (for one fulfillment order, or all)."""
        return [body["event"] for _, body, _ in self.calls if fo_id is None or self.concerns(body, fo_id)]

    def delivered(self, fo_id: str | None = None) -> list[tuple[str, dict[str, Any]]]:
        """The webhooks the OMS accepted, in order."""
        return [
            (path, body)
            for path, body, status in self.calls
            if status < 300 and (fo_id is None or self.concerns(body, fo_id))
        ]

    def concerns(self, body: dict[str, Any], fo_id: str) -> bool:
        if "fulfillment_order_id" in body:
            return bool(body["fulfillment_order_id"] == fo_id)
        shipped = [b for _, b, _ in self.calls if b.get("fulfillment_order_id") == fo_id and b["event"] == "shipped"]
        return any(b["tracking_number"] == body["tracking_number"] for b in shipped)


def forget_simulator_state(engine: Engine) -> None:
    """No simulator state left by an earlier test: its pending webhooks would be sent to this test's OMS."""
    with engine.begin() as conn:
        for table in (simulator_webhooks, simulator_amendments, simulator_early_cancels, simulator_fulfillment_orders):
            conn.execute(delete(table))


@asynccontextmanager
async def simulator(
    oms: FakeOms,
    engine: Engine,
    mode: str = "auto",
    reject: Collection[str] = (),
    delay_s: float = DELAY_S,
    faults: FaultPlan | None = None,
) -> AsyncIterator[httpx.AsyncClient]:
    app = create_simulator_app(
        OMS,
        PARTNER_TOKEN,
        mode,
        delay_s,
        transport=httpx.MockTransport(oms.handle),
        reject_locations=reject,
        engine=engine,
        faults=faults,
        retry_first_s=0.02,
    )
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://sim.test") as client,
    ):
        yield client


def fulfillment_request(
    fo_id: str,
    location_id: str = "DC-TOKYO",
    delivery_method: str = "standard",
    lines: tuple[tuple[str, int], ...] = (("LEGO-76419", 1),),
) -> dict[str, Any]:
    return {
        "fulfillment_order_id": fo_id,
        "order_id": fo_id.rsplit("-", 1)[0],
        "location_id": location_id,
        "lines": [{"sku": sku, "quantity": quantity} for sku, quantity in lines],
        "ship_to": {"name": "Aiko Sato", "line1": "1-1 Marunouchi", "country": "JP"},
        "delivery_method": delivery_method,
    }


async def release(
    client: httpx.AsyncClient,
    fo_id: str,
    location_id: str = "DC-TOKYO",
    delivery_method: str = "standard",
    lines: tuple[tuple[str, int], ...] = (("LEGO-76419", 1),),
) -> httpx.Response:
    return await client.post(
        "/warehouse/fulfillment-orders",
        json=fulfillment_request(fo_id, location_id, delivery_method, lines),
        headers={"Idempotency-Key": fo_id},
    )


async def release_pickup(client: httpx.AsyncClient, fo_id: str) -> httpx.Response:
    return await release(client, fo_id, location_id="STORE-SHIBUYA", delivery_method="pickup")


async def cancel(client: httpx.AsyncClient, fo_id: str) -> httpx.Response:
    return await client.post(f"/warehouse/fulfillment-orders/{fo_id}/cancel")


async def amend(client: httpx.AsyncClient, fo_id: str, remove: dict[str, int], key: str) -> httpx.Response:
    body = {"remove": [{"sku": sku, "quantity": quantity} for sku, quantity in remove.items()]}
    return await client.post(
        f"/warehouse/fulfillment-orders/{fo_id}/amend", json=body, headers={"Idempotency-Key": key}
    )


async def status_of(client: httpx.AsyncClient, fo_id: str) -> dict[str, Any]:
    answer = await client.get(f"/warehouse/fulfillment-orders/{fo_id}")
    assert answer.status_code == 200, answer.text
    return dict(answer.json())


async def until(condition: Callable[[], bool], what: str, timeout_s: float = 10.0) -> None:
    """Wait until `condition()` holds, polling; fail with `what` if it never does."""
    deadline = asyncio.get_running_loop().time() + timeout_s
    while not condition():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"never happened: {what}")
        await asyncio.sleep(0.01)


async def reaches(
    client: httpx.AsyncClient, fo_id: str, status: str, timeout_s: float = 10.0, all_sent: bool = False
) -> dict[str, Any]:
    """Poll the simulator until the fulfillment order reaches `status` (and, with `all_sent`, owes no webhook);
    its record then."""
    deadline = asyncio.get_running_loop().time() + timeout_s
    while True:
        record = await status_of(client, fo_id)
        if record["status"] == status and not (all_sent and record["owed"]):
            return record
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"{fo_id} is still {record['status']}, never {status}")
        await asyncio.sleep(0.01)


def new_fo_id(n: int = 1) -> str:
    return f"W-{uuid.uuid4().hex[:8]}-F{n}"


async def settle() -> None:
    """Time for several more simulated steps (and their retries), were any still to come."""
    await asyncio.sleep(0.3)
