"""Storefront intake: orders taken on Shopify or Salesforce B2C Commerce become our orders, through the checkout.

`POST /v1/intake/shopify` takes Shopify's `orders/create` webhook as Shopify sends it: X-Shopify-Hmac-Sha256 (base64
of the HMAC-SHA256 of the raw body with OMS_SHOPIFY_WEBHOOK_SECRET) is checked before the body is read as JSON, and
it is all the authentication (no secret set: 503). `POST /v1/intake/sfcc` takes a B2C Commerce order document
(OCAPI's snake_case or SCAPI's camelCase), from a storefront token.

Each is idempotent on the platform's order id: an order the read model has already answers 200 with that order,
whatever the body says now, and nothing is started (a re-delivery before the read model has it goes through the
checkout again, which starts nothing for an order id that has a workflow, and answers 200 as its workflow tells it
is a repeat). The first delivery answers as a checkout
does (201, or 402/409 with the refusal). A document that cannot be mapped answers 422 with every reason, as a list
(`{"detail": ["line item 466157049 has no sku", ...]}`), and nothing is started.

How a document becomes our order (domain.models.PlaceOrder):
- order_id `shopify-<id>` / `sfcc-<order_no>`; 422 unless it fits ORDER_ID_PATTERN. Channel `web`; Shopify's
  `source_name` `pos` is `store`.
- Paid: Shopify's `financial_status` is `paid` or `authorized`, and the order is not cancelled. B2C Commerce's
  `status` is `new`, `open` or `completed` (placed: `created` never had its payment authorized) and its
  `confirmation_status` is `confirmed`, as B2C Commerce marks an order ready for its OMS; `payment_status` is kept,
  not checked: `not_paid` is the usual state of an order authorized and not yet captured. The payment is
  PrepaidPayment(platform, reference=the platform's order id): the platform holds the money, the OMS's ledger
  records it and captures as units ship.
- Customer: `shopify-<customer.id>`, or the e-mail address for an order without a customer; on B2C Commerce
  `sfcc-<customer_no>` for a registered customer, the e-mail address for a guest. E-mail (Shopify `email`, then
  `contact_email`, then the customer's; B2C Commerce `customer_info.email`) is required; the name is the customer's,
  else the shipping address's; the phone, if any (a number over 32 characters is left out); locale `ja` when the
  platform's locale starts with `ja`, else `en`.
- Lines: a sku is required (Shopify `sku`, B2C Commerce `product_id`). A unit's price is its line's price less every
  discount on the line, the order-level codes included (Shopify's `discount_allocations`; B2C Commerce's
  `price_after_order_discount`, else `price` plus the item's `price_adjustments`; an option item's price adds to its
  product's), divided by the quantity: it must come out exact in the currency's minor unit, or 422 says the line's
  discount does not spread evenly over its units. Lines of one sku at one unit price are added up; at different
  prices, 422. Shopify's `current_quantity` (what edits and refunds left) is the quantity taken when present.
- Lines that do not ship are left to the platform, which fulfils them itself (Shopify issues gift cards and fulfils
  lines with `requires_shipping: false`; B2C Commerce sends gift certificates): the order takes the goods and lists
  the others in its source's `not_fulfilled`, so a paid order's goods are not held back for a gift card. An order
  with nothing the OMS fulfils: 422.
- Currency: the order's (Shopify's shop currency, with its shop-money amounts), one domain.money knows; else 422.
- Shipping: standard, unless the method's code, title or name says next day, same day, overnight or express
  (next_day). A pickup method: 422, as the platform's locations are not mapped to ours. One shipping address: the
  Shopify `shipping_address`, the B2C Commerce shipment the product items name (items on two shipments: 422); none:
  422. The address's state or prefecture, which our address has no field for, is kept in the source's `region`.
- Tax: our tax engine computes the order's tax from the catalog's tax classes, as for any checkout.
- The source (domain.intake_source.IntakeSource): the platform's order id and name, its total, shipping price,
  shipping method, tax total and taxes_included, its financial status, the region, and what it kept: recorded with
  the order in its history, for reference only (the OMS charges no shipping itself).
"""

import asyncio
import base64
import hashlib
import hmac
import json
from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import Any

import structlog
from fastapi import APIRouter, HTTPException, Request, Response
from pydantic import BaseModel
from sqlalchemy.exc import SQLAlchemyError

from domain.models import PlaceOrder
from starter.api import checkout, intake_sfcc, intake_shopify
from starter.api.auth import Principal, require
from starter.api.catalog import Catalog, Products
from starter.api.checkout_route import REFUSALS, answer, take_order
from starter.api.deps import Services
from starter.api.intake_mapping import Unmappable
from starter.api.orders import TIMED_OUT, Svc
from store.read_model import OrderSummary

