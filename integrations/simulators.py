"""Warehouse, store and carrier simulators in one small service, so a placed order runs to delivery on its own.

The warehouse accepts fulfillment orders like a WMS would (idempotent on the fulfillment order id) and,
in ``auto`` mode, reports to the OMS one step per delay:

- shipped orders: picked, packed, shipped (warehouse webhook), then in transit, out for delivery and
  delivered for the tracking number (carrier webhook);
- pickup orders (``delivery_method == "pickup"``): picked, packed, ready_for_pickup and, once the customer
  has come, picked_up, all on the warehouse webhook; no carrier is involved;
- orders for a location in ``reject_locations``: one ``rejected`` event (with a reason) after the first delay.

What the locations received and the webhooks they owe live in PostgreSQL (``integrations/simulator_store.py``),
so a restarted simulator goes on where it stopped, and several simulator processes share the work without
sending a step twice. Webhooks are retried while the OMS answers "not now" (425, 429, 5xx or no answer) and
given up on any other 4xx, as the OMS's contract says (a 4xx means the event never will be taken).
``failure_rate`` makes the partners fail like real ones (``integrations/simulator_faults.py``).

Partner calls: release (a repeat answers the record and resends the latest warehouse webhook), cancel (until
the goods leave: shipped or collected), amend (take units off, until picking starts), and the carrier's
tracking (which resends the latest carrier webhook). The SMS provider, and what customers were texted and mailed,
are in integrations/simulator_messages.py.
"""

import asyncio
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping
from contextlib import asynccontextmanager
from typing import Annotated, Any, TypeVar

import httpx
import structlog
from fastapi import FastAPI, Header, HTTPException
from pydantic import BaseModel
from sqlalchemy import Engine

from domain.models import SkuQuantity
from integrations.simulator_faults import FaultPlan
from integrations.simulator_flows import CARRIER_PATH, SIGNATURE_HEADER, Stage, flow_of, parse_locations, sign_webhook
from integrations.simulator_messages import message_routes
from integrations.simulator_store import Outcome, SimulatorStore, Webhook
from integrations.warehouse import FulfillmentRequest

__all__ = ["create_simulator_app", "parse_locations"]

log = structlog.get_logger(__name__)
T = TypeVar("T")

# Answers meaning "not yet": the OMS has not projected the fulfillment order or shipment, or is busy.
# 409 is not one: the OMS answers it for an order that has closed, which no retry will reopen.
_RETRY_STATUSES = frozenset({425, 429})
# Longer than a webhook's HTTP timeout, so a claimed webhook is never sent by two senders at once.
LEASE_S = 30.0
HTTP_TIMEOUT_S = 10.0
BATCH = 50


class ReceivedFulfillmentOrder(BaseModel):
    fulfillment_order_id: str
    order_id: str
    location_id: str
    status: Stage = "received"
    lines: list[SkuQuantity]  # what the location still holds for it (an amend takes units off)
    tracking_number: str | None = None
    carrier: str | None = None
    error: str | None = None
    request: FulfillmentRequest  # the release as received
    owed: int = 0  # webhooks still to be sent for it (retries, repeats and steps to come)

    @classmethod
    def of(cls, row: dict[str, Any]) -> "ReceivedFulfillmentOrder":
        return cls.model_validate({k: row[k] for k in cls.model_fields if k in row})


class CancelAnswer(BaseModel):
    fulfillment_order_id: str
    canceled: bool
    status: Stage


class AmendRequest(BaseModel):
    remove: list[SkuQuantity]


class ParcelAnswer(BaseModel):
    tracking_number: str
    status: str


