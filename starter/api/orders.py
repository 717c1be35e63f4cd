"""Checkout, order reads, and the agent and customer actions on an order (cancel, return, appeasement)."""

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from decimal import Decimal
from typing import Annotated, Any, Literal, Self, TypeVar

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from pydantic import AfterValidator, BaseModel, Field, model_validator
from temporalio.client import RPCTimeoutOrCancelledError, WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode

from domain.ids import is_agent_actor, workflow_id_for
from domain.models import (
    MAX_AMOUNT,
    MAX_LINES,
    Quantity,
    RequestedLines,
    Sku,
    SkuQuantity,
    one_line_per_sku,
)
from domain.money import quantize
from integrations.payments import GatewayUnavailable
from starter.api.auth import Principal, require
from starter.api.catalog import Products, priced_replacement
from starter.api.customer_words import refusal_for_customer
from starter.api.deps import Services
from starter.api.payments import PaymentTransaction, order_transactions
from store.read_model import OrderListItem, OrderSummary, TimelineEntry
from workflows.messages import (
    APPEASEMENT_UPDATE,
    CANCEL_UPDATE,
    EXCHANGE_UPDATE,
    RETURN_UPDATE,
    AppeasementRequest,
    AppeasementResult,
    CancelRequest,
    CancelResult,
    ExchangeRequest,
    ExchangeResult,
    ReturnRequest,
    ReturnResult,
)

router = APIRouter(prefix="/v1/orders", tags=["orders"])
T = TypeVar("T")

# What a route that waits on an order's workflow may answer as well (`update_deadline`).
TIMED_OUT: dict[int | str, dict[str, Any]] = {
    504: {"description": "the order did not answer within OMS_UPDATE_TIMEOUT: the action is done once or not at all"}
}


def services(request: Request) -> Services:
    svc: Services = request.app.state.services
    return svc


Svc = Annotated[Services, Depends(services)]


class CancelBody(BaseModel):
    lines: RequestedLines | None = Field(default=None, description="omit to cancel everything still cancelable")
    reason: str = Field(min_length=1, max_length=500)


class CancelAnswer(OrderSummary):
    """The order after the cancel, and the units a location was too late for (picked or shipped), if any."""

    refused: list[SkuQuantity] = []
    refusal: str | None = None


@router.post(
    "/{order_id}/cancel",
    responses={
        404: {"description": "no such order (or, to a customer, not theirs)"},
        409: {"description": "refused, with the reason (too late at a location: use a return)"},
        **TIMED_OUT,
    },
)
async def cancel_order(
    order_id: str, body: CancelBody, svc: Svc, who: Principal = require("agent", "customer", "storefront")
) -> CancelAnswer:
    """Cancel lines (or everything still cancelable) before they ship; after shipment, use a return. The
    locations are asked first: units one is too late for are not canceled, and `refused` says which."""
    request = CancelRequest(lines=body.lines, reason=body.reason, actor=who.actor)
    result = await order_update(svc, who, order_id, CANCEL_UPDATE, request, CancelResult)
    summary = summary_or_404(svc, who, order_id)
    return CancelAnswer(**dict(summary), refused=result.refused, refusal=result.refusal)


async def order_update(
    svc: Services,
    who: Principal,
    order_id: str,
    name: str,
    request: BaseModel,
    result_type: type[T],
    refusal: Callable[[OrderSummary], str | None] | None = None,
) -> T:
    """Run an update on the order's workflow: 404 unless `who` may see the order, 409 with the workflow's
    reason when it refuses, or with `refusal`'s, a rule only the edge can check (on the order as the read model
    has it), before the workflow is asked."""
    summary = summary_or_404(svc, who, order_id)
    try:
        if refusal is not None and (reason := await asyncio.to_thread(refusal, summary)):
            raise HTTPException(409, reason)
        return await run_update(svc, order_id, name, request, result_type)
    except HTTPException as refused:
        if who.role == "customer" and refused.status_code == 409:
            raise HTTPException(409, refusal_for_customer(str(refused.detail))) from refused
        raise


@asynccontextmanager
async def update_deadline(svc: Services, order_id: str, action: str) -> AsyncIterator[None]:
    """No request waits longer than OMS_UPDATE_TIMEOUT for an order's workflow: past it, 504 naming the order.
    The action is then done once or not at all (the same request again gets the same answer)."""
    timeout = svc.settings.update_timeout
    try:
        async with asyncio.timeout(timeout):
            yield
    except (TimeoutError, RPCTimeoutOrCancelledError) as err:
        raise HTTPException(
            504,
            f"order {order_id} did not answer the {action} within {timeout:g}s; it is done once or not at all: "
            f"GET /v1/orders/{order_id} shows where the order is",
        ) from err


