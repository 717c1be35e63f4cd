"""Agent actions beyond cancel, return and appeasement: fraud review, address change, reship, pickups."""

from typing import Any

from fastapi import APIRouter, HTTPException
from pydantic import BaseModel, Field

from domain.models import Address, RequestedLines
from starter.api.auth import Principal, require
from starter.api.orders import TIMED_OUT, Svc, order_update, summary_or_404
from starter.api.webhooks import signal_order
from workflows.messages import (
    ADDRESS_UPDATE,
    RESHIP_UPDATE,
    REVIEW_UPDATE,
    WAREHOUSE_SIGNAL,
    ActionResult,
    AddressChange,
    ReshipRequest,
    ReviewDecision,
    WarehouseEvent,
)

router = APIRouter(prefix="/v1/orders", tags=["service"])
REFUSED: dict[int | str, dict[str, Any]] = {
    404: {"description": "no such order"},
    409: {"description": "refused, with the reason"},
    **TIMED_OUT,
}


class ReviewBody(BaseModel):
    decision: str = Field(pattern="^(approve|reject)$")
    reason: str = Field(min_length=1, max_length=500)


class AddressBody(BaseModel):
    address: Address
    reason: str = Field(min_length=1, max_length=500)


class ReshipBody(BaseModel):
    lines: RequestedLines
    reason: str = Field(min_length=1, max_length=500)


@router.post("/{order_id}/review", responses=REFUSED)
async def review_order(order_id: str, body: ReviewBody, svc: Svc, who: Principal = require("agent")) -> ActionResult:
    """Approve or reject an order held for fraud review; refused unless it is on hold."""
    decision = ReviewDecision(approve=body.decision == "approve", reason=body.reason, actor=who.actor)
    return await order_update(svc, who, order_id, REVIEW_UPDATE, decision, ActionResult)


@router.post("/{order_id}/address", responses=REFUSED)
async def change_address(
    order_id: str, body: AddressBody, svc: Svc, who: Principal = require("agent", "customer")
) -> ActionResult:
    """Ship somewhere else, before anything has shipped; open fulfillment orders are routed again."""
    change = AddressChange(address=body.address, reason=body.reason, actor=who.actor)
    return await order_update(svc, who, order_id, ADDRESS_UPDATE, change, ActionResult)


@router.post("/{order_id}/reships", status_code=201, responses=REFUSED)
async def reship(order_id: str, body: ReshipBody, svc: Svc, who: Principal = require("agent")) -> ActionResult:
    """Send lost or damaged delivered units again at no charge, from wherever routing chooses."""
    request = ReshipRequest(lines=body.lines, reason=body.reason, actor=who.actor)
    return await order_update(svc, who, order_id, RESHIP_UPDATE, request, ActionResult)


@router.post(
    "/{order_id}/fulfillment-orders/{fulfillment_order_id}/picked-up",
    status_code=202,
    responses={
        404: {"description": "no such order, or no such fulfillment order on it"},
        409: {"description": "the order has closed"},
        503: {"description": "not taken for now (Temporal unavailable): try again"},
    },
)
async def record_pickup(
    order_id: str, fulfillment_order_id: str, svc: Svc, who: Principal = require("agent")
) -> dict[str, str]:
    """A store associate hands a pickup order over at the counter: the same news as the store's webhook."""
    summary = summary_or_404(svc, who, order_id)
    if not any(fo.id == fulfillment_order_id for fo in summary.fulfillment_orders):
        raise HTTPException(404, f"order {order_id} has no fulfillment order {fulfillment_order_id}")
    await signal_order(
        svc, order_id, WAREHOUSE_SIGNAL, WarehouseEvent(fulfillment_order_id=fulfillment_order_id, event="picked_up")
    )
    return {"status": "accepted", "order_id": order_id}
