"""Placing an order on a customer's behalf: the checkout form of the console, channel `agent`.

The order goes through the JSON checkout's own function (`POST /v1/orders`), so the catalog check, the saved card,
the workflow's answer and the agent recorded as who placed it are the same as for any checkout.
"""

import asyncio
import json
import secrets
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse
from pydantic import ValidationError

from domain.models import PlaceOrder
from starter.api import checkout_route, orders
from starter.api.catalog import Catalog, Products
from starter.api.deps import Services
from starter.web.console_forms import detail_in_words, in_words, lines_of, optional
from starter.web.console_pages import Queries
from starter.web.portals import CONSOLE
from starter.web.session import PageUser, PostedForm, form_user, page_user
from starter.web.templating import flash, render

router = APIRouter()
Svc = Annotated[Services, Depends(orders.services)]
Agent = Annotated[PageUser, page_user(CONSOLE, "agent")]
AgentForm = Annotated[PostedForm, form_user(CONSOLE, "agent")]
DELIVERY_METHODS = ("standard", "next_day", "same_day", "weekend", "pickup")
ADDRESS_FIELDS = ("name", "line1", "line2", "city", "postal_code", "country")
CUSTOMER_FIELDS = ("id", "email", "name", "phone")
# how many line rows the form offers
LINE_ROWS = 3


def _new_order_id() -> str:
    return f"A-{secrets.token_hex(4).upper()}"


def _prefill(svc: Services, queries: Any, customer_id: str) -> dict[str, Any]:
    """The form's fields from the customer's latest order: who they are and where it went."""
    record = queries.customer(customer_id) if customer_id else None
    if record is None:
        return {"customer": {"id": customer_id}, "address": {}, "currency": "JPY"}
    latest = svc.queries.get(record.orders[0].order_id)
    address = latest.shipping_address if latest else {}
    return {"customer": record.profile, "address": address, "currency": record.orders[0].currency}


def _form_page(
    request: Request, values: dict[str, Any], refusal: str | None = None, status_code: int = 200, **extra: Any
) -> HTMLResponse:
    return render(
        request,
        "console/place.html",
        status_code=status_code,
        refusal=refusal,
        values=values,
        delivery_methods=DELIVERY_METHODS,
        line_rows=range(LINE_ROWS),
        **{"placed_order_id": None, **extra},
    )


@router.get("/console/place", response_class=HTMLResponse)
async def place_form(request: Request, user: Agent, svc: Svc, queries: Queries, customer_id: str = "") -> HTMLResponse:
    prefill = await asyncio.to_thread(_prefill, svc, queries, customer_id.strip())
    values = {
        "order_id": _new_order_id(),
        "customer": prefill["customer"],
        "address": prefill["address"],
        "currency": prefill["currency"],
        "lines": [],
        "delivery_method": "standard",
        "pickup_location_id": "",
        "payment_token": "",
    }
    return _form_page(request, values)


def _posted_values(posted: PostedForm) -> dict[str, Any]:
    return {
        "order_id": posted.text("order_id"),
        "customer": {name: posted.text(f"customer_{name}") for name in CUSTOMER_FIELDS},
        "address": {name: posted.text(name) for name in ADDRESS_FIELDS},
        "currency": posted.text("currency").upper(),
        "lines": [
            {"sku": sku, "quantity": quantity, "unit_price": price}
            for sku, quantity, price in zip(
                posted.texts("sku"), posted.texts("quantity"), posted.texts("unit_price"), strict=False
            )
        ],
        "delivery_method": posted.text("delivery_method"),
        "pickup_location_id": posted.text("pickup_location_id"),
        "payment_token": posted.text("payment_token"),
    }


def _order_of(posted: PostedForm, catalog: Catalog) -> PlaceOrder:
    """The checkout the form describes, on the agent channel; a line without a price takes the catalog's in the
    order's currency. Raises ValidationError naming what is wrong."""
    prices: dict[str, Any] = dict(zip(posted.texts("sku"), posted.texts("unit_price"), strict=False))
    currency = posted.text("currency").upper()
    lines = lines_of(posted)
    unpriced = [line["sku"] for line in lines if not prices.get(line["sku"])]
    for sku, product in (catalog.products(unpriced) if unpriced else {}).items():
        prices[sku] = product.price_in(currency) or ""
    lines = [{**line, "unit_price": prices.get(line["sku"], "")} for line in lines]
    customer = {name: optional(posted, f"customer_{name}") for name in CUSTOMER_FIELDS}
    address = {name: optional(posted, name) for name in ADDRESS_FIELDS}
    return PlaceOrder.model_validate(
        {
            "order_id": posted.text("order_id"),
            "channel": "agent",
            "customer": {k: v for k, v in customer.items() if v is not None},
            "currency": currency,
            "lines": lines,
            "shipping_address": {k: v for k, v in address.items() if v is not None},
            "delivery_method": posted.text("delivery_method") or "standard",
            "pickup_location_id": optional(posted, "pickup_location_id"),
            "payment": {"method": "card", "token": posted.text("payment_token")},
        }
    )


@router.post("/console/place")
async def place(request: Request, svc: Svc, catalog: Products, posted: AgentForm) -> Response:
    values = _posted_values(posted)
    try:
        order = await asyncio.to_thread(_order_of, posted, catalog)
        answer = await checkout_route.place_order(order, svc, catalog, posted.user.principal)
    except ValidationError as err:
        return _form_page(request, values, in_words(err), 422)
    except HTTPException as err:
        return _form_page(request, values, detail_in_words(err.detail), err.status_code)
    body = json.loads(bytes(answer.body))
    if answer.status_code != 201:
        # refused (declined, unavailable): the order exists, with the reason; the form stays for another try
        reason = f"Order {order.order_id} was not accepted: {body.get('detail')}"
        # that order id is taken now (by the refused order): another try is another order
        values["order_id"] = _new_order_id()
        return _form_page(request, values, reason, answer.status_code, placed_order_id=order.order_id)
    response = RedirectResponse(f"/console/orders/{order.order_id}", status_code=303)
    flash(response, request, f"Order {order.order_id} placed for {order.customer.id}: {body.get('status')}.", CONSOLE)
    return response
