"""The catalog over HTTP, and the price rules it sets for checkout and exchanges."""

from collections.abc import Collection, Mapping, Sequence
from decimal import Decimal
from typing import Annotated, Protocol

from fastapi import APIRouter, Depends, HTTPException, Request

from domain.models import MAX_AMOUNT, Sku
from domain.money import quantize
from starter.api.auth import ROLES, Principal, require
from store.catalog import Product, ProductCatalog, ProductDetails
from workflows.messages import ReplacementLine

router = APIRouter(prefix="/v1/products", tags=["catalog"])
ANY_ROLE = tuple(sorted(ROLES))


class Catalog(Protocol):
    """What the routes ask of `store.catalog.ProductCatalog`."""

    def get(self, sku: str) -> Product | None: ...

    def products(self, skus: Collection[str]) -> dict[str, Product]: ...

    def unknown(self, skus: Sequence[str]) -> list[str]: ...

    def put(self, sku: str, details: ProductDetails) -> Product: ...


def product_catalog(request: Request) -> Catalog:
    """The catalog on the API's database."""
    return ProductCatalog(request.app.state.services.engine)


Products = Annotated[Catalog, Depends(product_catalog)]


@router.get("/{sku}", responses={404: {"description": "the catalog has no such sku"}})
def get_product(sku: Sku, catalog: Products, who: Principal = require(*ANY_ROLE)) -> Product:
    """A product: its name, its price in each currency it sells in (tax included), its tax class."""
    product = catalog.get(sku)
    if product is None:
        raise HTTPException(404, f"the catalog has no sku {sku}")
    return product


@router.put("/{sku}", responses={422: {"description": "an unknown currency, a price out of bounds or too precise"}})
def put_product(sku: Sku, body: ProductDetails, catalog: Products, who: Principal = require("operator")) -> Product:
    """Create or replace a product. Its prices are what exchanges charge for a sku not on the order."""
    return catalog.put(sku, body)


class AsksForReplacement(Protocol):
    """A replacement line as the exchange body names it."""

    @property
    def sku(self) -> str: ...

    @property
    def quantity(self) -> int: ...

    @property
    def unit_price(self) -> Decimal | None: ...

    @property
    def price_reason(self) -> str | None: ...


def priced_replacement(
    asked: Sequence[AsksForReplacement],
    *,
    on_order: Mapping[str, Decimal],
    currency: str,
    agent: bool,
    catalog: Catalog,
) -> list[ReplacementLine]:
    """The replacement at the prices the shop sets: a sku on the order at the order's own price (left for the order
    to fill in), any other at the catalog's price in the order's currency. Only an agent may set another price,
    and gives `price_reason`; a customer's price is never taken. 422 for a sku the catalog does not know, a
    catalog without a price in the currency, an agent's price without its reason, or a replacement worth more
    than an order may come to."""
    listed = catalog.products([q.sku for q in asked if q.sku not in on_order])
    unknown = [q.sku for q in asked if q.sku not in on_order and q.sku not in listed]
    if unknown:
        raise HTTPException(422, f"the catalog has no {', '.join(unknown)}: a replacement is a product it sells")
    lines: list[ReplacementLine] = []
    value = Decimal(0)
    for q in asked:
        shop_price = on_order.get(q.sku)
        if shop_price is None:
            shop_price = listed[q.sku].price_in(currency)
        set_price = q.unit_price if agent else None
        if set_price is not None and set_price != shop_price:
            if quantize(set_price, currency) != set_price:
                raise HTTPException(422, f"unit_price {set_price} has more decimals than {currency} allows")
            if not q.price_reason:
                source = "the order's" if q.sku in on_order else "the catalog's"
                known = f"{source} price {shop_price}" if shop_price is not None else f"no catalog price in {currency}"
                raise HTTPException(
                    422, f"{q.sku}: unit_price {set_price} is not {known}; an agent who sets a price gives price_reason"
                )
            lines.append(
                ReplacementLine(sku=q.sku, quantity=q.quantity, unit_price=set_price, price_reason=q.price_reason)
            )
            value += set_price * q.quantity
        elif shop_price is None:
            raise HTTPException(
                422, f"the catalog has no {currency} price for {q.sku}; an agent may set one, with price_reason"
            )
        else:
            # a sku on the order is priced by the order itself, which knows its lines best
            price = None if q.sku in on_order else shop_price
            lines.append(ReplacementLine(sku=q.sku, quantity=q.quantity, unit_price=price))
            value += shop_price * q.quantity
    if value > MAX_AMOUNT:
        raise HTTPException(422, f"the replacement is worth {value}, more than an order may come to ({MAX_AMOUNT})")
    return lines
