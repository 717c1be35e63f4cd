"""Partner webhooks become signals to the order's workflow; repeats and reordering are harmless there.

Before anything is signalled, the partner the event concerns (the fulfillment order's location, the parcel's
carrier, the return's location) is found in the read model whenever it matters: a token scoped to another partner
gets 403, and a partner with a secret in OMS_PARTNER_SECRETS must have signed the raw body (X-OMS-Signature,
within SIGNATURE_TOLERANCE_S of now) whatever the token, or the answer is 401.
"""

import asyncio
import hashlib
import hmac
import time
from collections.abc import Callable, Collection, Mapping
from typing import TypeVar

import structlog
from fastapi import APIRouter, HTTPException, Request
from sqlalchemy.exc import SQLAlchemyError
from temporalio.service import RPCError, RPCStatusCode

from domain.ids import order_of_fulfillment_order, order_of_return, workflow_id_for
from starter.api.auth import Principal, require, require_speaks_for
from starter.api.orders import Svc
from workflows.messages import (
    CARRIER_SIGNAL,
    RETURN_SIGNAL,
    WAREHOUSE_SIGNAL,
    CarrierEvent,
    ReturnEvent,
    WarehouseEvent,
)

router = APIRouter(prefix="/v1/webhooks", tags=["webhooks"])
log = structlog.get_logger()
T = TypeVar("T")
# How partners read our answers: 202 taken, 4xx never will be (stop sending), 5xx try again.
ANSWERS: dict[int | str, dict[str, str]] = {
    401: {"description": "no valid token, or the partner's X-OMS-Signature is missing, stale or wrong: final"},
    403: {"description": "the token speaks for another partner than the one the event concerns: final"},
    404: {"description": "no such order, fulfillment order or return: final"},
    409: {"description": "the order has closed and takes no more partner events: final"},
    503: {
        "description": "not taken for now (Temporal or the database is unavailable, or a parcel no shipment has "
        "yet): send it again"
    },
}

# What the order's workflow acts on; picked and packed are progress it does not record.
_FORWARDED_WAREHOUSE_EVENTS = frozenset({"shipped", "rejected", "ready_for_pickup", "picked_up"})
DEFAULT_REJECT_REASON = "rejected by the location (no reason given)"
# seconds a carrier is asked to wait before it sends again news of a parcel not known yet
NOT_KNOWN_RETRY_AFTER_S = 30


SIGNATURE_HEADER = "X-OMS-Signature"
SIGNATURE_TOLERANCE_S = 300


