"""POST /v1/orders: a storefront's or an agent's checkout, and `take_order`, which the intake routes share.

Everything a checkout is refused for before its workflow starts (an unknown sku, an account the buyer may not
use, a card the gateway will not save) answers here, and nothing is started.
"""

from fastapi import APIRouter, HTTPException, Response
from fastapi.responses import JSONResponse

from domain.models import CardPayment, InvoicePayment, PlaceOrder, PrepaidPayment
from integrations.payments import GatewayRefused, GatewayUnavailable
from starter.api import checkout
from starter.api.accounts_checkout import on_account
from starter.api.auth import Principal, require
from starter.api.catalog import Catalog, Products
from starter.api.deps import Services
from starter.api.orders import TIMED_OUT, Svc, update_deadline

router = APIRouter(prefix="/v1/orders", tags=["orders"])

# How a checkout answer reaches the storefront: accepted orders 201, refusals their own codes.
REFUSALS = {"payment_declined": 402, "unavailable": 409, "canceled": 409}


def answer(placed: checkout.Placed, accepted: int = 201) -> JSONResponse:
    code = REFUSALS.get(placed.status)
    if code is None:
        return JSONResponse(placed.body, status_code=accepted)
    return JSONResponse({"detail": placed.reason or placed.status.replace("_", " "), **placed.body}, status_code=code)


@router.post(
    "",
    status_code=201,
    responses={
        402: {"description": "payment declined, or above the account's available credit"},
        403: {"description": "the customer is not a buyer of the account the order is to be invoiced to"},
        409: {"description": "items cannot be allocated, or the gateway would not save the card"},
        503: {
            "description": "the order could not be placed now (Temporal or the payment gateway unavailable): "
            "nothing was started"
        },
        **TIMED_OUT,
    },
)
async def place_order(
    order: PlaceOrder, svc: Svc, catalog: Products, who: Principal = require("storefront", "agent")
) -> Response:
    if isinstance(order.payment, PrepaidPayment):
        raise HTTPException(
            422, "payment method 'prepaid' is the storefront platforms' own: such orders come in by /v1/intake/*"
        )
    # who placed it comes from the token alone: an agent placing it for the customer is recorded as that agent;
    # where an order came from is the intake routes' to say
    order = order.model_copy(update={"placed_by": who.actor if who.role == "agent" else None, "source": None})
    placed = await take_order(svc, catalog, order)
    return answer(placed)


async def take_order(svc: Services, catalog: Catalog, order: PlaceOrder) -> checkout.Placed:
    """Check what the workflow cannot (the catalog, the account), put in what the order keeps from now on (tax
    classes, the saved card, the account's terms), then start it and wait for its answer."""
    unknown = await checkout.unknown_skus(catalog, order)
    if unknown:  # nothing is started
        raise HTTPException(422, f"the catalog has no {', '.join(unknown)}: every line names a product it sells")
    order = await checkout.with_tax(catalog, svc.tax, order)
    approval = None
    if isinstance(order.payment, InvoicePayment):
        invoiced = await on_account(svc, order, order.payment)
        order, approval = invoiced.order, invoiced.approval
    elif isinstance(order.payment, CardPayment):
        order = await _with_saved_card(svc, order)
    try:
        async with update_deadline(svc, order.order_id, "checkout"):
            return await checkout.place(svc, order, approval)
    except checkout.NotPlaced as err:
        raise HTTPException(503, f"the order could not be placed now: {err}") from err


async def _with_saved_card(svc: Services, order: PlaceOrder) -> PlaceOrder:
    try:
        return await checkout.with_saved_payment_method(svc.gateway, order)
    except GatewayUnavailable as err:
        raise HTTPException(503, f"the order could not be placed now: {err}") from err
    except GatewayRefused as err:
        raise HTTPException(409, f"the payment could not be saved: {err}") from err
