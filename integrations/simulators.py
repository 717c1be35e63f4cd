"""Warehouse, store and carrier simulators in one small service, so a placed order runs to delivery on its own.

The warehouse accepts fulfillment orders like a WMS would (idempotent on the fulfillment order id) and,
in ``auto`` mode, reports to the OMS one step per delay:

- shipped orders: picked, packed, shipped (warehouse webhook), then in transit, out for delivery and
  delivered for the tracking number (carrier webhook);
- pickup orders (``delivery_method == "pickup"``): picked, packed, ready_for_pickup and, once the customer
  has come, picked_up, all on the warehouse webhook; no carrier is involved;
- orders for a location in ``reject_locations``: one ``rejected`` event (with a reason) after the first delay.

``POST /warehouse/fulfillment-orders/{id}/cancel`` stops a fulfillment order that has not left yet (not shipped,
not collected): its run is canceled, so no further webhook is sent for it. Webhooks are retried because the
OMS projects shipments asynchronously and may not know a fulfillment order or tracking number for a moment.
"""

import asyncio
import secrets
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from typing import Annotated, Any, Literal

import httpx
import structlog
from fastapi import FastAPI, Header, HTTPException
from pydantic import BaseModel

from integrations.warehouse import FulfillmentRequest

log = structlog.get_logger(__name__)

Stage = Literal[
    "received",
    "picked",
    "packed",
    "shipped",
    "in_transit",
    "out_for_delivery",
    "delivered",
    "ready_for_pickup",
    "picked_up",
    "rejected",
    "canceled",
    "failed",
]

CARRIER = "yamato"
RETRY_FIRST_S = 0.2
RETRY_MAX_S = 5.0
RETRY_ATTEMPTS = 20
# Answers meaning "not yet": the OMS has not projected the fulfillment order or shipment, or is busy.
# 409 is not one: the OMS answers it for an order that has closed, which no retry will reopen.
_RETRY_STATUSES = frozenset({404, 425, 429})
_SHIP_FLOW: tuple[Stage, ...] = ("picked", "packed", "shipped", "in_transit", "out_for_delivery", "delivered")
_PICKUP_FLOW: tuple[Stage, ...] = ("picked", "packed", "ready_for_pickup", "picked_up")
_REJECT_FLOW: tuple[Stage, ...] = ("rejected",)
_CARRIER_EVENTS = frozenset[Stage]({"in_transit", "out_for_delivery", "delivered"})
# From these steps on, the goods have left the location: the fulfillment order can no longer be canceled.
_HANDOVER_EVENTS = frozenset[Stage]({"shipped", "picked_up"})
PICKUP = "pickup"


def parse_locations(text: str) -> frozenset[str]:
    """``"STORE-A, DC-B"`` -> ``{"STORE-A", "DC-B"}``; blanks are ignored, so ``""`` is nobody."""
    return frozenset(part.strip() for part in text.split(",") if part.strip())


class ReceivedFulfillmentOrder(BaseModel):
    fulfillment_order_id: str
    order_id: str
    location_id: str
    status: Stage = "received"
    tracking_number: str | None = None
    carrier: str | None = None
    error: str | None = None
    request: FulfillmentRequest


class CancelAnswer(BaseModel):
    fulfillment_order_id: str
    canceled: bool
    status: Stage


