"""Partner webhooks become signals to the order's workflow; repeats and reordering are harmless there."""

import asyncio

import structlog
from fastapi import APIRouter, HTTPException
from sqlalchemy.exc import SQLAlchemyError
from temporalio.service import RPCError, RPCStatusCode

from activities.contracts import order_of_fulfillment_order
from starter.api.auth import Principal, require
from starter.api.orders import Svc
from workflows.messages import (
    CARRIER_SIGNAL,
    RETURN_SIGNAL,
    WAREHOUSE_SIGNAL,
    CarrierEvent,
    ReturnEvent,
    WarehouseEvent,
    order_of_return,
    workflow_id_for,
)

router = APIRouter(prefix="/v1/webhooks", tags=["webhooks"])
log = structlog.get_logger()
# How partners read our answers: 202 taken, 4xx never will be (stop sending), 5xx try again.
ANSWERS: dict[int | str, dict[str, str]] = {
    404: {"description": "no such order, fulfillment order, parcel or return: final"},
    409: {"description": "the order has closed and takes no more partner events: final"},
    503: {"description": "not taken for now (Temporal or the database is unavailable): send it again"},
}

# What the order's workflow acts on; picked and packed are progress it does not record.
_FORWARDED_WAREHOUSE_EVENTS = frozenset({"shipped", "rejected", "ready_for_pickup", "picked_up"})
DEFAULT_REJECT_REASON = "rejected by the location (no reason given)"


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
async def warehouse(event: WarehouseEvent, svc: Svc, who: Principal = require("partner")) -> dict[str, str]:
    if event.event == "shipped" and not (event.tracking_number and event.carrier):
        raise HTTPException(422, "a shipped event needs tracking_number and carrier")
    order_id = order_of_fulfillment_order(event.fulfillment_order_id)
    if order_id is None:
        raise HTTPException(404, f"no fulfillment order {event.fulfillment_order_id}")
    if event.event == "rejected" and not (event.reason and event.reason.strip()):
        event = event.model_copy(update={"reason": DEFAULT_REJECT_REASON})
    if event.event in _FORWARDED_WAREHOUSE_EVENTS:
        await signal_order(svc, order_id, WAREHOUSE_SIGNAL, event)
    # picked and packed are progress the order does not act on; they are acknowledged, not recorded
    return {"status": "accepted", "order_id": order_id}


@router.post("/carrier", status_code=202, responses=ANSWERS)
async def carrier(event: CarrierEvent, svc: Svc, who: Principal = require("partner")) -> dict[str, str | list[str]]:
    """A parcel's news. One parcel may carry fulfillment orders of several orders: each order is told. The event is
    taken (202) once every open order has it; 503 if any could not be told now (those told already ignore the
    repeat); 409 only when every order of the parcel has closed."""
    try:
        found = await asyncio.to_thread(svc.queries.fulfillment_orders_of_tracking, event.tracking_number)
    except SQLAlchemyError as err:
        raise try_again(f"the parcel {event.tracking_number}", err) from err
    order_ids = sorted({order_id for order_id, _ in found})
    if not order_ids:
        raise HTTPException(404, f"no shipment with tracking number {event.tracking_number}")
    if event.event == "delivered":
        await _signal_each(svc, order_ids, event)
    return {"status": "accepted", "order_id": order_ids[0], "order_ids": order_ids}


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
async def returns(event: ReturnEvent, svc: Svc, who: Principal = require("partner")) -> dict[str, str]:
    """A return reached a warehouse or store: the order records what came back and in what condition."""
    order_id = order_of_return(event.return_id)
    if order_id is None:
        raise HTTPException(404, f"no return {event.return_id}")
    await signal_order(svc, order_id, RETURN_SIGNAL, event)
    return {"status": "accepted", "order_id": order_id}