async def run_update(svc: Services, order_id: str, name: str, request: BaseModel, result_type: type[T]) -> T:
    """The update itself, for callers that have checked the order already."""
    handle = svc.client.get_workflow_handle(workflow_id_for(order_id))
    try:
        async with update_deadline(svc, order_id, name.replace("_", " ")):
            result: T = await handle.execute_update(name, request, result_type=result_type)
        return result
    except WorkflowUpdateFailedError as err:
        reason = err.cause.message if isinstance(err.cause, ApplicationError) else str(err.cause)
        raise HTTPException(409, reason) from err
    except RPCError as err:
        if err.status == RPCStatusCode.NOT_FOUND:
            raise HTTPException(409, f"order {order_id} is closed and can no longer change") from err
        raise


class _SendsUnitsBack(BaseModel):
    """How returned units come back: by mail, or dropped off at a store."""

    reason: str = Field(min_length=1, max_length=500)
    method: Literal["mail", "in_store"] = "mail"
    location_id: str | None = Field(
        default=None, min_length=1, max_length=64, description="the store a return in_store is dropped off at"
    )

    @model_validator(mode="after")
    def _in_store_needs_location(self) -> Self:
        if self.method == "in_store" and not self.location_id:
            raise ValueError("method 'in_store' needs location_id, the store the units are brought to")
        return self


class ReturnBody(_SendsUnitsBack):
    lines: RequestedLines


@router.post(
    "/{order_id}/returns",
    status_code=201,
    responses={
        404: {"description": "no such order (or, to a customer, not theirs)"},
        409: {"description": "refused, with the reason (outside the return window, more than delivered)"},
        **TIMED_OUT,
    },
)
async def request_return(
    order_id: str, body: ReturnBody, svc: Svc, who: Principal = require("agent", "customer")
) -> ReturnResult:
    """Return delivered units by mail (a label is generated) or at a store; the refund follows receipt."""
    request = ReturnRequest(
        lines=body.lines, reason=body.reason, method=body.method, location_id=body.location_id, actor=who.actor
    )
    return await order_update(svc, who, order_id, RETURN_UPDATE, request, ReturnResult)


class ReplacementBody(BaseModel):
    sku: Sku
    quantity: Quantity
    unit_price: Decimal | None = Field(
        default=None,
        ge=0,
        le=MAX_AMOUNT,
        description="an agent's own price, with price_reason; otherwise the order's or the catalog's (a customer's is "
        "never taken)",
    )
    price_reason: str | None = Field(default=None, min_length=1, max_length=500, description="why an agent set it")


class ExchangeBody(_SendsUnitsBack):
    returned: RequestedLines = Field(description="delivered units sent back")
    replacement: Annotated[list[ReplacementBody], AfterValidator(one_line_per_sku)] = Field(
        min_length=1, max_length=MAX_LINES, description="units sent in their place"
    )


@router.post(
    "/{order_id}/exchanges",
    status_code=201,
    responses={
        404: {"description": "no such order (or, to a customer, not theirs)"},
        409: {"description": "refused, with the reason (return refused, out of stock, difference declined)"},
        **TIMED_OUT,
    },
)
async def request_exchange(
    order_id: str, body: ExchangeBody, svc: Svc, catalog: Products, who: Principal = require("agent", "customer")
) -> ExchangeResult:
    """Return delivered units and send replacements at once. The returned units pay for the replacements; a
    dearer replacement charges the difference as it ships, a cheaper one refunds it once the return is received.
    A replacement costs what the order paid for its sku, else the catalog's price; only an agent sets another."""
    summary = summary_or_404(svc, who, order_id)
    replacement = await asyncio.to_thread(
        priced_replacement,
        body.replacement,
        on_order={line.sku: line.unit_price for line in summary.lines},
        currency=summary.currency,
        agent=who.role == "agent",
        catalog=catalog,
    )
    request = ExchangeRequest(
        returned=body.returned,
        replacement=replacement,
        reason=body.reason,
        method=body.method,
        location_id=body.location_id,
        actor=who.actor,
    )
    return await run_update(svc, order_id, EXCHANGE_UPDATE, request, ExchangeResult)


class AppeasementBody(BaseModel):
    amount: Decimal = Field(gt=0, le=MAX_AMOUNT, description="a decimal string in the order's currency")
    reason: str = Field(min_length=1, max_length=500)