def sign(secret: str, body: bytes, at: int) -> str:
    """The X-OMS-Signature of `body` sent at unix second `at`: `t=<at>,v1=<hex HMAC-SHA256(secret, "<at>.<body>")>`."""
    mac = hmac.new(secret.encode(), f"{at}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={at},v1={mac}"


def signature_refusal(header: str | None, body: bytes, secret: str, now: float) -> str | None:
    """Why `header` does not sign `body` with `secret` at `now`, or None when it does. Several v1 values may be
    given (one per secret the sender holds); one matching is enough."""
    if not header:
        return f"{SIGNATURE_HEADER} is missing"
    fields = [part.strip().partition("=") for part in header.split(",")]
    stamps = [value for key, _, value in fields if key == "t"]
    macs = [value for key, _, value in fields if key == "v1"]
    if len(stamps) != 1 or not stamps[0].isdigit() or not macs:
        return f"{SIGNATURE_HEADER} is not t=<unix seconds>,v1=<hex HMAC-SHA256>"
    at = int(stamps[0])
    if abs(now - at) > SIGNATURE_TOLERANCE_S:
        return f"{SIGNATURE_HEADER} was made at {at}, more than {SIGNATURE_TOLERANCE_S} s from now"
    expected = sign(secret, body, at).partition(",v1=")[2]
    # every candidate is compared, so the time taken does not tell which (or whether one) matched
    matched = [hmac.compare_digest(expected.encode(), mac.encode()) for mac in macs]
    return None if any(matched) else f"{SIGNATURE_HEADER} does not match the body"


def _partner_secrets(request: Request) -> Mapping[str, str]:
    secrets: Mapping[str, str] = getattr(request.app.state, "partner_secrets", {})
    return secrets


def _partner_matters(request: Request, who: Principal) -> bool:
    """Whether the partner an event concerns must be known: the token is scoped, or some partner has a secret."""
    return who.partner_id is not None or bool(_partner_secrets(request))


async def _admit(request: Request, who: Principal, partners: Collection[str], what: str) -> None:
    """401 unless each of `partners` that has a secret signed the raw body; then 403 unless the token speaks for
    each of them."""
    secrets = _partner_secrets(request)
    body = await request.body()
    header = request.headers.get(SIGNATURE_HEADER)
    for partner in sorted(partners):
        secret = secrets.get(partner)
        refusal = None if secret is None else signature_refusal(header, body, secret, time.time())
        if refusal is not None:
            log.warning("partner event refused: bad signature", what=what, partner=partner, reason=refusal)
            raise HTTPException(401, f"the event for {what} must be signed by {partner}: {refusal}")
    for partner in sorted(partners):
        require_speaks_for(who, partner, what)


async def _looked_up(what: str, query: Callable[[str], T], key: str) -> T:
    """A read-model question; 503 (send it again) when the database cannot answer now."""
    try:
        return await asyncio.to_thread(query, key)
    except SQLAlchemyError as err:
        raise try_again(what, err) from err


def try_again(what: str, err: Exception) -> HTTPException:
    """A failure that may pass: the event was not taken, and the partner sends it again (repeats are harmless)."""
    log.warning("partner event not taken; the partner will send it again", what=what, error=str(err))
    return HTTPException(503, f"{what} could not be taken now; try again: {err}")


async def signal_order(svc: Svc, order_id: str, name: str, payload: object) -> None:
    """Signal the order's workflow. 404 for an order Temporal does not know and 409 for one that has closed are
    final for the partner; anything else Temporal answers (unavailable, deadline exceeded, resource exhausted,
    internal ...) is 503, so a shipped or delivered event is sent again rather than lost."""
    try:
        await svc.client.get_workflow_handle(workflow_id_for(order_id)).signal(name, payload)
    except RPCError as err:
        if err.status != RPCStatusCode.NOT_FOUND:
            raise try_again(f"the event for order {order_id}", err) from err
        if "completed" not in err.message:
            raise HTTPException(404, f"no order {order_id}") from err
        # A closed order cannot change any more; the partner gets a clear answer rather than a retry loop.
        raise HTTPException(409, f"order {order_id} no longer accepts partner events: {err.message}") from err


@router.post("/warehouse", status_code=202, responses=ANSWERS)
async def warehouse(
    event: WarehouseEvent, request: Request, svc: Svc, who: Principal = require("partner")
) -> dict[str, str]:
    if event.event == "shipped" and not (event.tracking_number and event.carrier):
        raise HTTPException(422, "a shipped event needs tracking_number and carrier")
    fo_id = event.fulfillment_order_id
    order_id = order_of_fulfillment_order(fo_id)
    if order_id is None:
        raise HTTPException(404, f"no fulfillment order {fo_id}")
    if _partner_matters(request, who):
        location = await _looked_up(f"fulfillment order {fo_id}", svc.queries.location_of_fulfillment_order, fo_id)
        if location is None:
            raise _not_known_yet(f"fulfillment order {fo_id}")
        await _admit(request, who, [location], f"fulfillment order {fo_id}")
    if event.event == "rejected" and not (event.reason and event.reason.strip()):
        event = event.model_copy(update={"reason": DEFAULT_REJECT_REASON})
    if event.event in _FORWARDED_WAREHOUSE_EVENTS:
        await signal_order(svc, order_id, WAREHOUSE_SIGNAL, event)
    # picked and packed are progress the order does not act on; they are acknowledged, not recorded
    return {"status": "accepted", "order_id": order_id}


@router.post("/carrier", status_code=202, responses=ANSWERS)
async def carrier(
    event: CarrierEvent, request: Request, svc: Svc, who: Principal = require("partner")
) -> dict[str, str | list[str]]:
    """A parcel's news. One parcel may carry fulfillment orders of several orders: each order is told. The event is
    taken (202) once every open order has it; 503 if any could not be told now (those told already ignore the
    repeat), or if no shipment has the tracking number yet; 409 only when every order of the parcel has closed. A
    carrier's token acts on its own fulfillment orders of the parcel only."""
    parcel = f"the parcel {event.tracking_number}"
    if _partner_matters(request, who):
        carried = await _looked_up(parcel, svc.queries.parcel_of_tracking, event.tracking_number)
        if not carried:
            raise _not_known_yet(f"shipment with tracking number {event.tracking_number}")
        if who.partner_id is not None:
            carried = [row for row in carried if row[2] == who.partner_id] or carried
        await _admit(request, who, {carrier for _, _, carrier in carried if carrier}, parcel)
        found = [(order_id, fo_id) for order_id, fo_id, _ in carried]
    else:
        found = await _looked_up(parcel, svc.queries.fulfillment_orders_of_tracking, event.tracking_number)
    order_ids = sorted({order_id for order_id, _ in found})
    if not order_ids:
        raise _not_known_yet(f"shipment with tracking number {event.tracking_number}")
    if event.event == "delivered":
        await _signal_each(svc, order_ids, event)
    return {"status": "accepted", "order_id": order_ids[0], "order_ids": order_ids}


def _not_known_yet(what: str) -> HTTPException:
    """What the read model has not got (yet). Not final: the warehouse's "shipped" may come after the carrier's
    news (partners' events come out of order), a location may answer before its fulfillment order is projected, or
    either waits in the order's history while no worker runs."""
    # logged, so a parcel that never becomes known (a tracking number mistyped) is seen before the partner gives up
    log.warning("partner_event_not_known_yet", what=what, retry_after_s=NOT_KNOWN_RETRY_AFTER_S)
    detail = f"no {what} is known yet: the event was not taken, try again"
    return HTTPException(503, detail, headers={"Retry-After": str(NOT_KNOWN_RETRY_AFTER_S)})


async def _signal_each(svc: Svc, order_ids: list[str], event: CarrierEvent) -> None:
    outcomes = await asyncio.gather(
        *(signal_order(svc, order_id, CARRIER_SIGNAL, event) for order_id in order_ids), return_exceptions=True
    )
    refusals = [o for o in outcomes if isinstance(o, BaseException)]
    unexpected = [o for o in refusals if not isinstance(o, HTTPException)]
    if unexpected:
        raise unexpected[0]
    answers = [o for o in refusals if isinstance(o, HTTPException)]
    for answer in answers:
        if answer.status_code >= 500:
            raise answer
    if len(answers) == len(order_ids):
        raise answers[0]  # every order of the parcel is closed (409) or unknown (404)


@router.post("/returns", status_code=202, responses=ANSWERS)
async def returns(
    event: ReturnEvent, request: Request, svc: Svc, who: Principal = require("partner")
) -> dict[str, str]:
    """A return reached a warehouse or store: the order records what came back and in what condition."""
    order_id = order_of_return(event.return_id)
    if order_id is None:
        raise HTTPException(404, f"no return {event.return_id}")
    if _partner_matters(request, who):
        location = await _looked_up(f"return {event.return_id}", svc.queries.location_of_return, event.return_id)
        if location is None:
            raise HTTPException(404, f"no return {event.return_id} (yet)")
        await _admit(request, who, [location], f"return {event.return_id}")
    await signal_order(svc, order_id, RETURN_SIGNAL, event)
    return {"status": "accepted", "order_id": order_id}