class _Sender:
    """Claims due webhooks, posts each once, and records the answer; the store schedules what follows."""

    def __init__(
        self,
        store: SimulatorStore,
        client: httpx.AsyncClient,
        url: str,
        token: str,
        poll_s: float,
        secrets: Mapping[str, str] | None = None,
    ) -> None:
        self.store, self.client, self.url, self.poll_s = store, client, url, poll_s
        self.headers = {"Authorization": f"Bearer {token}"}
        # partner id -> the secret its webhooks are signed with (OMS_PARTNER_SECRETS)
        self.secrets = dict(secrets or {})
        # Sends in flight, by webhook id, with their fulfillment order: a cancel aborts that order's sends.
        self.inflight: dict[int, tuple[str, asyncio.Task[None]]] = {}
        self.unsettled: set[int] = set()

    async def run(self) -> None:
        while True:
            try:
                claimed = await asyncio.to_thread(self.store.claim, BATCH, LEASE_S)
            except Exception:  # the database restarting must not end the loop
                log.exception("simulator_claim_failed")
                claimed = []
            for webhook in claimed:
                self.unsettled.add(webhook.id)
                task = asyncio.create_task(self._deliver(webhook), name=f"webhook-{webhook.fulfillment_order_id}")
                self.inflight[webhook.id] = (webhook.fulfillment_order_id, task)
                task.add_done_callback(self._forget(webhook.id))
            if len(claimed) < BATCH:
                await asyncio.sleep(self.poll_s)

    def _forget(self, webhook_id: int) -> Callable[["asyncio.Task[None]"], None]:
        return lambda _: self.inflight.pop(webhook_id, None) and None

    async def abort(self, fo_id: str) -> None:
        """Abandon the sends in flight for a fulfillment order the OMS has just stopped (in this process)."""
        tasks = [task for fo, task in self.inflight.values() if fo == fo_id]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def stop(self) -> None:
        tasks = [task for _, task in self.inflight.values()]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        # What this process claimed and did not finish is due again at once, for the next simulator.
        await asyncio.to_thread(self.store.unclaim, sorted(self.unsettled))

    async def _deliver(self, webhook: Webhook) -> None:
        outcome, answer = await self._post(webhook)
        await asyncio.to_thread(self.store.settle, webhook.id, outcome, answer)
        self.unsettled.discard(webhook.id)

    async def _post(self, webhook: Webhook) -> tuple[Outcome, str]:
        where = {"path": webhook.path, "fulfillment_order_id": webhook.fulfillment_order_id, "webhook": webhook.stage}
        content = json.dumps(webhook.body).encode()
        try:
            signature = await self._signature(webhook, content)
        except Exception as err:  # the database restarting: the webhook is due again
            log.info("webhook_retry", attempt=webhook.attempts, answer=f"not signed: {err!r}", **where)
            return "retry", f"not signed: {err!r}"
        headers = {**self.headers, "Content-Type": "application/json", **signature}
        try:
            response = await self.client.post(self.url + webhook.path, content=content, headers=headers)
        except httpx.TransportError as err:
            log.info("webhook_retry", attempt=webhook.attempts, answer=repr(err), **where)
            return "retry", f"unreachable: {err!r}"
        answer = f"{response.status_code}: {response.text[:300]}"
        if response.is_success:
            log.info("webhook_sent", **where)
            return "sent", answer
        if response.status_code >= 500 or response.status_code in _RETRY_STATUSES:
            log.info("webhook_retry", attempt=webhook.attempts, answer=answer, **where)
            return "retry", answer
        log.warning("webhook_refused", answer=answer, **where)
        return "refused", answer

    async def _signature(self, webhook: Webhook, content: bytes) -> dict[str, str]:
        """X-OMS-Signature over the bytes sent, with the secret of the partner reporting (the fulfillment order's
        location, or its carrier for a carrier webhook); nothing when that partner has no secret."""
        if not self.secrets:
            return {}
        fo = await asyncio.to_thread(self.store.record, webhook.fulfillment_order_id) or {}
        partner = fo.get("carrier") if webhook.path == CARRIER_PATH else fo.get("location_id")
        secret = self.secrets.get(str(partner))
        return {} if secret is None else {SIGNATURE_HEADER: sign_webhook(secret, content, int(time.time()))}


