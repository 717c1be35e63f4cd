"""Every route of the API, for every kind of caller, against the answer that caller gets.

The app is the real one (`create_app`), with Temporal, the read model, the inventory and the catalog stood in for.
A route added without a row in MATRIX fails `test_every_route_has_a_row`; every cell is then asked once, and a
caller refused (401 or 403) or kept out (404) must not have moved anything: no update, no signal, no stock or
product written.
"""

import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.routing import iter_route_contexts
from fastapi.testclient import TestClient

from domain.accounts import Account
from integrations.tax import RulesEngine
from starter.api import catalog, documents, inventory, orders, subscriptions
from starter.api.app import create_app
from starter.settings import Settings
from starter.web.portals import is_page_path
from store.accounts import AccountStatement
from store.catalog import Product, ProductDetails
from store.inventory_model import AdjustedLevel, Availability, LocationInfo
from store.read_model import (
    FulfillmentOrderSummary,
    LineSummary,
    OrderListItem,
    OrderSummary,
    PaymentTotals,
    ReturnSummary,
    TimelineEntry,
)
from workflows.messages import (
    ADDRESS_UPDATE,
    APPEASEMENT_UPDATE,
    APPROVAL_UPDATE,
    CANCEL_UPDATE,
    EXCHANGE_UPDATE,
    RESHIP_UPDATE,
    RETRY_UPDATE,
    RETURN_UPDATE,
    REVIEW_UPDATE,
    ActionResult,
    AppeasementResult,
    CancelResult,
    CheckoutResult,
    ExchangeResult,
    RetryResult,
    ReturnResult,
)

# Who calls: one token each. The order W-1 is customer C-1's; its fulfillment order W-1-F1 ships from DC-TOKYO
# with yamato (tracking Y1), and its return W-1-R1 goes back to DC-TOKYO.
TOKEN_OF = {
    "storefront": "t-storefront",
    "agent": "t-agent",
    "customer own": "t-c1",
    "customer other": "t-c2",
    "partner DC-TOKYO": "t-partner-dc-tokyo",
    "partner yamato": "t-partner-yamato",
    "partner DC-OSAKA": "t-partner-dc-osaka",
    "partner unscoped": "t-partner",
    "operator": "t-operator",
}
TOKENS = ",".join(
    [
        "t-storefront:storefront",
        "t-agent:agent:A-7",
        "t-c1:customer:C-1",
        "t-c2:customer:C-2",
        "t-partner-dc-tokyo:partner:DC-TOKYO",
        "t-partner-yamato:partner:yamato",
        "t-partner-dc-osaka:partner:DC-OSAKA",
        "t-partner:partner",
        "t-operator:operator",
    ]
)
CALLERS = ("none", *TOKEN_OF)
PARTNERS = ("partner DC-TOKYO", "partner yamato", "partner DC-OSAKA", "partner unscoped")
PUBLIC = dict.fromkeys(CALLERS, 200)

LINES = [{"sku": "LEGO-76419", "quantity": 1}]
ADDRESS = {"name": "Aiko Sato", "line1": "2-2 Umeda", "city": "Osaka", "postal_code": "530-0001", "country": "JP"}
CHECKOUT = {
    "order_id": "W-9",
    "channel": "web",
    "customer": {"id": "C-1", "email": "c1@example.com", "name": "Aiko Sato"},
    "currency": "JPY",
    "lines": [{"sku": "LEGO-76419", "quantity": 1, "unit_price": "24980"}],
    "shipping_address": {**ADDRESS, "latitude": 34.70, "longitude": 135.49},
    "delivery_method": "standard",
    "payment": {"method": "card", "token": "tok_visa"},
}


ACCOUNT = {"name": "ACME", "terms": "net30", "credit_limit": "100000", "currency": "JPY", "buyers": ["C-1"]}
# a Salesforce B2C Commerce order document, as small as the intake takes
SFCC_ORDER = {
    "orderNo": "00009",
    "status": "new",
    "confirmationStatus": "confirmed",
    "currency": "JPY",
    "customerInfo": {"customerNo": "C-1", "customerName": "Aiko Sato", "email": "c1@example.com"},
    "productItems": [{"productId": "LEGO-76419", "quantity": 1, "priceAfterOrderDiscount": 24980, "shipmentId": "me"}],
    "shipments": [
        {
            "shipmentId": "me",
            "shippingAddress": {
                "fullName": "Aiko Sato",
                "address1": "1-1 Marunouchi",
                "city": "Chiyoda",
                "postalCode": "100-0005",
                "countryCode": "JP",
            },
        }
    ],
}


