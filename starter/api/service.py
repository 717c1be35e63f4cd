"""Agent actions beyond cancel, return and appeasement: fraud review, address change, reship, pickups."""

from decimal import Decimal
from typing import Any

from fastapi import APIRouter, HTTPException
from pydantic import BaseModel, Field

from domain.models import Address, RequestedLines
from domain.tax import TaxableAmount
from integrations.tax import TaxPlace
from starter.api.auth import Principal, require
from starter.api.orders import TIMED_OUT, Svc, order_update, summary_or_404
from starter.api.webhooks import signal_order
from store.read_model import OrderSummary
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
    """Ship somewhere else, before anything has shipped; open fulfillment orders are routed again. Refused (409)
    where the new address is taxed otherwise than the order was at checkout: its tax is what it authorized."""
    change = AddressChange(address=body.address, reason=body.reason, actor=who.actor)

    def taxed_otherwise(order: OrderSummary) -> str | None:
        return _taxed_otherwise(svc, order, body.address)

    return await order_update(svc, who, order_id, ADDRESS_UPDATE, change, ActionResult, refusal=taxed_otherwise)


def _taxed_otherwise(svc: Svc, order: OrderSummary, address: Address) -> str | None:
    """Why the order cannot move to `address` as it was taxed (tax in its prices, or each line's rate on top), or
    None when it can."""
    lines = [line for line in order.lines if line.ordered > line.canceled]
    amounts = [TaxableAmount(line.unit_price * (line.ordered - line.canceled), line.tax_class) for line in lines]
    place = TaxPlace(country=address.country, postal_code=address.postal_code)
    quote = svc.tax.document_tax(amounts, ship_to=place, currency=order.currency)
    if order.prices_include_tax and quote.prices_include_tax:
        return None  # the tax is in the prices wherever it goes: nothing is added or taken off
    was = [line.tax_rate if not order.prices_include_tax else None for line in lines]
    now = [rate if not quote.prices_include_tax else None for rate in quote.line_rates]
    if was == now:
        return None
    return (
        f"the order was taxed at {_rates(was)} and {address.postal_code}, {address.country} is taxed at "
        f"{_rates(now)}: cancel it and place it again to ship there"
    )


def _rates(rates: list[Decimal | None]) -> str:
    shown = sorted({f"{rate * 100:g} %" for rate in rates if rate is not None})
    return ", ".join(shown) if shown else "the rates in its prices"


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
