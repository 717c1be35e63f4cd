"""The words of each message, in the customer's language: one Jinja2 template per kind and locale
(templates/<locale>/<kind>.txt) with a block each for the mail's subject and body and for the SMS."""

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined

from domain.models import Locale
from events_out.notifications.notices import Notice

LOCALES: tuple[Locale, ...] = ("ja", "en")
# Customers and stores are in Japan, which keeps one offset all year.
JST = timezone(timedelta(hours=9), "JST")
_CARRIERS = {
    "yamato": {"ja": "ヤマト運輸", "en": "Yamato Transport"},
    "sagawa": {"ja": "佐川急便", "en": "Sagawa Express"},
}

# Plain text, so nothing is HTML-escaped; a variable a template names and the message lacks fails the render.
_env = Environment(
    loader=FileSystemLoader(Path(__file__).with_name("templates")),
    undefined=StrictUndefined,
    autoescape=False,
    keep_trailing_newline=False,
)


@dataclass(frozen=True)
class Rendered:
    subject: str
    body: str
    sms: str


def render(notice: Notice, locale: Locale, values: dict[str, Any]) -> Rendered:
    """The message for `notice`; `values` are the order's (order_id, name, total, currency, store ...)."""
    template = _env.get_template(f"{locale}/{notice.kind}.txt")
    shown = _shown({**values, **notice.facts}, locale)
    context = template.new_context(shown)

    def block(name: str) -> str:
        return "".join(template.blocks[name](context)).strip()

    return Rendered(subject=block("subject"), body=block("body") + "\n", sms=block("sms"))


def _shown(values: dict[str, Any], locale: Locale) -> dict[str, Any]:
    """Amounts, times and carriers as the customer reads them."""
    currency = str(values.get("currency", "JPY"))
    shown = dict(values)
    for key in ("total", "amount"):
        if isinstance(values.get(key), Decimal):
            shown[key] = money(values[key], currency, locale)
    if isinstance(values.get("collect_by"), datetime):
        shown["collect_by"] = when(values["collect_by"], locale)
    if "carrier" in values:
        shown["carrier"] = _CARRIERS.get(str(values["carrier"]), {}).get(locale, str(values["carrier"]))
    return shown


def money(amount: Decimal, currency: str, locale: Locale) -> str:
    if currency == "JPY":
        yen = f"{amount.quantize(Decimal(1)):,}"
        return f"{yen}円" if locale == "ja" else f"¥{yen}"
    return f"{amount.quantize(Decimal('0.01')):,} {currency}"


def when(moment: datetime, locale: Locale) -> str:
    local = moment.astimezone(JST)
    if locale == "ja":
        return f"{local.year}年{local.month}月{local.day}日 {local:%H:%M}"
    return f"{local.day} {local:%b %Y, %H:%M} JST"
