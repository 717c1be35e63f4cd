"""Agent actions beyond cancel, return and appeasement: fraud review, address change, reship."""

from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, Field

from domain.models import Address, SkuQuantity
from starter.api.auth import Principal, require
from starter.api.orders import Svc, order_update
from workflows.messages import (
    ADDRESS_UPDATE,
    RESHIP_UPDATE,
    REVIEW_UPDATE,
    ActionResult,
    AddressChange,
    ReshipRequest,
    ReviewDecision,
)

router = APIRouter(prefix="/v1/orders", tags=["service"])
REFUSED: dict[int | str, dict[str, Any]] = {409: {"description": "refused, with the reason"}}


class ReviewBody(BaseModel):
    decision: str = Field(pattern="^(approve|reject)$")
    reason: str = Field(min_length=1, max_length=500)


class AddressBody(BaseModel):
    address: Address
    reason: str = Field(min_length=1, max_length=500)


class ReshipBody(BaseModel):
    lines: list[SkuQuantity] = Field(min_length=1)
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