def create_simulator_app(
    oms_api_url: str,
    partner_token: str,
    mode: str,
    delay_s: float,
    transport: httpx.AsyncBaseTransport | None = None,
    reject_locations: Iterable[str] = (),
    *,
    engine: Engine,
    faults: FaultPlan | None = None,
    retry_first_s: float = 0.2,
    partner_secrets: Mapping[str, str] | None = None,
) -> FastAPI:
    """``transport`` replaces the network towards the OMS (tests hand in an ``httpx.MockTransport``);
    fulfillment orders for ``reject_locations`` are rejected instead of fulfilled (``OMS_SIMULATE_REJECT``);
    ``engine`` holds the simulators' state; ``faults`` decides which partner calls fail; each webhook of a partner
    in ``partner_secrets`` (partner id -> secret, OMS_PARTNER_SECRETS) is signed with its secret."""
    if mode not in ("auto", "off"):
        raise ValueError(f"simulator mode is 'auto' or 'off', not {mode!r}")
    rejecting = frozenset(reject_locations)
    plan = faults or FaultPlan()
    store = SimulatorStore(engine, delay_s, plan, retry_first_s=retry_first_s)
    sender: _Sender | None = None

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        nonlocal sender
        if mode != "auto":
            yield
            return
        async with httpx.AsyncClient(transport=transport, timeout=HTTP_TIMEOUT_S) as client:
            poll_s = max(0.01, min(0.5, delay_s / 2))
            sender = _Sender(store, client, oms_api_url.rstrip("/"), partner_token, poll_s, partner_secrets)
            loop = asyncio.create_task(sender.run(), name="simulator-sender")
            try:
                yield
            finally:
                loop.cancel()
                await asyncio.gather(loop, return_exceptions=True)
                await sender.stop()
                sender = None

    async def partner_call(work: Callable[[], Awaitable[T]]) -> T:
        """Run a partner call, failing it now and then as ``faults`` says: 503 before the work, or the work
        done and its answer lost (503), or done slowly and timed out (504)."""
        fault = plan.endpoint()
        if fault == "unavailable":
            raise HTTPException(503, "simulated outage: nothing was done, try again")
        if fault == "slow":
            await asyncio.sleep(plan.slow_s)
        try:
            result = await work()
        except HTTPException:
            if fault is None:
                raise
        if fault is not None:  # whatever the answer was, refusals included, it is lost
            raise HTTPException(503 if fault == "lost_answer" else 504, "simulated outage: the answer was lost")
        return result

    app = FastAPI(title="OMS partner simulators", lifespan=lifespan)
    app.include_router(message_routes(engine, partner_call))  # the SMS provider; what customers were sent

    @app.post("/warehouse/fulfillment-orders", status_code=202, tags=["warehouse"])
    async def release(
        request: FulfillmentRequest, idempotency_key: Annotated[str | None, Header(alias="Idempotency-Key")] = None
    ) -> ReceivedFulfillmentOrder:
        """Deduplicated on the fulfillment order id, which the OMS sends as Idempotency-Key: a repeat answers
        what was received first, never runs twice, and sends the latest warehouse webhook again."""
        if idempotency_key is not None and idempotency_key != request.fulfillment_order_id:
            raise HTTPException(400, "Idempotency-Key must be the fulfillment order id")
        flow = flow_of(request.location_id, request.delivery_method, rejecting) if mode == "auto" else ()

        async def work() -> ReceivedFulfillmentOrder:
            row, new = await asyncio.to_thread(store.accept, request.model_dump(mode="json"), flow)
            log.info("fulfillment_order_received", fulfillment_order_id=request.fulfillment_order_id, new=new)
            return ReceivedFulfillmentOrder.of(row)

        return await partner_call(work)

    @app.post(
        "/warehouse/fulfillment-orders/{fulfillment_order_id}/cancel",
        tags=["warehouse"],
        responses={409: {"description": "too late: the fulfillment order has shipped or been picked up"}},
    )
    async def cancel(fulfillment_order_id: str) -> CancelAnswer:
        """Stop a fulfillment order before its goods leave; no webhook is sent for it afterwards. Idempotent.
        An unknown id is canceled too, and a later release of it never runs."""

        async def work() -> CancelAnswer:
            row = await asyncio.to_thread(store.cancel, fulfillment_order_id)
            if row is None:
                raise HTTPException(409, f"{fulfillment_order_id} has already left the location (shipped or picked up)")
            if sender is not None:
                await sender.abort(fulfillment_order_id)
            log.info("fulfillment_order_canceled", fulfillment_order_id=fulfillment_order_id, status=row["status"])
            return CancelAnswer(fulfillment_order_id=fulfillment_order_id, canceled=True, status=row["status"])

        return await partner_call(work)

    @app.post(
        "/warehouse/fulfillment-orders/{fulfillment_order_id}/amend",
        tags=["warehouse"],
        responses={
            400: {"description": "the fulfillment order does not hold those units"},
            404: {"description": "no such fulfillment order"},
            409: {"description": "too late: picking has started"},
        },
    )
    async def amend(
        fulfillment_order_id: str,
        body: AmendRequest,
        idempotency_key: Annotated[str, Header(alias="Idempotency-Key")],
    ) -> ReceivedFulfillmentOrder:
        """Take units off a fulfillment order that is not picked yet, once per key; amended to nothing, it is
        canceled. The answer holds the remaining lines; the webhooks sent afterwards carry them."""
        remove = [item.model_dump(mode="json") for item in body.remove]

        async def work() -> ReceivedFulfillmentOrder:
            amended = await asyncio.to_thread(store.amend, fulfillment_order_id, remove, idempotency_key)
            if amended.refusal is not None:
                raise HTTPException(*amended.refusal)
            assert amended.record is not None
            log.info("fulfillment_order_amended", fulfillment_order_id=fulfillment_order_id, remove=remove)
            return ReceivedFulfillmentOrder.of(amended.record)

        return await partner_call(work)

    @app.get("/warehouse/fulfillment-orders", tags=["warehouse"])
    async def received() -> list[ReceivedFulfillmentOrder]:
        return [ReceivedFulfillmentOrder.of(row) for row in await asyncio.to_thread(store.records)]

    @app.get("/warehouse/fulfillment-orders/{fulfillment_order_id}", tags=["warehouse"])
    async def received_one(fulfillment_order_id: str) -> ReceivedFulfillmentOrder:
        row = await asyncio.to_thread(store.record, fulfillment_order_id)
        if row is None:
            raise HTTPException(404, f"no fulfillment order {fulfillment_order_id}")
        return ReceivedFulfillmentOrder.of(row)

    @app.get("/carrier/parcels/{tracking_number}", tags=["carrier"], responses={404: {"description": "no parcel"}})
    async def parcel(tracking_number: str) -> ParcelAnswer:
        """Where the parcel is: the latest carrier event sent ("shipped" before any). Asking also sends that
        event again, so one the OMS missed arrives."""

        async def work() -> ParcelAnswer:
            status = await asyncio.to_thread(store.track, tracking_number)
            if status is None:
                raise HTTPException(404, f"no parcel {tracking_number}")
            return ParcelAnswer(tracking_number=tracking_number, status=status)

        return await partner_call(work)

    @app.get("/healthz")
    async def healthz() -> dict[str, Any]:
        return {"status": "ok", "mode": mode, "reject_locations": sorted(rejecting), "failure_rate": plan.rate}

    return app
