"""A Salesforce B2C Commerce order document (OCAPI's snake_case or SCAPI's camelCase) as our order; the rules are
in starter/api/intake.py."""

import re
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from domain.models import PlaceOrder
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

# Placed: `created` is a basket turned order whose payment was never authorized; failed, cancelled and replaced
# orders are not to be shipped.
PLACED = frozenset({"new", "open", "completed"})
MAX_PHONE = 32
_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")


def snake_case(value: Any) -> Any:
    """SCAPI's camelCase keys as OCAPI's snake_case ones (`orderNo` -> `order_no`); custom attributes (`c_...`)
    keep their names."""
    if isinstance(value, list):
        return [snake_case(item) for item in value]
    if isinstance(value, Mapping):
        return {
            (key if key.startswith("c_") else _CAMEL.sub("_", key).lower()): snake_case(item)
            for key, item in value.items()
        }
    return value


def order_id_of(doc: Mapping[str, Any]) -> str | None:
    found = text(snake_case(doc).get("order_no"))
    return None if found is None else f"sfcc-{found}"


def to_order(document: Mapping[str, Any]) -> PlaceOrder:
    """Raises Unmappable with every reason the order cannot be ours."""
    doc: Mapping[str, Any] = snake_case(document)
    problems: list[str] = []
    order_no = text(doc.get("order_no"))
    if order_no is None:
        problems.append("the order has no order_no")
    status = (text(doc.get("status")) or "missing").lower()
    if status not in PLACED:
        problems.append(f"the order is not placed on B2C Commerce (status {status})")
    confirmation = (text(doc.get("confirmation_status")) or "missing").lower()
    if confirmation != "confirmed":
        problems.append(f"the order is not confirmed on B2C Commerce (confirmation_status {confirmation})")
    currency = known_currency(doc.get("currency"), problems)
    product_items = mappings(doc.get("product_items"))
    items = _items(product_items, problems)
    lines = order_lines(items, currency, problems)
    if not product_items:
        problems.append("the order has no product item the OMS fulfils (gift certificates are B2C Commerce's)")
    shipment = _shipment(doc, product_items, problems)
    address = mapping(shipment.get("shipping_address"))
    method = mapping(shipment.get("shipping_method"))
    words = [text(method.get("id")), text(method.get("name"))]
    if is_pickup(words) or text(shipment.get("c_fromStoreId")):
        problems.append(
            f"the order is picked up in a store ({', '.join(w for w in words if w)}): a B2C Commerce store cannot "
            "be mapped to an OMS pickup location"
        )
    taxation = text(doc.get("taxation"))
    fields: dict[str, Any] = {
        "order_id": order_id_of(doc),
        "channel": "web",
        "customer": _customer(doc, address, problems),
        "currency": currency,
        "lines": lines,
        "shipping_address": _address(address, problems) if shipment else None,
        "delivery_method": delivery_method(words),
        "payment": {"method": "prepaid", "platform": "sfcc", "reference": order_no},
        "source": {
            "platform": "sfcc",
            "order_id": order_no,
            "total": amount(doc.get("order_total")),
            "shipping_price": amount(doc.get("shipping_total")),
            "shipping_method": clip(text(method.get("name")) or text(method.get("id"))),
            "tax_total": amount(doc.get("tax_total")),
            "taxes_included": None if taxation is None else taxation == "gross",
            "financial_status": clip(text(doc.get("payment_status")), 64),
            "region": clip(text(address.get("state_code")), 100),
            "not_fulfilled": [_gift_certificate(item) for item in mappings(doc.get("gift_certificate_items"))],
        },
    }
    return assemble(fields, problems)