def only(allowed: dict[str, int], otherwise: int = 403) -> dict[str, int]:
    """401 without a token, `allowed` for those named, `otherwise` for every other caller."""
    return {"none": 401, **dict.fromkeys(TOKEN_OF, otherwise), **allowed}


def of_customer(code: int, *staff: str) -> dict[str, int]:
    """An action on C-1's order: `staff` and C-1 get `code`, C-2 is told there is no such order."""
    return only({**dict.fromkeys(staff, code), "customer own": code, "customer other": 404})


ANY_ROLE = only(dict.fromkeys(TOKEN_OF, 200))
# the warehouse, carrier and return webhooks: only the partner the event concerns, or one speaking for all
FOR_LOCATION = only({"partner DC-TOKYO": 202, "partner unscoped": 202})
FOR_CARRIER = only({"partner yamato": 202, "partner unscoped": 202})


@dataclass(frozen=True)
class Call:
    method: str
    path: str
    json: Any = None
    params: dict[str, Any] | None = None
    changes: bool = True  # False: a POST that only computes an answer (the codec), nothing to see moved


# (method, route path) -> the call made, and each caller's answer
MATRIX: dict[tuple[str, str], tuple[Call, dict[str, int]]] = {
    ("GET", "/openapi.json"): (Call("GET", "/openapi.json"), PUBLIC),
    ("GET", "/docs"): (Call("GET", "/docs"), PUBLIC),
    ("GET", "/docs/oauth2-redirect"): (Call("GET", "/docs/oauth2-redirect"), PUBLIC),
    ("GET", "/redoc"): (Call("GET", "/redoc"), PUBLIC),
    ("GET", "/healthz"): (Call("GET", "/healthz"), PUBLIC),
    ("POST", "/v1/orders"): (Call("POST", "/v1/orders", CHECKOUT), only({"storefront": 201, "agent": 201})),
    ("GET", "/v1/orders"): (
        Call("GET", "/v1/orders", params={"customer_id": "C-1"}),
        only({"agent": 200, "operator": 200, "customer own": 200}),
    ),
    ("GET", "/v1/orders/{order_id}"): (
        Call("GET", "/v1/orders/W-1"),
        of_customer(200, "storefront", "agent", "operator"),
    ),
    ("POST", "/v1/orders/{order_id}/cancel"): (
        Call("POST", "/v1/orders/W-1/cancel", {"reason": "changed my mind"}),
        of_customer(200, "agent", "storefront"),
    ),
    ("POST", "/v1/orders/{order_id}/returns"): (
        Call("POST", "/v1/orders/W-1/returns", {"lines": LINES, "reason": "too small"}),
        of_customer(201, "agent"),
    ),
    ("POST", "/v1/orders/{order_id}/exchanges"): (
        Call(
            "POST",
            "/v1/orders/W-1/exchanges",
            {"returned": LINES, "replacement": [{"sku": "LEGO-76420", "quantity": 1}], "reason": "size"},
        ),
        of_customer(201, "agent"),
    ),
    ("POST", "/v1/orders/{order_id}/appeasements"): (
        Call("POST", "/v1/orders/W-1/appeasements", {"amount": "500", "reason": "late"}),
        only({"agent": 200}),
    ),
    ("GET", "/v1/orders/{order_id}/payments"): (
        Call("GET", "/v1/orders/W-1/payments"),
        only({"agent": 200, "operator": 200}),
    ),
    ("POST", "/v1/orders/{order_id}/review"): (
        Call("POST", "/v1/orders/W-1/review", {"decision": "approve", "reason": "known customer"}),
        only({"agent": 200}),
    ),
    ("POST", "/v1/orders/{order_id}/address"): (
        Call("POST", "/v1/orders/W-1/address", {"address": ADDRESS, "reason": "moved"}),
        of_customer(200, "agent"),
    ),
    ("POST", "/v1/orders/{order_id}/reships"): (
        Call("POST", "/v1/orders/W-1/reships", {"lines": LINES, "reason": "lost"}),
        only({"agent": 201}),
    ),
    ("POST", "/v1/orders/{order_id}/fulfillment-orders/{fulfillment_order_id}/picked-up"): (
        Call("POST", "/v1/orders/W-1/fulfillment-orders/W-1-F1/picked-up"),
        only({"agent": 202}),
    ),
    ("POST", "/v1/orders/{order_id}/retry"): (
        Call("POST", "/v1/orders/W-1/retry", {"reason": "gateway is back"}),
        only({"agent": 200, "operator": 200}),
    ),
    ("POST", "/v1/webhooks/warehouse"): (
        Call(
            "POST",
            "/v1/webhooks/warehouse",
            {"fulfillment_order_id": "W-1-F1", "event": "shipped", "tracking_number": "Y1", "carrier": "yamato"},
        ),
        FOR_LOCATION,
    ),
    ("POST", "/v1/webhooks/carrier"): (
        Call("POST", "/v1/webhooks/carrier", {"tracking_number": "Y1", "event": "delivered"}),
        FOR_CARRIER,
    ),
    ("POST", "/v1/webhooks/returns"): (
        Call(
            "POST",
            "/v1/webhooks/returns",
            {"return_id": "W-1-R1", "event": "received", "lines": [{**LINES[0], "condition": "resellable"}]},
        ),
        FOR_LOCATION,
    ),
    ("GET", "/v1/locations"): (Call("GET", "/v1/locations"), ANY_ROLE),
    ("GET", "/v1/availability"): (Call("GET", "/v1/availability", params={"sku": "LEGO-76419"}), ANY_ROLE),
    ("POST", "/v1/inventory/adjustments"): (
        Call("POST", "/v1/inventory/adjustments", {"location_id": "DC-TOKYO", "sku": "LEGO-76419", "delta": 5}),
        only({"operator": 200, "partner DC-TOKYO": 200, "partner unscoped": 200}),
    ),
    ("POST", "/codec/encode"): (
        Call("POST", "/codec/encode", {"payloads": []}, changes=False),
        only({"operator": 200}),
    ),
    ("POST", "/codec/decode"): (
        Call("POST", "/codec/decode", {"payloads": []}, changes=False),
        only({"operator": 200}),
    ),
    # signing in takes the token from the form, never the bearer header: without one, nobody is signed in
    ("POST", "/codec/login"): (Call("POST", "/codec/login", changes=False), dict.fromkeys(CALLERS, 401)),
    # the sign-in page for the Web UI: anyone may see it; it sets a session only for an operator's token
    ("GET", "/codec/login"): (Call("GET", "/codec/login"), PUBLIC),
    # a CORS preflight answers by its Origin, whoever asks: from no Web UI it is refused
    # (tests/unit/test_api_codec.py shows the UI's own origins answered)
    ("OPTIONS", "/codec/encode"): (Call("OPTIONS", "/codec/encode"), dict.fromkeys(CALLERS, 403)),
    ("OPTIONS", "/codec/decode"): (Call("OPTIONS", "/codec/decode"), dict.fromkeys(CALLERS, 403)),
    ("GET", "/v1/products/{sku}"): (Call("GET", "/v1/products/LEGO-76419"), ANY_ROLE),
    ("PUT", "/v1/products/{sku}"): (
        Call("PUT", "/v1/products/LEGO-76419", {"name": "Ferrari", "prices": {"JPY": "24980"}}),
        only({"operator": 200}),
    ),
    ("POST", "/v1/subscriptions"): (
        Call("POST", "/v1/subscriptions", {"url": "https://hooks.example/oms", "events": ["*"], "secret": "s" * 16}),
        only({"operator": 201}),
    ),
    ("GET", "/v1/subscriptions/{subscription_id}/failures"): (
        Call("GET", "/v1/subscriptions/sub_1/failures"),
        only({"operator": 200}),
    ),
    ("POST", "/v1/subscriptions/{subscription_id}/replay"): (
        Call("POST", "/v1/subscriptions/sub_1/replay", {"from_event_id": 1}),
        only({"operator": 202}),
    ),
    ("GET", "/v1/orders/{order_id}/documents"): (
        Call("GET", "/v1/orders/W-1/documents"),
        of_customer(200, "agent", "operator"),
    ),
    ("GET", "/v1/documents/{number}.html"): (
        Call("GET", "/v1/documents/INV-2025-000001.html"),
        of_customer(200, "agent", "operator"),
    ),
    # signed by Shopify's secret, not a token: with none configured, intake from Shopify is off for everyone
    ("POST", "/v1/intake/shopify"): (
        Call("POST", "/v1/intake/shopify", {"id": 1}, changes=False),
        dict.fromkeys(CALLERS, 503),
    ),
    ("POST", "/v1/intake/sfcc"): (Call("POST", "/v1/intake/sfcc", SFCC_ORDER), only({"storefront": 201})),
    # W-1 is paid by card: no account has approvers for it (its own customer is told so, another that it is not
    # theirs), and an agent's approval reaches the workflow
    ("POST", "/v1/orders/{order_id}/approval"): (
        Call("POST", "/v1/orders/W-1/approval", {"decision": "approve", "reason": "budgeted"}),
        only({"agent": 200, "customer other": 404}),
    ),
    ("POST", "/v1/accounts"): (
        Call("POST", "/v1/accounts", {**ACCOUNT, "id": "ACME"}),
        only({"operator": 201}),
    ),
    ("GET", "/v1/accounts/{account_id}"): (Call("GET", "/v1/accounts/ACME"), only({"operator": 200, "agent": 200})),
    ("POST", "/v1/accounts/{account_id}/payments"): (
        Call("POST", "/v1/accounts/ACME/payments", {"reference": "BANK-1", "amount": "1000"}),
        only({"operator": 201}),
    ),
    ("POST", "/v1/orders/{order_id}/reorder"): (
        Call("POST", "/v1/orders/W-1/reorder", {"order_id": "W-9", "payment": {"token": "tok_visa"}}),
        of_customer(201, "storefront", "agent"),
    ),
    ("GET", "/v1/documents/{number}.pdf"): (
        Call("GET", "/v1/documents/INV-2025-000001.pdf"),
        of_customer(200, "agent", "operator"),
    ),
}

