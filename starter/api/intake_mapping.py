"""What the Shopify and B2C Commerce mappers share: reading a platform's loosely typed document, turning its lines
into ours, and assembling the order with every reason it cannot be mapped listed at once.

A mapper collects problems as it reads and raises Unmappable with all of them; nothing is started for such a
document. The rules themselves are in the module docstring of starter/api/intake.py.
"""

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

from pydantic import ValidationError

from domain.intake_source import NOTE_LENGTH
from domain.models import DeliveryMethod, LineRequest, Locale, PlaceOrder
from domain.money import is_currency, quantize

# Words in a shipping method's code, title or name that promise more than standard delivery. Same-day is taken as
# next-day: routing plans same-day only near a location and with the address's coordinates, which the platform did
# not check when it sold the method.
_FAST = re.compile(r"next[\s_-]?day|same[\s_-]?day|overnight|express", re.IGNORECASE)
_PICKUP = re.compile(r"pick[\s_-]?up|in[\s_-]?store|click\s*(&|and)\s*collect", re.IGNORECASE)


class Unmappable(Exception):
    """The document cannot become our order, for each of `problems`."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


def text(value: object) -> str | None:
    """A field as text: ids may come as numbers; blank, absent and non-scalar fields read as None."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int | str | Decimal):
        stripped = str(value).strip()
        return stripped or None
    return None


def clip(value: str | None, length: int = NOTE_LENGTH) -> str | None:
    """Words kept for reference only: a long one is shortened rather than refusing a paid order for it."""
    return value if value is None or len(value) <= length else value[: length - 1] + "…"


def mapping(value: object) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def mappings(value: object) -> list[Mapping[str, Any]]:
    return [item for item in value if isinstance(item, Mapping)] if isinstance(value, list) else []


def amount(value: object) -> Decimal | None:
    """A money field (a JSON number, read as Decimal, or a decimal string); None when absent or not an amount."""
    if isinstance(value, bool) or value is None:
        return None
    try:
        found = Decimal(str(value).strip())
    except InvalidOperation:
        return None
    return found if found.is_finite() else None


def whole(value: object) -> int | None:
    """A count of units: a whole JSON number, else None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, Decimal) and value == value.to_integral_value():
        return int(value)
    return None


def locale_of(value: object) -> Locale:
    """`ja` for a Japanese locale or language (`ja`, `ja-JP`, `ja_JP`), else `en`."""
    found = text(value)
    return "ja" if found is not None and found.lower().startswith("ja") else "en"


def is_pickup(words: Iterable[str | None]) -> bool:
    return any(word is not None and _PICKUP.search(word) for word in words)


def delivery_method(words: Iterable[str | None]) -> DeliveryMethod:
    return "next_day" if any(word is not None and _FAST.search(word) for word in words) else "standard"


def known_currency(value: object, problems: list[str]) -> str | None:
    currency = text(value)
    if currency is None:
        problems.append("the order names no currency")
        return None
    if not is_currency(currency.upper()):
        problems.append(f"the order's currency {currency} is not one the OMS keeps money in")
        return None
    return currency.upper()


@dataclass
class ItemLine:
    """One of the platform's lines as read: `net` is what its `priced` units came to after every discount the
    platform put on it; the OMS takes `quantity` units of it (fewer once the platform removed some)."""

    ref: str
    sku: str
    quantity: int
    priced: int
    net: Decimal


@dataclass
class _Merged:
    unit_price: Decimal
    quantity: int
    refs: list[str] = field(default_factory=list)


def order_lines(items: list[ItemLine], currency: str | None, problems: list[str]) -> list[LineRequest]:
    """Our lines: each item's net price per unit, exact in the currency's minor unit; items of one sku at one
    price are added up (our order has one line per sku), at different prices they cannot be."""
    merged: dict[str, _Merged] = {}
    for item in items:
        if item.net < 0:
            problems.append(f"{item.ref}: its discounts come to more than its price")
            continue
        unit = item.net / item.priced
        if currency is None:
            continue  # refused for its currency already: its prices cannot be checked
        if quantize(unit, currency) != unit:
            problems.append(
                f"{item.ref}: its discounted price {item.net} does not spread evenly over its {item.priced} units "
                f"in {currency}"
            )
            continue
        unit = quantize(unit, currency)
        same = merged.get(item.sku)
        if same is None:
            merged[item.sku] = _Merged(unit, item.quantity, [item.ref])
        elif same.unit_price == unit:
            same.quantity += item.quantity
            same.refs.append(item.ref)
        else:
            problems.append(
                f"{item.sku} is on {', '.join(same.refs)} at {same.unit_price} and on {item.ref} at {unit}: "
                "the OMS takes one price per sku"
            )
    return [LineRequest(sku=sku, quantity=m.quantity, unit_price=m.unit_price) for sku, m in merged.items()]


def assemble(fields: dict[str, Any], problems: list[str]) -> PlaceOrder:
    """The order, or Unmappable with everything wrong with it: what the mapper found, or else what our order's
    own rules refuse (an order id that does not fit, an e-mail address that is not one ...)."""
    if problems:
        raise Unmappable(problems)
    try:
        return PlaceOrder.model_validate(fields)
    except ValidationError as err:
        raise Unmappable([_reason(error) for error in err.errors()]) from err


def _reason(error: Mapping[str, Any]) -> str:
    where = ".".join(str(part) for part in error.get("loc", ()))
    message = str(error.get("msg", "is not valid")).removeprefix("Value error, ")
    return f"{where}: {message}" if where else message
