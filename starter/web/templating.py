"""Rendering the pages: one Jinja2 environment (autoescaped), and the messages a redirect carries to the next page.

A page is rendered with `render(request, "console/order.html", order=...)`; it extends `base.html`, which lays out
the navigation of the portal the page belongs to, who is signed in, and the messages for the person: the flash of
the action just done (set with `flash` on the redirect that follows a form POST) and any refusal the page carries.
"""

import base64
import hashlib
import hmac
import json
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from fastapi import Request, Response
from fastapi.responses import HTMLResponse
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from domain.money import quantize
from starter.web.portals import CONSOLE, PORTALS, Portal
from starter.web.session import CSRF_FIELD, PageUser, app_key, same

TEMPLATES = Path(__file__).parent / "templates"
STATIC = Path(__file__).parent / "static"
FLASH_SECONDS = 60


def money(amount: Decimal | int | str | None, currency: str) -> str:
    """An amount in the currency's minor unit, with its code: `24,980 JPY`."""
    if amount is None:
        return ""
    value = quantize(Decimal(str(amount)), currency)
    return f"{value:,} {currency}"


def when(value: datetime | date | str | None) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M UTC") if value.tzinfo else value.strftime("%Y-%m-%d %H:%M")
    return str(value)


def address(value: dict[str, Any] | None) -> str:
    """An address on one line, its empty parts left out."""
    if not value:
        return ""
    city = " ".join(str(value[k]) for k in ("city", "postal_code") if value.get(k))
    parts = [value.get("name"), value.get("line1"), value.get("line2"), city, value.get("country")]
    return ", ".join(str(part) for part in parts if part)


def _environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=select_autoescape(("html", "xml"), default=True),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["money"] = money
    env.filters["when"] = when
    env.filters["address"] = address
    env.globals["csrf_field"] = CSRF_FIELD
    return env


environment = _environment()


def portal_of(path: str) -> Portal:
    return next((portal for portal in PORTALS if portal.owns(path)), CONSOLE)


def _flash_mac(key: bytes, portal: Portal, body: str) -> str:
    return hmac.new(key, f"flash|{portal.name}|{body}".encode(), hashlib.sha256).hexdigest()


def flash(response: Response, request: Request, message: str, portal: Portal | None = None) -> None:
    """Carry `message` to the next page this browser shows in the portal (the page a form's redirect leads to)."""
    portal = portal or portal_of(request.url.path)
    body = base64.urlsafe_b64encode(json.dumps([message]).encode()).decode().rstrip("=")
    response.set_cookie(
        portal.flash_cookie,
        f"{body}.{_flash_mac(app_key(request), portal, body)}",
        max_age=FLASH_SECONDS,
        path=portal.prefix,
        httponly=True,
        samesite="strict",
        secure=request.app.state.settings.production,
    )


def _flashes(request: Request, portal: Portal) -> list[str]:
    body, _, signature = request.cookies.get(portal.flash_cookie, "").partition(".")
    if not body or not same(signature, _flash_mac(app_key(request), portal, body)):
        return []
    try:
        messages = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    except ValueError:
        return []
    return [str(m) for m in messages] if isinstance(messages, list) else []


def render(request: Request, template: str, status_code: int = 200, **context: Any) -> HTMLResponse:
    """The page `template` with `context`, and what every page shows: the portal's navigation for who is signed
    in, their CSRF token for its forms, and the messages waiting for them (`refusal` for one shown in place)."""
    portal: Portal = context.pop("portal", None) or portal_of(request.url.path)
    user: PageUser | None = getattr(request.state, "page_user", None)
    messages = _flashes(request, portal)
    page = environment.get_template(template).render(
        request=request,
        portal=portal,
        user=user,
        nav=portal.nav_for(user.role if user else None),
        csrf_token=context.pop("csrf_token", None) or (user.csrf_token if user else ""),
        messages=messages,
        refusal=context.pop("refusal", None),
        **context,
    )
    response = HTMLResponse(page, status_code=status_code)
    # pages show a person's orders: never kept by a shared cache, nor framed by another site
    response.headers["Cache-Control"] = "no-store"
    response.headers["X-Frame-Options"] = "DENY"
    response.headers["Content-Security-Policy"] = (
        # inline style attributes are allowed (a chart's bar widths); scripts only from this site's own files
        "default-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; frame-ancestors 'none'; "
        "form-action 'self'"
    )
    if messages:
        response.delete_cookie(portal.flash_cookie, path=portal.prefix)
    return response