# W-1's invoice, as the projection keeps it
INVOICE_W1: dict[str, Any] = {
    "number": "INV-2025-000001",
    "kind": "invoice",
    "order_id": "W-1",
    "issued_at": "2025-01-01T00:00:00Z",
    "currency": "JPY",
    "seller": {"name": "株式会社デモストア", "registration_number": "T1234567890123", "address": "東京都"},
    "buyer": {"customer": {"id": "C-1", "name": "Aiko Sato"}, "address": ADDRESS},
    "lines": [{"sku": "LEGO-76419", "quantity": 1, "unit_price": "24980", "amount": "24980", "rate": "0.10"}],
    "tax": [{"rate": "0.10", "taxable": "24980", "tax": "2271"}],
    "prices_include_tax": True,
    "total": "24980",
    "tax_total": "2271",
    "reason": None,
}


class Documents:
    def of_order(self, order_id: str) -> list[dict[str, Any]]:
        return [INVOICE_W1] if order_id == "W-1" else []

    def get(self, number: str) -> dict[str, Any] | None:
        return INVOICE_W1 if number == INVOICE_W1["number"] else None


NOW = datetime(2025, 1, 1, tzinfo=UTC)
UPDATE_ANSWERS: dict[str, Any] = {
    CANCEL_UPDATE: CancelResult(order_id="W-1", status="canceled", canceled=[]),
    RETURN_UPDATE: ReturnResult(
        return_id="W-1-R2", rma="RMA-W-1-R2", label=None, location_id="DC-TOKYO", refund_estimate=Decimal(24980)
    ),
    EXCHANGE_UPDATE: ExchangeResult(
        exchange_id="W-1-X1",
        return_id="W-1-R2",
        rma="RMA-W-1-R2",
        label=None,
        location_id="DC-TOKYO",
        difference=Decimal(0),
        fulfillment_order_ids=["W-1-F2"],
    ),
    APPEASEMENT_UPDATE: AppeasementResult(order_id="W-1", refunded=Decimal(500), refundable_left=Decimal(24480)),
    REVIEW_UPDATE: ActionResult(order_id="W-1", status="accepted"),
    APPROVAL_UPDATE: ActionResult(order_id="W-1", status="accepted"),
    ADDRESS_UPDATE: ActionResult(order_id="W-1", status="accepted"),
    RESHIP_UPDATE: ActionResult(order_id="W-1", status="delivered", fulfillment_order_ids=["W-1-F2"]),
    RETRY_UPDATE: RetryResult(order_id="W-1", status="delivered", retried=[], attention=None),
}


