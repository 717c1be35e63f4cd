"""B2B actions on an order: an account approver's (or an agent's) approval, and a reorder of a past order at
today's catalog prices, on the same account or with a card given now."""

import asyncio
from typing import Any

from fastapi import APIRouter, HTTPException, Response
from pydantic import BaseModel, Field, ValidationError

from domain.models import ORDER_ID_PATTERN, Address, CardPayment, Customer, InvoicePayment, LineRequest, PlaceOrder
from starter.api.auth import Principal, require
from starter.api.catalog import Catalog, Products
from starter.api.checkout_route import answer, take_order
from starter.api.orders import TIMED_OUT, Svc, order_update, run_update
from starter.api.service import REFUSED
from store.read_model import OrderSummary
from workflows.messages import APPROVAL_UPDATE, ActionResult, ApprovalDecision

router = APIRouter(prefix="/v1/orders", tags=["b2b"])


class ApprovalBody(BaseModel):
    decision: str = Field(pattern="^(approve|reject)$")
    reason: str = Field(min_length=1, max_length=500)


@router.post(
    "/{order_id}/approval",
    responses={**REFUSED, 403: {"description": "the customer is not an approver of the order's account"}},
)
async def approve_order(
    order_id: str, body: ApprovalBody, svc: Svc, who: Principal = require("agent", "customer")
) -> ActionResult:
    """Approve or reject an order waiting for its account's approver; refused unless it waits for one."""
    decision = ApprovalDecision(approve=body.decision == "approve", reason=body.reason, actor=who.actor)
    if who.role != "customer":
        return await order_update(svc, who, order_id, APPROVAL_UPDATE, decision, ActionResult)
    # an approver decides the orders of the account's buyers, not only their own
    await _must_approve_for(svc, who, order_id)
    return await run_update(svc, order_id, APPROVAL_UPDATE, decision, ActionResult)


async def _must_approve_for(svc: Svc, who: Principal, order_id: str) -> None:
    summary = await asyncio.to_thread(svc.queries.get, order_id)
    account_id = _account_of(summary)
    if summary is None or (account_id is None and not who.may_see_customer(str(summary.customer.get("id")))):
        raise HTTPException(404, f"no order {order_id}")
    account = await asyncio.to_thread(svc.accounts.get, account_id) if account_id else None
    if account is None or who.customer_id not in account.approvers:
        raise HTTPException(403, f"customer {who.customer_id} is not an approver of the order's account")


def _account_of(summary: OrderSummary | None) -> str | None:
    method = (summary.payment_method or {}) if summary else {}
    return method.get("account_id") if method.get("method") == "invoice" else None


class ReorderBody(BaseModel):
    order_id: str = Field(pattern=ORDER_ID_PATTERN, description="the new order's id")
    purchase_order: str | None = Field(default=None, min_length=1, max_length=64)
    # a past order paid by card is paid again by a card given now; one on account stays on it
    payment: CardPayment | None = None


@router.post(
    "/{order_id}/reorder",
    status_code=201,
    responses={
        402: {"description": "payment declined, or above the account's available credit"},
        403: {"description": "the customer is not a buyer of the account"},
        404: {"description": "no such order (or, to a customer, not theirs)"},
        409: {"description": "items cannot be allocated"},
        422: {"description": "a product no longer sold, or a card order reordered without a card"},
        **TIMED_OUT,
    },
)
async def reorder(
    order_id: str,
    body: ReorderBody,
    svc: Svc,
    catalog: Products,
    who: Principal = require("storefront", "agent", "customer"),
) -> Response:
    """The same lines, ship-to and delivery again as a new order, priced as the catalog sells them today."""
    past = await asyncio.to_thread(svc.queries.get, order_id)
    if past is None or not who.may_see_customer(str(past.customer.get("id"))):
        raise HTTPException(404, f"no order {order_id}")
    order = await asyncio.to_thread(_again, past, body, catalog)
    order = order.model_copy(update={"placed_by": who.actor if who.role == "agent" else None})
    return answer(await take_order(svc, catalog, order))


def _again(past: OrderSummary, body: ReorderBody, catalog: Catalog) -> PlaceOrder:
    units = {line.sku: line.ordered - line.canceled for line in past.lines if line.ordered > line.canceled}
    products = catalog.products(list(units))
    unpriced = sorted(sku for sku in units if sku not in products or products[sku].price_in(past.currency) is None)
    if unpriced:
        raise HTTPException(422, f"the catalog no longer sells {', '.join(unpriced)} in {past.currency}")
    lines = [
        LineRequest(sku=sku, quantity=n, unit_price=products[sku].price_in(past.currency) or 0)
        for sku, n in units.items()
    ]
    try:
        return _placed_again(past, body, lines)
    except ValidationError as err:
        raise HTTPException(422, f"the order cannot be placed again as it was: {err}") from err


def _placed_again(past: OrderSummary, body: ReorderBody, lines: list[LineRequest]) -> PlaceOrder:
    return PlaceOrder(
        order_id=body.order_id,
        channel=past.channel,
        customer=Customer.model_validate(past.customer),
        currency=past.currency,
        lines=lines,
        shipping_address=Address.model_validate(past.shipping_address),
        delivery_method=past.delivery_method,
        pickup_location_id=past.pickup_location_id,
        payment=_payment_again(past, body),
    )


def _payment_again(past: OrderSummary, body: ReorderBody) -> CardPayment | InvoicePayment:
    method: dict[str, Any] = past.payment_method or {}
    if body.payment is not None:
        return body.payment
    if method.get("method") == "invoice":
        return InvoicePayment(
            method="invoice",
            account_id=method["account_id"],
            purchase_order=body.purchase_order or method.get("purchase_order"),
        )
    raise HTTPException(422, "the order was paid by card: a reorder gives the card to pay with (payment.token)")
