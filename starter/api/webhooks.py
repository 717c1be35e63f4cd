"""Partner webhooks become signals to the order's workflow; repeats and reordering are harmless there."""

from fastapi import APIRouter, HTTPException
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

# What the order's workflow acts on; picked and packed are progress it does not record.
_FORWARDED_WAREHOUSE_EVENTS = frozenset({"shipped", "rejected", "ready_for_pickup", "picked_up"})
DEFAULT_REJECT_REASON = "rejected by the location (no reason given)"


async def signal_order(svc: Svc, order_id: str, name: str, payload: object) -> None:
    try:
        await svc.client.get_workflow_handle(workflow_id_for(order_id)).signal(name, payload)
    except RPCError as err:
        if err.status == RPCStatusCode.NOT_FOUND and "completed" not in err.message:
            raise HTTPException(404, f"no order {order_id}") from err
        # A closed order cannot change any more; the partner gets a clear answer rather than a retry loop.
        raise HTTPException(409, f"order {order_id} no longer accepts partner events: {err.message}") from err


@router.post("/warehouse", status_code=202)
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


@router.post("/carrier", status_code=202)
async def carrier(event: CarrierEvent, svc: Svc, who: Principal = require("partner")) -> dict[str, str]:
    found = svc.queries.fulfillment_order_of_tracking(event.tracking_number)
    if found is None:
        raise HTTPException(404, f"no shipment with tracking number {event.tracking_number}")
    order_id, _ = found
    if event.event == "delivered":
        await signal_order(svc, order_id, CARRIER_SIGNAL, event)
    return {"status": "accepted", "order_id": order_id}


@router.post(
    "/returns",
    status_code=202,
    responses={404: {"description": "no order for this return id"}, 409: {"description": "the order has closed"}},
)
async def returns(event: ReturnEvent, svc: Svc, who: Principal = require("partner")) -> dict[str, str]:
    """A return reached a warehouse or store: the order records what came back and in what condition."""
    order_id = order_of_return(event.return_id)
    if order_id is None:
        raise HTTPException(404, f"no return {event.return_id}")
    await signal_order(svc, order_id, RETURN_SIGNAL, event)
    return {"status": "accepted", "order_id": order_id}