def order_w1() -> OrderSummary:
    zero = Decimal(0)
    return OrderSummary(
        order_id="W-1",
        workflow_id="order-W-1",
        status="delivered",
        channel="web",
        customer={"id": "C-1", "email": "c1@example.com", "name": "Aiko Sato"},
        currency="JPY",
        total=Decimal(24980),
        delivery_method="standard",
        shipping_address=ADDRESS,
        fraud_score=12,
        lines=[
            LineSummary(
                sku="LEGO-76419",
                unit_price=Decimal(24980),
                ordered=1,
                allocated=1,
                shipped=1,
                delivered=1,
                canceled=0,
                returned=0,
            )
        ],
        fulfillment_orders=[
            FulfillmentOrderSummary(
                id="W-1-F1",
                location_id="DC-TOKYO",
                status="delivered",
                lines=LINES,
                carrier="yamato",
                tracking_number="Y1",
                captured=Decimal(24980),
                refunded=zero,
                invoice_id=None,
                promised_date=None,
            )
        ],
        shipments=[],
        payment=PaymentTotals(authorized=zero, captured=zero, refunded=zero, voided=zero),
        payments=[],
        invoices=[],
        returns=[
            ReturnSummary(
                return_id="W-1-R1",
                rma="RMA-W-1-R1",
                status="requested",
                method="mail",
                location_id="DC-TOKYO",
                label=None,
                lines=LINES,
                received=[],
                refund_amount=Decimal(24980),
            )
        ],
        timeline=[],
        placed_at=NOW,
        updated_at=NOW,
    )