class _Simulator:
    def __init__(
        self, oms_api_url: str, partner_token: str, mode: str, delay_s: float, reject_locations: frozenset[str]
    ) -> None:
        self.oms_api_url = oms_api_url.rstrip("/")
        self.partner_token = partner_token
        self.mode = mode
        self.delay_s = delay_s
        self.reject_locations = reject_locations
        self.received: dict[str, ReceivedFulfillmentOrder] = {}
        self.tracking_numbers: set[str] = set()
        # Fulfillment orders canceled before they were received: a late release of one is never run.
        self.canceled_unknown: set[str] = set()
        # Fulfillment orders whose goods have left (shipped or collected), from the moment that step is sent.
        self.handed_over: set[str] = set()
        # The event loop only keeps weak references to tasks; `tasks` keeps them alive until done,
        # `runs` finds a fulfillment order's run to cancel it.
        self.tasks: set[asyncio.Task[None]] = set()
        self.runs: dict[str, asyncio.Task[None]] = {}
        self.client: httpx.AsyncClient | None = None

    def accept(self, request: FulfillmentRequest) -> ReceivedFulfillmentOrder:
        fo_id = request.fulfillment_order_id
        known = self.received.get(fo_id)
        if known is not None:
            return known
        record = ReceivedFulfillmentOrder(
            fulfillment_order_id=fo_id, order_id=request.order_id, location_id=request.location_id, request=request
        )
        self.received[fo_id] = record
        if fo_id in self.canceled_unknown:
            record.status = "canceled"
            log.info("fulfillment_order_received_after_cancel", fulfillment_order_id=fo_id)
            return record
        log.info("fulfillment_order_received", fulfillment_order_id=fo_id, mode=self.mode)
        if self.mode == "auto":
            task = asyncio.create_task(self._run(record, self._flow_of(request)), name=f"simulate-{fo_id}")
            self.tasks.add(task)
            self.runs[fo_id] = task
            task.add_done_callback(self.tasks.discard)
            task.add_done_callback(lambda _: self.runs.pop(fo_id, None))
        return record

    def _flow_of(self, request: FulfillmentRequest) -> tuple[Stage, ...]:
        if request.location_id in self.reject_locations:
            return _REJECT_FLOW
        return _PICKUP_FLOW if request.delivery_method == PICKUP else _SHIP_FLOW

    async def cancel(self, fo_id: str) -> CancelAnswer | None:
        """Stop the fulfillment order if its goods have not left; None once they have (shipped or collected).

        Idempotent. An unknown id is canceled too, and remembered: nothing will ever ship for it, even if
        its release arrives later (the OMS may still be retrying it).
        """
        if fo_id in self.handed_over:
            return None
        record = self.received.get(fo_id)
        if record is None:
            self.canceled_unknown.add(fo_id)
            log.info("fulfillment_order_canceled_unknown", fulfillment_order_id=fo_id)
            return CancelAnswer(fulfillment_order_id=fo_id, canceled=True, status="canceled")
        task = self.runs.get(fo_id)
        if task is not None:
            task.cancel()
            # Wait for the run to end (it leaves `runs` then), so nothing is sent for it once this answer is given.
            await asyncio.wait([task])
        if record.status != "rejected":
            # A rejected fulfillment order had stopped already: it keeps the location's answer as its status.
            record.status = "canceled"
        log.info("fulfillment_order_canceled", fulfillment_order_id=fo_id, status=record.status)
        return CancelAnswer(fulfillment_order_id=fo_id, canceled=True, status=record.status)

    def new_tracking_number(self) -> str:
        while True:
            number = "YMT" + "".join(secrets.choice("0123456789") for _ in range(10))
            if number not in self.tracking_numbers:
                self.tracking_numbers.add(number)
                return number

    async def _run(self, record: ReceivedFulfillmentOrder, flow: tuple[Stage, ...]) -> None:
        fo_id = record.fulfillment_order_id
        body: dict[str, Any]
        for stage in flow:
            await asyncio.sleep(self.delay_s)
            if stage in _CARRIER_EVENTS:
                path, body = "/v1/webhooks/carrier", {"tracking_number": record.tracking_number, "event": stage}
            else:
                path, body = "/v1/webhooks/warehouse", {"fulfillment_order_id": fo_id, "event": stage}
                if stage == "shipped":
                    record.tracking_number, record.carrier = self.new_tracking_number(), CARRIER
                    body |= {"tracking_number": record.tracking_number, "carrier": record.carrier}
                elif stage == "rejected":
                    body["reason"] = f"no capacity at {record.location_id}"
            if stage in _HANDOVER_EVENTS:
                # The parcel has left (or the customer has it) before the OMS hears of it: no cancel from here on.
                self.handed_over.add(fo_id)
            error = await self._send(path, body, fo_id)
            if error is not None:
                record.status, record.error = "failed", f"{stage}: {error}"
                return
            record.status = stage

    async def _send(self, path: str, body: dict[str, Any], fo_id: str) -> str | None:
        """Deliver one webhook, retrying while the OMS says "not yet"; the last answer if it never took it."""
        assert self.client is not None, "the simulator's lifespan has not started"
        headers = {"Authorization": f"Bearer {self.partner_token}"}
        delay = RETRY_FIRST_S
        outcome = ""
        for attempt in range(1, RETRY_ATTEMPTS + 1):
            try:
                response = await self.client.post(self.oms_api_url + path, json=body, headers=headers)
            except httpx.TransportError as err:
                outcome = f"unreachable: {err!r}"
            else:
                if response.is_success:
                    log.info("webhook_sent", path=path, fulfillment_order_id=fo_id, webhook=body["event"])
                    return None
                outcome = f"{response.status_code}: {response.text[:300]}"
                if response.status_code < 500 and response.status_code not in _RETRY_STATUSES:
                    log.warning("webhook_refused", path=path, fulfillment_order_id=fo_id, answer=outcome)
                    return outcome
            log.info("webhook_retry", path=path, fulfillment_order_id=fo_id, attempt=attempt, answer=outcome)
            await asyncio.sleep(delay)
            delay = min(delay * 2, RETRY_MAX_S)
        log.error("webhook_gave_up", path=path, fulfillment_order_id=fo_id, attempts=RETRY_ATTEMPTS, answer=outcome)
        return outcome


