"""Actions for the people who keep orders moving: run again the steps of an order that failed for good."""

from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, Field

from starter.api.auth import Principal, require
from starter.api.orders import Svc, order_update
from workflows.messages import RETRY_UPDATE, RetryRequest, RetryResult

router = APIRouter(prefix="/v1/orders", tags=["operations"])


class RetryBody(BaseModel):
    reason: str = Field(min_length=1, max_length=500)


RETRY_ANSWERS: dict[int | str, dict[str, Any]] = {
    404: {"description": "no such order"},
    409: {"description": "refused, with the reason: the order needs no attention, or it is closed"},
    504: {"description": "the order did not answer within OMS_UPDATE_TIMEOUT; the retry may still run"},
}


@router.post("/{order_id}/retry", responses=RETRY_ANSWERS)
async def retry_order(
    order_id: str, body: RetryBody, svc: Svc, who: Principal = require("operator", "agent")
) -> RetryResult:
    """Run again, now, the steps that failed for good and put the order in attention. The answer names the
    steps run again and what still needs a person if one failed again; each step keeps its idempotency key,
    so a payment already made is not made twice."""
    request = RetryRequest(reason=body.reason, actor=who.actor)
    return await order_update(svc, who, order_id, RETRY_UPDATE, request, RetryResult)
