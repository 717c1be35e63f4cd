"""Shopify's `orders/create` webhook body (the Admin API's Order resource) as our order; the rules are in
starter/api/intake.py."""

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from domain.models import Channel, PlaceOrder
from starter.api.intake_mapping import (
    ItemLine,
    amount,
    assemble,
    clip,
    delivery_method,
    is_pickup,
    known_currency,
    locale_of,
    mapping,
    mappings,
    order_lines,
    text,
    whole,
)

PAID = frozenset({"paid", "authorized"})
MAX_PHONE = 32


def order_id_of(doc: Mapping[str, Any]) -> str | None:
    found = text(doc.get("id"))
    return None if found is None else f"shopify-{found}"


def to_order(doc: Mapping[str, Any]) -> PlaceOrder:
    """Raises Unmappable with every reason the order cannot be ours."""
    problems: list[str] = []
    platform_id = text(doc.get("id"))
    if platform_id is None:
        problems.append("the order has no id")
    status = text(doc.get("financial_status"))
    if status not in PAID:
        problems.append(f"the order is not paid on Shopify (financial_status {status or 'missing'})")
    if doc.get("cancelled_at"):
        problems.append("the order is cancelled on Shopify")
    currency = known_currency(doc.get("currency"), problems)
    customer = mapping(doc.get("customer"))
    address = mapping(doc.get("shipping_address"))
    line_items = mappings(doc.get("line_items"))
    items, not_fulfilled = _items(line_items, problems)
    lines = order_lines(items, currency, problems)
    if len(not_fulfilled) == len(line_items):
        problems.append("the order has no line the OMS fulfils (gift cards and lines that do not ship are Shopify's)")
    shipping = mappings(doc.get("shipping_lines"))
    words = [text(line.get(key)) for line in shipping for key in ("code", "title")]
    if is_pickup(words):
        problems.append(
            f"the order is picked up on Shopify ({', '.join(w for w in words if w)}): a Shopify location cannot "
            "be mapped to an OMS pickup location"
        )
    fields: dict[str, Any] = {
        "order_id": order_id_of(doc),
        "channel": _channel(doc),
        "customer": _customer(doc, customer, address, problems),
        "currency": currency,
        "lines": lines,
        "shipping_address": _address(address, problems),
        "delivery_method": delivery_method(words),
        "payment": {"method": "prepaid", "platform": "shopify", "reference": platform_id},
        "source": {
            "platform": "shopify",
            "order_id": platform_id,
            "order_name": clip(text(doc.get("name")), 64),
            "total": amount(doc.get("total_price")),
            "shipping_price": _shipping_price(shipping),
            "shipping_method": clip(", ".join(filter(None, (text(line.get("title")) for line in shipping))) or None),
            "tax_total": amount(doc.get("total_tax")),
            "taxes_included": doc.get("taxes_included") if isinstance(doc.get("taxes_included"), bool) else None,
            "financial_status": clip(status, 64),
            "region": clip(text(address.get("province_code")) or text(address.get("province")), 100),
            "not_fulfilled": not_fulfilled,
        },
    }
    return assemble(fields, problems)


def _channel(doc: Mapping[str, Any]) -> Channel:
    return "store" if text(doc.get("source_name")) == "pos" else "web"


def _items(line_items: list[Mapping[str, Any]], problems: list[str]) -> tuple[list[ItemLine], list[str]]:
    items: list[ItemLine] = []
    not_fulfilled: list[str] = []
    for line in line_items:
        ref = f"line item {text(line.get('id')) or '(no id)'}"
        named = f"{ref} ({clip(text(line.get('name')) or text(line.get('title')) or 'unnamed', 80)})"
        if line.get("gift_card") is True:
            not_fulfilled.append(clip(f"{named}: a gift card, which Shopify issues") or "")
            continue
        if line.get("requires_shipping") is False:
            not_fulfilled.append(clip(f"{named}: does not ship, Shopify fulfils it") or "")
            continue
        priced = whole(line.get("quantity"))
        # what order edits and refunds left of it; orders/create has it equal to quantity
        current = whole(line.get("current_quantity"))
        quantity = priced if current is None else current
        sku = text(line.get("sku"))
        price = amount(line.get("price"))
        discounts = [amount(a.get("amount")) for a in mappings(line.get("discount_allocations"))]
        if sku is None:
            problems.append(f"{ref} has no sku")
        if priced is None or priced <= 0 or quantity is None or quantity < 0 or quantity > priced:
            problems.append(f"{ref} has no quantity the OMS can take ({line.get('quantity')!r})")
            continue
        if price is None or price < 0 or None in discounts:
            problems.append(f"{ref} has a price or discount that is not an amount")
            continue
        if quantity == 0:
            not_fulfilled.append(clip(f"{named}: removed on Shopify") or "")
            continue
        if sku is not None:
            net = price * priced - sum((d for d in discounts if d is not None), Decimal(0))
            items.append(ItemLine(ref=ref, sku=sku, quantity=quantity, priced=priced, net=net))
    return items, not_fulfilled


def _customer(
    doc: Mapping[str, Any], customer: Mapping[str, Any], address: Mapping[str, Any], problems: list[str]
) -> dict[str, Any] | None:
    email = text(doc.get("email")) or text(doc.get("contact_email")) or text(customer.get("email"))
    if email is None:
        problems.append("the order has no e-mail address to reach the customer by")
    name = _full_name(customer) or text(address.get("name")) or _full_name(address)
    if name is None:
        problems.append("the order names no customer: neither the customer nor the shipping address has a name")
    phone = text(doc.get("phone")) or text(customer.get("phone")) or text(address.get("phone"))
    customer_id = text(customer.get("id"))
    return {
        "id": f"shopify-{customer_id}" if customer_id else email,
        "email": email,
        "name": name,
        # a number too long for our records is left out rather than refusing a paid order
        "phone": phone if phone is not None and len(phone) <= MAX_PHONE else None,
        "locale": locale_of(doc.get("customer_locale")),
    }


def _full_name(part: Mapping[str, Any]) -> str | None:
    return " ".join(filter(None, (text(part.get("first_name")), text(part.get("last_name"))))) or None


def _address(address: Mapping[str, Any], problems: list[str]) -> dict[str, Any] | None:
    if not address:
        problems.append("the order has no shipping address")
        return None
    fields: dict[str, Any] = {
        "name": text(address.get("name")) or _full_name(address),
        "line1": text(address.get("address1")),
        "line2": text(address.get("address2")),
        "city": text(address.get("city")),
        "postal_code": text(address.get("zip")),
        "country": (text(address.get("country_code")) or "").upper() or None,
    }
    missing = [shopify for ours, shopify in _REQUIRED.items() if fields[ours] is None]
    if missing:
        problems.append(f"the shipping address has no {', '.join(missing)}")
    latitude, longitude = amount(address.get("latitude")), amount(address.get("longitude"))
    if latitude is not None and longitude is not None:
        fields |= {"latitude": float(latitude), "longitude": float(longitude)}
    return fields


_REQUIRED = {
    "name": "name",
    "line1": "address1",
    "city": "city",
    "postal_code": "zip",
    "country": "country_code",
}


def _shipping_price(shipping: list[Mapping[str, Any]]) -> Decimal | None:
    prices = [amount(line.get("price")) for line in shipping]
    if not prices or None in prices:
        return None
    return sum((p for p in prices if p is not None), Decimal(0))