def create_simulator_app(
    oms_api_url: str,
    partner_token: str,
    mode: str,
    delay_s: float,
    transport: httpx.AsyncBaseTransport | None = None,
    reject_locations: Iterable[str] = (),
) -> FastAPI:
    """``transport`` replaces the network towards the OMS (tests hand in an ``httpx.MockTransport``);
    fulfillment orders for ``reject_locations`` are rejected instead of fulfilled (``OMS_SIMULATE_REJECT``)."""
    if mode not in ("auto", "off"):
        raise ValueError(f"simulator mode is 'auto' or 'off', not {mode!r}")
    sim = _Simulator(oms_api_url, partner_token, mode, delay_s, frozenset(reject_locations))

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with httpx.AsyncClient(transport=transport, timeout=10.0) as client:
            sim.client = client
            try:
                yield
            finally:
                for task in list(sim.tasks):
                    task.cancel()
                await asyncio.gather(*sim.tasks, return_exceptions=True)
                sim.client = None

    app = FastAPI(title="OMS partner simulators", lifespan=lifespan)

    @app.post("/warehouse/fulfillment-orders", status_code=202, tags=["warehouse"])
    async def release(
        request: FulfillmentRequest, idempotency_key: Annotated[str | None, Header(alias="Idempotency-Key")] = None
    ) -> ReceivedFulfillmentOrder:
        # Deduplicated on the fulfillment order id, which is what the OMS sends as Idempotency-Key:
        # a repeat is acknowledged with what was received first and never runs a second time.
        if idempotency_key is not None and idempotency_key != request.fulfillment_order_id:
            raise HTTPException(400, "Idempotency-Key must be the fulfillment order id")
        return sim.accept(request)

    @app.post(
        "/warehouse/fulfillment-orders/{fulfillment_order_id}/cancel",
        tags=["warehouse"],
        responses={409: {"description": "too late: the fulfillment order has shipped or been picked up"}},
    )
    async def cancel(fulfillment_order_id: str) -> CancelAnswer:
        """Stop a fulfillment order before it leaves; no webhook is sent for it afterwards. Idempotent."""
        answer = await sim.cancel(fulfillment_order_id)
        if answer is None:
            raise HTTPException(409, f"{fulfillment_order_id} has already left the location (shipped or picked up)")
        return answer

    @app.get("/warehouse/fulfillment-orders", tags=["warehouse"])
    async def received() -> list[ReceivedFulfillmentOrder]:
        return list(sim.received.values())

    @app.get("/healthz")
    async def healthz() -> dict[str, Any]:
        return {"status": "ok", "mode": sim.mode, "reject_locations": sorted(sim.reject_locations)}

    return app
