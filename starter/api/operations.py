"""Actions for the people who keep orders moving: run again the steps of an order that failed for good."""

import asyncio
from typing import Any

from fastapi import APIRouter, HTTPException
from pydantic import BaseModel, Field
from temporalio.client import RPCTimeoutOrCancelledError

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
    timeout = svc.settings.update_timeout
    try:
        async with asyncio.timeout(timeout):
            return await order_update(svc, who, order_id, RETRY_UPDATE, request, RetryResult)
    except (TimeoutError, RPCTimeoutOrCancelledError) as err:
        raise HTTPException(
            504,
            f"order {order_id} did not answer the retry within {timeout:g}s; it may still run: "
            f"GET /v1/orders/{order_id} shows where the order is",
        ) from err