@dataclass
class Temporal:
    """The Temporal client: what reached an order's workflow, and canned answers."""

    updates: list[tuple[str, str]] = field(default_factory=list)
    signals: list[tuple[str, str]] = field(default_factory=list)

    def get_workflow_handle(self, workflow_id: str) -> "Handle":
        return Handle(workflow_id, self)

    async def execute_update_with_start_workflow(self, name: str, **_: Any) -> CheckoutResult:
        self.updates.append(("order-W-9", name))
        return CheckoutResult(order_id="W-9", status="accepted", currency="JPY", total=Decimal(24980))

    @property
    def service_client(self) -> "Temporal":
        return self

    async def check_health(self) -> bool:
        return True


@dataclass
class Handle:
    workflow_id: str
    temporal: Temporal

    async def execute_update(self, name: str, request: Any, *, result_type: type[Any]) -> Any:
        self.temporal.updates.append((self.workflow_id, name))
        return UPDATE_ANSWERS[name]

    async def signal(self, name: str, payload: Any) -> None:
        self.temporal.signals.append((self.workflow_id, name))


class ReadModel:
    """The read model of the one order W-1."""

    def get(self, order_id: str) -> OrderSummary | None:
        return order_w1() if order_id == "W-1" else None

    def search(self, customer_id: str | None = None, **_: Any) -> list[OrderListItem]:
        return [
            OrderListItem(
                order_id="W-1",
                status="delivered",
                channel="web",
                customer_id="C-1",
                currency="JPY",
                total=Decimal(24980),
                placed_at=NOW,
            )
        ]

    def fulfillment_orders_of_tracking(self, tracking_number: str) -> list[tuple[str, str]]:
        return [("W-1", "W-1-F1")] if tracking_number == "Y1" else []

    def parcel_of_tracking(self, tracking_number: str) -> list[tuple[str, str, str | None]]:
        return [("W-1", "W-1-F1", "yamato")] if tracking_number == "Y1" else []

    def location_of_fulfillment_order(self, fulfillment_order_id: str) -> str | None:
        return "DC-TOKYO" if fulfillment_order_id == "W-1-F1" else None

    def location_of_return(self, return_id: str) -> str | None:
        return "DC-TOKYO" if return_id == "W-1-R1" else None

    def backordered_orders_needing(self, sku: str) -> list[str]:
        return []


class Connection:
    def __enter__(self) -> "Connection":
        return self

    def __exit__(self, *_: object) -> None:
        return None

    def execute(self, statement: object) -> None:
        return None


class Database:
    def connect(self) -> Connection:
        return Connection()


@dataclass
class Writes:
    """Stock and products written: a refused caller writes none."""

    made: list[str] = field(default_factory=list)


@dataclass
class Gateway:
    """The payment gateway's vault: saving a card is a write a refused caller never makes."""

    writes: Writes

    def save_payment_method(self, idempotency_key: str, customer_reference: str, token: str) -> str:
        self.writes.made.append(f"payment method {idempotency_key}")
        return "pm_test"


