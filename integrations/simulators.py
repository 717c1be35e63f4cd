"""Warehouse and carrier simulators in one small service, so a placed order runs to delivery on its own.

The warehouse accepts fulfillment orders like a WMS would (idempotent on the fulfillment order id) and,
in ``auto`` mode, reports picked, packed and shipped to the OMS; the carrier then reports in transit and
delivered for the tracking number. Webhooks are retried because the OMS projects shipments
asynchronously and may not know a fulfillment order or tracking number for a moment.
"""

import asyncio
import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated, Any, Literal

import httpx
import structlog
from fastapi import FastAPI, Header, HTTPException
from pydantic import BaseModel

from integrations.warehouse import FulfillmentRequest

log = structlog.get_logger(__name__)

Stage = Literal["received", "picked", "packed", "shipped", "in_transit", "delivered", "failed"]

CARRIER = "yamato"
RETRY_FIRST_S = 0.2
RETRY_MAX_S = 5.0
RETRY_ATTEMPTS = 20
# Answers meaning "not yet": the OMS has not projected the fulfillment order or shipment, or is restarting.
_RETRY_STATUSES = frozenset({404, 409, 425, 429})
_WAREHOUSE_EVENTS: tuple[Stage, ...] = ("picked", "packed", "shipped")
_CARRIER_EVENTS: tuple[Stage, ...] = ("in_transit", "delivered")


class ReceivedFulfillmentOrder(BaseModel):
    fulfillment_order_id: str
    order_id: str
    location_id: str
    status: Stage = "received"
    tracking_number: str | None = None
    carrier: str | None = None
    error: str | None = None
    request: FulfillmentRequest


class _Simulator:
    def __init__(self, oms_api_url: str, partner_token: str, mode: str, delay_s: float) -> None:
        self.oms_api_url = oms_api_url.rstrip("/")
        self.partner_token = partner_token
        self.mode = mode
        self.delay_s = delay_s
        self.received: dict[str, ReceivedFulfillmentOrder] = {}
        self.tracking_numbers: set[str] = set()
        # The event loop only keeps weak references to tasks; this set keeps them alive until done.
        self.tasks: set[asyncio.Task[None]] = set()
        self.client: httpx.AsyncClient | None = None

    def accept(self, request: FulfillmentRequest) -> ReceivedFulfillmentOrder:
        known = self.received.get(request.fulfillment_order_id)
        if known is not None:
            return known
        record = ReceivedFulfillmentOrder(
            fulfillment_order_id=request.fulfillment_order_id,
            order_id=request.order_id,
            location_id=request.location_id,
            request=request,
        )
        self.received[request.fulfillment_order_id] = record
        log.info("fulfillment_order_received", fulfillment_order_id=record.fulfillment_order_id, mode=self.mode)
        if self.mode == "auto":
            task = asyncio.create_task(self._run(record), name=f"simulate-{record.fulfillment_order_id}")
            self.tasks.add(task)
            task.add_done_callback(self.tasks.discard)
        return record

    def new_tracking_number(self) -> str:
        while True:
            number = "YMT" + "".join(secrets.choice("0123456789") for _ in range(10))
            if number not in self.tracking_numbers:
                self.tracking_numbers.add(number)
                return number

    async def _run(self, record: ReceivedFulfillmentOrder) -> None:
        fo_id = record.fulfillment_order_id
        body: dict[str, Any]
        for stage in (*_WAREHOUSE_EVENTS, *_CARRIER_EVENTS):
            await asyncio.sleep(self.delay_s)
            if stage in _WAREHOUSE_EVENTS:
                path, body = "/v1/webhooks/warehouse", {"fulfillment_order_id": fo_id, "event": stage}
                if stage == "shipped":
                    record.tracking_number, record.carrier = self.new_tracking_number(), CARRIER
                    body |= {"tracking_number": record.tracking_number, "carrier": record.carrier}
            else:
                path, body = "/v1/webhooks/carrier", {"tracking_number": record.tracking_number, "event": stage}
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
) -> FastAPI:
    """``transport`` replaces the network towards the OMS (tests hand in an ``httpx.MockTransport``)."""
    if mode not in ("auto", "off"):
        raise ValueError(f"simulator mode is 'auto' or 'off', not {mode!r}")
    sim = _Simulator(oms_api_url, partner_token, mode, delay_s)

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

    @app.get("/warehouse/fulfillment-orders", tags=["warehouse"])
    async def received() -> list[ReceivedFulfillmentOrder]:
        return list(sim.received.values())

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok", "mode": sim.mode}

    return app
