"""A handful of demo orders placed through the API once `oms up` has started, so the console, the customer pages
and the insights have something to show on a fresh clone.

They go through the real checkout (`POST /v1/orders`, with a storefront or agent token from OMS_TOKENS) and the
simulated partners then ship and deliver them as any other order. Their ids are fixed: an order the read model
already has is left alone, and one placed again gets the same answer, so a restart places nothing twice. It runs
beside `oms up`, never in its way: whatever fails is logged and the stack goes on.
"""

import threading
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import structlog

from domain.models import PlaceOrder
from starter.api.auth import Principal, parse_tokens
from starter.client import OmsApiError, OmsClient, OmsClientError
from starter.settings import Settings
from store.seed import DEMO_PRODUCTS

log = structlog.get_logger()
PRICES: dict[str, Decimal] = {sku: price for sku, _, price, _ in DEMO_PRODUCTS}
# a checkout answered with one of these was placed as the demo meant it (the declined card is one of the demos)
PLANNED_REFUSALS = frozenset({402})
TIMEOUT_S = 15.0


@dataclass(frozen=True)
class DemoCustomer:
    id: str
    name: str
    email: str
    locale: str
    address: dict[str, Any]


CUSTOMERS = {
    "C-1": DemoCustomer(
        "C-1",
        "Aiko Sato",
        "aiko.sato@example.com",
        "ja",
        {
            "name": "Aiko Sato",
            "line1": "1-1 Marunouchi",
            "city": "Chiyoda",
            "postal_code": "100-0005",
            "country": "JP",
            "latitude": 35.681,
            "longitude": 139.767,
        },
    ),
    "C-2": DemoCustomer(
        "C-2",
        "Emma Clark",
        "emma.clark@example.com",
        "en",
        {
            "name": "Emma Clark",
            "line1": "2-2 Umeda",
            "city": "Osaka",
            "postal_code": "530-0001",
            "country": "JP",
            "latitude": 34.702,
            "longitude": 135.496,
        },
    ),
    "C-3": DemoCustomer(
        "C-3",
        "Kenji Tanaka",
        "kenji.tanaka@example.com",
        "ja",
        {
            "name": "Kenji Tanaka",
            "line1": "3-3 Kita 5 Nishi",
            "city": "Sapporo",
            "postal_code": "060-0005",
            "country": "JP",
            "latitude": 43.068,
            "longitude": 141.350,
        },
    ),
}

# (order id, customer, channel, {sku: quantity}, delivery method, pickup store, payment token)
DEMO_ORDERS: list[tuple[str, str, str, dict[str, int], str, str | None, str]] = [
    ("DEMO-1001", "C-1", "web", {"LEGO-76419": 1}, "standard", None, "tok_visa"),
    ("DEMO-1002", "C-1", "app", {"TEA-MATCHA-100": 2, "TOWEL-IMABARI": 1}, "next_day", None, "tok_visa"),
    ("DEMO-1003", "C-2", "web", {"KNIFE-SANTOKU": 1}, "standard", None, "tok_visa"),
    ("DEMO-1004", "C-2", "store", {"TEA-MATCHA-100": 1}, "pickup", "ST-UMEDA", "tok_visa"),
    ("DEMO-1005", "C-3", "agent", {"TOWEL-IMABARI": 2}, "standard", None, "tok_visa"),
    ("DEMO-1006", "C-3", "web", {"LEGO-76419": 1}, "standard", None, "tok_decline"),
]


def demo_checkouts() -> list[dict[str, Any]]:
    """The demo orders as checkout bodies, each one a valid `PlaceOrder` at the demo catalog's prices."""
    bodies = []
    for order_id, customer_id, channel, units, method, store, token in DEMO_ORDERS:
        customer = CUSTOMERS[customer_id]
        order = PlaceOrder.model_validate(
            {
                "order_id": order_id,
                "channel": channel,
                "customer": {
                    "id": customer.id,
                    "email": customer.email,
                    "name": customer.name,
                    "locale": customer.locale,
                },
                "currency": "JPY",
                "lines": [
                    {"sku": sku, "quantity": quantity, "unit_price": str(PRICES[sku])}
                    for sku, quantity in units.items()
                ],
                "shipping_address": customer.address,
                "delivery_method": method,
                "pickup_location_id": store,
                "payment": {"method": "card", "token": token},
            }
        )
        bodies.append(order.model_dump(mode="json", exclude={"placed_by"}, exclude_none=True))
    return bodies


def _token_for(tokens: dict[str, Principal], role: str) -> str | None:
    return next((token for token, who in tokens.items() if who.role == role), None)


def demo_customer_token(settings: Settings) -> tuple[str, str] | None:
    """(token, customer id) of a configured customer token for a demo customer, to sign in to /my with."""
    try:
        tokens = parse_tokens(settings.tokens, settings.production)
    except ValueError:
        return None  # the API refuses to start on these tokens and says why
    return next(
        ((token, who.customer_id) for token, who in tokens.items() if who.customer_id in CUSTOMERS),
        None,
    )


def place_demo_orders(settings: Settings, client: OmsClient | None = None) -> list[str]:
    """Place every demo order the read model does not have yet; the ids placed now. Never raises. Nothing is placed
    with the production setting (demo orders are for a local stack) nor with OMS_DEMO_ORDERS=false."""
    if settings.production or not settings.demo_orders:
        return []
    try:
        tokens = parse_tokens(settings.tokens, settings.production)
        token = _token_for(tokens, "storefront") or _token_for(tokens, "agent")
        if token is None:
            log.warning("no demo orders: OMS_TOKENS has no storefront or agent token to place them with")
            return []
        with client or OmsClient(settings.own_api_url, token, timeout=TIMEOUT_S) as api:
            return [body["order_id"] for body in demo_checkouts() if _place(api, body)]
    except Exception as err:  # the stack runs on without its demo orders: say why
        log.warning("demo orders not placed", error=str(err))
        return []


def _place(api: OmsClient, body: dict[str, Any]) -> bool:
    order_id = body["order_id"]
    try:
        api.get_order(order_id)
        return False  # placed on an earlier start
    except OmsApiError as err:
        if err.status != 404:
            raise
    try:
        answer = api.place_order(body)
        log.info("demo order placed", order_id=order_id, status=answer.get("status"))
    except OmsApiError as err:
        if err.status not in PLANNED_REFUSALS:
            log.warning("demo order refused", order_id=order_id, status=err.status, detail=err.detail)
            return False
        log.info("demo order placed", order_id=order_id, status="refused as planned", detail=err.detail)
    except OmsClientError as err:
        log.warning("demo order not placed", order_id=order_id, error=str(err))
        return False
    return True


def start_placing(settings: Settings) -> threading.Thread:
    """Place the demo orders beside the running stack; `oms up` does not wait for them."""
    thread = threading.Thread(target=place_demo_orders, args=(settings,), name="demo-orders", daemon=True)
    thread.start()
    return thread


def banner_lines(settings: Settings) -> list[str]:
    """How to see the demo: the pages, and a demo customer's sign-in."""
    api = settings.own_api_url
    if settings.production or not settings.demo_orders:
        return [f"  Console        {api}/console   (insights: {api}/console/insights)"]
    lines = [
        f"  Console        {api}/console   (sign in with an agent or operator token; insights: {api}/console/insights)",
        f"  Demo orders    {', '.join(order[0] for order in DEMO_ORDERS)}   (placed once the stack is up)",
    ]
    customer = demo_customer_token(settings)
    if customer is not None:
        lines.append(f"  My orders      {api}/my/login   (as customer {customer[1]}: token {customer[0]})")
    return lines