@dataclass
class Services:
    client: Temporal
    queries: ReadModel
    engine: Database
    settings: Settings
    writes: Writes
    gateway: Gateway
    accounts: "Accounts"
    tax: RulesEngine = field(default_factory=RulesEngine)


ACME = Account(id="ACME", name="ACME", terms="net30", credit_limit=Decimal(100000), currency="JPY", buyers=["C-1"])


@dataclass
class Accounts:
    """The account ACME; W-1 is paid by card, so no account approves it."""

    writes: "Writes"

    def get(self, account_id: str) -> Account | None:
        return ACME if account_id == "ACME" else None

    def save(self, account: Account) -> bool:
        self.writes.made.append(f"account {account.id}")
        return True

    def statement(self, account_id: str, today: date) -> AccountStatement | None:
        if account_id != "ACME":
            return None
        zero = Decimal(0)
        return AccountStatement(
            **ACME.model_dump(),
            credit_used=zero,
            credit_available=ACME.credit_limit,
            receivable=zero,
            paid=zero,
            invoices=[],
        )

    def record_payment(self, account_id: str, reference: str, amount: Decimal) -> bool:
        self.writes.made.append(f"payment {reference}")
        return True


class Catalog:
    def __init__(self, writes: Writes) -> None:
        self.writes = writes

    def _product(self, sku: str) -> Product:
        return Product(sku=sku, name="LEGO", prices={"JPY": Decimal(24980)})

    def get(self, sku: str) -> Product | None:
        return self._product(sku)

    def products(self, skus: Sequence[str]) -> dict[str, Product]:
        return {sku: self._product(sku) for sku in skus}

    def unknown(self, skus: Sequence[str]) -> list[str]:
        return []

    def put(self, sku: str, details: ProductDetails) -> Product:
        self.writes.made.append(f"product {sku}")
        return self._product(sku)


class SubscriptionStore:
    """The one subscription sub_1: subscribing and replaying are writes a refused caller never makes."""

    def __init__(self, writes: Writes) -> None:
        self.writes = writes

    def create(self, url: str, events: list[str], secret: str) -> str:
        self.writes.made.append(f"subscription {url}")
        return "sub_2"

    def failures(self, subscription_id: str, limit: int = 1000) -> list[Any] | None:
        return [] if subscription_id == "sub_1" else None

    def replay(self, subscription_id: str, from_event_id: int | None) -> int | None:
        self.writes.made.append(f"replay {subscription_id}")
        return 0 if subscription_id == "sub_1" else None


def inventory_of(writes: Writes) -> type:
    class Inventory:
        def __init__(self, engine: object) -> None:
            pass

        def locations(self) -> list[LocationInfo]:
            return []

        def availability(self, *_: Any, **__: Any) -> Availability:
            return Availability(low_stock_threshold=5, skus=[])

        def adjust(self, location_id: str, sku: str, **_: Any) -> AdjustedLevel:
            writes.made.append(f"stock {location_id} {sku}")
            return AdjustedLevel(location_id=location_id, sku=sku, on_hand=5, reserved=0, safety_stock=0)

    return Inventory


def route_keys(app: FastAPI) -> set[tuple[str, str]]:
    """(method, path) of every route the app serves; HEAD and OPTIONS that the framework adds are left out, and so
    are the HTML pages, whose sessions tests/unit/test_page_roles.py walks."""
    keys = set()
    for route in iter_route_contexts(app.routes):
        for method in route.methods or ():
            if method != "HEAD" and route.path and not is_page_path(route.path):
                keys.add((method, route.path))
    return keys


@pytest.fixture
def services() -> Services:
    writes = Writes()
    return Services(
        client=Temporal(),
        queries=ReadModel(),
        engine=Database(),
        settings=Settings(env="test"),
        writes=writes,
        gateway=Gateway(writes),
        accounts=Accounts(writes),
    )


@pytest.fixture
def app(services: Services, monkeypatch: pytest.MonkeyPatch) -> FastAPI:
    monkeypatch.setattr(inventory, "InventoryRepository", inventory_of(services.writes))
    monkeypatch.setattr(orders, "order_transactions", lambda gateway, order_id: [])
    app = create_app(Settings(env="test", tokens=TOKENS))
    app.state.services = services
    app.dependency_overrides[catalog.product_catalog] = lambda: Catalog(services.writes)
    app.dependency_overrides[subscriptions.subscription_store] = lambda: SubscriptionStore(services.writes)
    app.dependency_overrides[documents.document_reader] = Documents
    return app