def _items(product_items: list[Mapping[str, Any]], problems: list[str]) -> list[ItemLine]:
    items: list[ItemLine] = []
    for n, item in enumerate(product_items, start=1):
        ref = f"product item {text(item.get('item_id')) or n}"
        sku = text(item.get("product_id"))
        quantity = whole(item.get("quantity"))
        if sku is None:
            problems.append(f"{ref} has no product_id")
        if quantity is None or quantity <= 0:
            problems.append(f"{ref} has no quantity the OMS can take ({item.get('quantity')!r})")
            continue
        net = _net(item, quantity)
        # an option (engraving, gift box) is part of the unit it comes with: its price adds to the product's
        options = [_net(option, quantity) for option in mappings(item.get("option_items"))]
        if net is None or None in options:
            problems.append(f"{ref} has a price or price adjustment that is not an amount")
            continue
        if sku is not None:
            total = net + sum((o for o in options if o is not None), Decimal(0))
            items.append(ItemLine(ref=ref, sku=sku, quantity=quantity, priced=quantity, net=total))
    return items


def _net(item: Mapping[str, Any], quantity: int) -> Decimal | None:
    """What the item's units came to after its own and its share of the order's discounts."""
    after = amount(item.get("price_after_order_discount"))
    if after is not None:
        return after
    price = amount(item.get("price"))
    if price is None:
        base = amount(item.get("base_price"))
        price = None if base is None else base * quantity
    adjustments = [amount(a.get("price")) for a in mappings(item.get("price_adjustments"))]
    if price is None or None in adjustments:
        return None
    return price + sum((a for a in adjustments if a is not None), Decimal(0))  # adjustments are negative


def _shipment(doc: Mapping[str, Any], product_items: list[Mapping[str, Any]], problems: list[str]) -> Mapping[str, Any]:
    shipments = mappings(doc.get("shipments"))
    named = {text(item.get("shipment_id")) for item in product_items} - {None}
    if len(named) > 1:
        problems.append(
            f"the order ships to {len(named)} shipments ({', '.join(sorted(n for n in named if n))}): the OMS takes "
            "one shipping address per order"
        )
        return {}
    chosen = [s for s in shipments if text(s.get("shipment_id")) in named] if named else shipments[:1]
    if not chosen or not mapping(chosen[0].get("shipping_address")):
        problems.append("the order has no shipping address")
        return {}
    return chosen[0]


def _customer(doc: Mapping[str, Any], address: Mapping[str, Any], problems: list[str]) -> dict[str, Any]:
    info = mapping(doc.get("customer_info"))
    email = text(info.get("email"))
    if email is None:
        problems.append("the order has no e-mail address to reach the customer by")
    name = text(info.get("customer_name")) or text(doc.get("customer_name")) or _full_name(address)
    if name is None:
        problems.append("the order names no customer: neither customer_info nor the shipping address has a name")
    phone = text(mapping(doc.get("billing_address")).get("phone")) or text(address.get("phone"))
    # a registered customer has a number of their own; a guest is known by their e-mail address
    guest = info.get("guest") is True or doc.get("guest") is True
    number = text(info.get("customer_no"))
    return {
        "id": f"sfcc-{number}" if number and not guest else email,
        "email": email,
        "name": name,
        "phone": phone if phone is not None and len(phone) <= MAX_PHONE else None,
        "locale": locale_of(doc.get("customer_locale")),
    }


def _full_name(address: Mapping[str, Any]) -> str | None:
    parts = (text(address.get("first_name")), text(address.get("last_name")))
    return text(address.get("full_name")) or " ".join(filter(None, parts)) or None


def _address(address: Mapping[str, Any], problems: list[str]) -> dict[str, Any]:
    fields = {
        "name": _full_name(address),
        "line1": text(address.get("address1")),
        "line2": text(address.get("address2")),
        "city": text(address.get("city")),
        "postal_code": text(address.get("postal_code")),
        "country": (text(address.get("country_code")) or "").upper() or None,
    }
    missing = [theirs for ours, theirs in _REQUIRED.items() if fields[ours] is None]
    if missing:
        problems.append(f"the shipping address has no {', '.join(missing)}")
    return fields


_REQUIRED = {
    "name": "full_name",
    "line1": "address1",
    "city": "city",
    "postal_code": "postal_code",
    "country": "country_code",
}


def _gift_certificate(item: Mapping[str, Any]) -> str:
    ref = text(item.get("gift_certificate_item_id")) or "(no id)"
    return clip(f"gift certificate {ref} ({text(item.get('amount')) or '?'}): B2C Commerce sends it") or ""