@router.post(
    "/{order_id}/appeasements",
    responses={
        404: {"description": "no such order"},
        409: {"description": "refused: more than is left to refund"},
        **TIMED_OUT,
    },
)
async def grant_appeasement(
    order_id: str, body: AppeasementBody, svc: Svc, who: Principal = require("agent")
) -> AppeasementResult:
    """Refund part of what was captured as a goodwill gesture; the order's lines are untouched."""
    summary = summary_or_404(svc, who, order_id)
    # The currency is known only here, so "500.5 JPY" is an invalid body (422), not a refusal by the order;
    # "500.00" is the same 500 yen and reaches the order in the currency's own form.
    amount = quantize(body.amount, summary.currency)
    if amount != body.amount:
        raise HTTPException(422, f"amount {body.amount} has more decimals than {summary.currency} allows")
    request = AppeasementRequest(amount=amount, reason=body.reason, actor=who.actor)
    return await run_update(svc, order_id, APPEASEMENT_UPDATE, request, AppeasementResult)


@router.get(
    "/{order_id}/payments",
    responses={404: {"description": "no such order"}, 503: {"description": "the payment ledger cannot be read now"}},
)
def order_payments(order_id: str, svc: Svc, who: Principal = require("agent", "operator")) -> list[PaymentTransaction]:
    """The payment gateway's transactions for the order, oldest first: authorizations, captures, voids, refunds."""
    summary_or_404(svc, who, order_id)
    try:
        return order_transactions(svc.gateway, order_id)
    except GatewayUnavailable as err:
        raise HTTPException(503, f"the payment ledger cannot be read now: {err}") from err


# What the shop's own people see of an order and its customer does not: the fraud screen, why a person must look,
# what the read model missed. The timeline's entries that say the same are left out with them.
_STAFF_ONLY_FIELDS = {"fraud_score": None, "attention": None, "projection_error": None}
_STAFF_ONLY_EVENTS = frozenset(
    {"FraudScreened", "OrderHeld", "ReviewDecided", "AttentionNeeded", "AttentionCleared", "StepFailed"}
)


def _without_agent_id(entry: TimelineEntry) -> TimelineEntry:
    """An agent's entry names the role only (`agent`), in its actor and its summary, for customers and storefronts."""
    if not is_agent_actor(entry.actor):
        return entry
    return entry.model_copy(update={"actor": "agent", "summary": entry.summary.replace(entry.actor, "agent")})


def _sees_staff_fields(who: Principal) -> bool:
    return who.role not in ("customer", "storefront")


def summary_or_404(svc: Services, who: Principal, order_id: str) -> OrderSummary:
    """The order's summary as `who` may see it: 404 for a customer's order another customer asks about; customers
    and storefronts without the fraud score, the attention and the projection error."""
    summary = svc.queries.get(order_id)
    if summary is None or not who.may_see_customer(str(summary.customer.get("id"))):
        raise HTTPException(404, f"no order {order_id}")
    if _sees_staff_fields(who):
        return summary
    timeline = [_without_agent_id(entry) for entry in summary.timeline if entry.type not in _STAFF_ONLY_EVENTS]
    return summary.model_copy(update={**_STAFF_ONLY_FIELDS, "timeline": timeline})


@router.get("/{order_id}", responses={404: {"description": "no such order (or, to a customer, not theirs)"}})
def get_order(
    order_id: str, svc: Svc, who: Principal = require("storefront", "agent", "operator", "customer")
) -> OrderSummary:
    """The order summary. For agents and operators only: `fraud_score`; `attention`, why a person must look at
    the order and since when (null when nobody needs to); `projection_error`, part of the order this summary could
    not record (the order itself went on; the order's history in Temporal has all of it)."""
    return summary_or_404(svc, who, order_id)


@router.get("", responses={403: {"description": "a customer asked for another customer's orders, or by attention"}})
def search_orders(
    svc: Svc,
    customer_id: str | None = None,
    status: str | None = None,
    channel: str | None = None,
    attention: Annotated[
        bool | None,
        Query(description="true: only orders that need a person (agents and operators); false: only those that do not"),
    ] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    who: Principal = require("agent", "operator", "customer"),
) -> list[OrderListItem]:
    """Orders, newest first. Each carries `attention` (why a person must look, and since when) for agents and
    operators; null for customers, who see their own orders only."""
    if who.role == "customer":
        if customer_id not in (None, who.customer_id):
            raise HTTPException(403, "a customer sees their own orders only")
        if attention is not None:
            raise HTTPException(403, "orders that need attention are for agents and operators")
        customer_id = who.customer_id
    found = svc.queries.search(
        customer_id=customer_id, status=status, channel=channel, limit=limit, attention=attention
    )
    if _sees_staff_fields(who):
        return found
    return [item.model_copy(update={"attention": None}) for item in found]