@pytest.fixture
def http(app: FastAPI) -> Iterator[TestClient]:
    # not entered as a context: the app's lifespan would connect to Temporal and PostgreSQL
    yield TestClient(app)


def test_every_route_has_a_row(app: FastAPI) -> None:
    # given the app as it is served
    # when its routes are walked
    served = route_keys(app)
    # then each one has a row in the matrix, and no row is for a route that is gone
    assert served - MATRIX.keys() == set(), "routes without a row in MATRIX"
    assert MATRIX.keys() - served == set(), "rows in MATRIX for routes the app no longer serves"


CELLS = [pytest.param(key, caller, id=f"{key[0]} {key[1]} as {caller}") for key in MATRIX for caller in CALLERS]


@pytest.mark.parametrize(("key", "caller"), CELLS)
def test_each_caller_gets_its_answer_and_a_refused_one_moves_nothing(
    http: TestClient, services: Services, key: tuple[str, str], caller: str
) -> None:
    # given a caller and a route, and the answer it should get
    call, answers = MATRIX[key]
    expected = answers[caller]
    headers = {} if caller == "none" else {"Authorization": f"Bearer {TOKEN_OF[caller]}"}
    # when it calls the route with a valid request
    response = http.request(call.method, call.path, json=call.json, params=call.params, headers=headers)
    # then that is the answer
    assert response.status_code == expected, response.text
    if expected in (401, 403, 404):
        # and nothing reached an order's workflow, the stock or the catalog
        assert services.client.updates == []
        assert services.client.signals == []
        assert services.writes.made == []
    elif call.method not in ("GET", "OPTIONS") and call.changes:
        # an allowed change did reach what it changes: the refusals above are the caller's, not the request's
        assert services.client.updates or services.client.signals or services.writes.made


def test_every_caller_has_a_cell_in_every_row() -> None:
    for key, (_, answers) in MATRIX.items():
        assert set(answers) == set(CALLERS), key


def test_a_customer_sees_that_an_agent_acted_but_not_which_agent_nor_the_review(
    http: TestClient, services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    # given C-1's order, canceled in part by agent A-7 after a fraud review
    entries = [
        TimelineEntry(
            seq=1, type="ReviewDecided", at=NOW, actor="agent:A-7", summary="Approved after review by agent:A-7: ok"
        ),
        TimelineEntry(
            seq=2, type="ItemsCanceled", at=NOW, actor="agent:A-7", summary="Canceled 1 x A by agent:A-7: asked"
        ),
    ]
    with_timeline = order_w1().model_copy(update={"timeline": entries})
    monkeypatch.setattr(services.queries, "get", lambda order_id: with_timeline)
    # when the customer reads it
    seen = http.get("/v1/orders/W-1", headers={"Authorization": "Bearer t-c1"}).json()
    # then the cancel says an agent did it, the review and the fraud score are not there
    assert [(e["type"], e["actor"], e["summary"]) for e in seen["timeline"]] == [
        ("ItemsCanceled", "agent", "Canceled 1 x A by agent: asked")
    ]
    assert seen["fraud_score"] is None
    assert "A-7" not in json.dumps(seen)
    # while an agent sees who it was
    staff = http.get("/v1/orders/W-1", headers={"Authorization": "Bearer t-agent"}).json()
    assert [e["actor"] for e in staff["timeline"]] == ["agent:A-7", "agent:A-7"]
    assert staff["fraud_score"] == 12


def test_an_agents_action_is_recorded_with_the_agents_id(http: TestClient, services: Services) -> None:
    # given agent A-7's own token
    recorded: list[Any] = []
    real = Handle.execute_update

    async def keep(self: Handle, name: str, request: Any, *, result_type: type[Any]) -> Any:
        recorded.append(request)
        return await real(self, name, request, result_type=result_type)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(Handle, "execute_update", keep)
        # when the agent grants a goodwill refund
        response = http.post(
            "/v1/orders/W-1/appeasements",
            json={"amount": "500", "reason": "late"},
            headers={"Authorization": "Bearer t-agent"},
        )
    # then the order records which agent did it
    assert response.status_code == 200, response.text
    assert [r.actor for r in recorded] == ["agent:A-7"]