router = APIRouter(prefix="/v1/intake", tags=["intake"])
log = structlog.get_logger()

HMAC_HEADER = "X-Shopify-Hmac-Sha256"


class IntakeRefusal(BaseModel):
    """Why a platform's order was not taken: for a document that cannot be mapped, every reason, one per item."""

    detail: str | list[str]


_JSON_BODY: dict[str, Any] = {
    "requestBody": {"required": True, "content": {"application/json": {"schema": {"type": "object"}}}}
}
ANSWERS: dict[int | str, dict[str, Any]] = {
    200: {"description": "the platform's order was taken before: the order as it is (nothing started)"},
    201: {"description": "the order was placed"},
    402: {"description": "payment declined", "model": IntakeRefusal},
    409: {"description": "items cannot be allocated", "model": IntakeRefusal},
    422: {"description": "the document cannot be mapped to an order: every reason is listed", "model": IntakeRefusal},
    503: {"description": "the order could not be taken now (nothing was started): send it again"},
    **TIMED_OUT,
}
SHOPIFY_ANSWERS: dict[int | str, dict[str, Any]] = {
    **ANSWERS,
    401: {"description": f"{HMAC_HEADER} is missing or does not sign the body", "model": IntakeRefusal},
    503: {"description": "intake from Shopify is not configured, or the order could not be taken now"},
}


@router.post("/shopify", status_code=201, responses=SHOPIFY_ANSWERS, openapi_extra=_JSON_BODY)
async def from_shopify(request: Request, svc: Svc, catalog: Products) -> Response:
    """Shopify's orders/create webhook, authenticated by its HMAC rather than a bearer token."""
    secret = svc.settings.shopify_webhook_secret
    if not secret:
        raise HTTPException(503, "intake from Shopify is not configured")
    body = await request.body()
    # the signature is checked before anything of the body is read
    if not shopify_signed(body, request.headers.get(HMAC_HEADER), secret):
        log.warning("shopify intake refused: bad signature", signed=HMAC_HEADER in request.headers)
        raise HTTPException(401, f"{HMAC_HEADER} is missing or does not sign the body")
    return await _intake(svc, catalog, "shopify", _document(body), intake_shopify.order_id_of, intake_shopify.to_order)


@router.post("/sfcc", status_code=201, responses=ANSWERS, openapi_extra=_JSON_BODY)
async def from_sfcc(request: Request, svc: Svc, catalog: Products, who: Principal = require("storefront")) -> Response:
    """A Salesforce B2C Commerce order document, from the storefront's token."""
    document = _document(await request.body())
    return await _intake(svc, catalog, "sfcc", document, intake_sfcc.order_id_of, intake_sfcc.to_order)


def shopify_signed(body: bytes, header: str | None, secret: str) -> bool:
    if not header:
        return False
    expected = base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest())
    # Starlette reads headers as latin-1, so any header encodes back to the bytes that were sent
    return hmac.compare_digest(expected, header.strip().encode("latin-1"))


def _document(body: bytes) -> Mapping[str, Any]:
    try:
        # amounts as Decimal from the digits sent, never through a float
        document = json.loads(body, parse_float=Decimal)
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise HTTPException(400, f"the body is not JSON: {err}") from err
    if not isinstance(document, dict):
        raise HTTPException(422, ["the body is not an order document (a JSON object)"])
    return document


async def _intake(
    svc: Services,
    catalog: Catalog,
    platform: str,
    document: Mapping[str, Any],
    order_id_of: Callable[[Mapping[str, Any]], str | None],
    to_order: Callable[[Mapping[str, Any]], PlaceOrder],
) -> Response:
    order_id = order_id_of(document)
    bound = log.bind(platform=platform, order_id=order_id)
    existing = await _existing(svc, order_id) if order_id else None
    if existing is not None:
        bound.info("platform order delivered again: answered with the order", status=existing.status)
        return answer(checkout.Placed(existing.status, None, checkout.answer_of(existing)), accepted=200)
    try:
        order = to_order(document)
    except Unmappable as err:
        bound.warning("platform order refused: cannot be mapped", problems=err.problems)
        raise HTTPException(422, err.problems) from err
    placed = await take_order(svc, catalog, order)
    bound.info("platform order placed", status=placed.status, refused=placed.status in REFUSALS, again=placed.repeated)
    return answer(placed, accepted=200 if placed.repeated else 201)


async def _existing(svc: Services, order_id: str) -> OrderSummary | None:
    try:
        return await asyncio.to_thread(svc.queries.get, order_id)
    except SQLAlchemyError as err:
        raise HTTPException(503, f"order {order_id} could not be taken now; send it again: {err}") from err
