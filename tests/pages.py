"""Stand-ins and helpers for tests of the HTML pages: the app with Temporal, the read model, the console's queries,
the gateway and the catalog stood in for, and ways to sign in (through the form, or with a session made directly).
"""

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from fastapi import FastAPI
from fastapi.testclient import TestClient

from integrations.payments import GatewayTransaction
from integrations.tax import RulesEngine
from starter.api import catalog
from starter.api.app import create_app
from starter.settings import Settings
from starter.web import console_pages, insights_page, my_pages
from starter.web.portals import Portal
from starter.web.session import csrf_token, decode_session, session_cookie
from store.catalog import Product
from store.console_queries import CurrencyTotals, CustomerRecord, OrderFilters
from store.insights import Insights
from store.read_model import (
    FulfillmentOrderSummary,
    LineSummary,
    OrderAttention,
    OrderListItem,
    OrderSummary,
    PaymentTotals,
    ReturnSummary,
    TimelineEntry,
)
from workflows.messages import (
    ADDRESS_UPDATE,
    APPEASEMENT_UPDATE,
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

TOKENS = (
    "t-agent:agent:A-7,t-operator:operator,t-store:storefront,t-c1:customer:C-1,t-c2:customer:C-2,t-partner:partner"
)
NOW = datetime(2025, 1, 1, tzinfo=UTC)
ZERO = Decimal(0)
CSRF = re.compile(r'name="csrf_token" value="([^"]*)"')
ADDRESS_FORM = {"name": "Aiko Sato", "line1": "2-2 Umeda", "city": "Osaka", "postal_code": "530-0001", "country": "JP"}
# the console's order form for C-1, filled in
CHECKOUT_FORM = {
    "order_id": "A-1",
    "currency": "JPY",
    "customer_id": "C-1",
    "customer_email": "c1@example.com",
    "customer_name": "Aiko Sato",
    "sku": "LEGO-76419",
    "quantity": "1",
    "unit_price": "24980",
    **ADDRESS_FORM,
    "delivery_method": "standard",
    "payment_token": "tok_visa",
}


def order_w1(**changes: Any) -> OrderSummary:
    """Customer C-1's order W-1: delivered from DC-TOKYO by yamato, partly returned, waiting for a person."""
    summary = OrderSummary(
        order_id="W-1",
        workflow_id="order-W-1",
        status="delivered",
        channel="web",
        customer={"id": "C-1", "email": "c1@example.com", "name": "Aiko Sato"},
        currency="JPY",
        total=Decimal(24980),
        delivery_method="standard",
        shipping_address={"name": "Aiko Sato", "line1": "1-1 Marunouchi", "city": "Chiyoda", "postal_code": "100-0005"},
        fraud_score=12,
        lines=[
            LineSummary(
                sku="LEGO-76419",
                unit_price=Decimal(24980),
                ordered=3,
                allocated=2,
                shipped=2,
                delivered=2,
                canceled=1,
                returned=1,
            )
        ],
        fulfillment_orders=[
            FulfillmentOrderSummary(
                id="W-1-F1",
                location_id="DC-TOKYO",
                status="delivered",
                lines=[{"sku": "LEGO-76419", "quantity": 2}],
                carrier="yamato",
                tracking_number="YMT-123",
                captured=Decimal(49960),
                refunded=ZERO,
                invoice_id="INV-W-1-F1",
                promised_date=None,
            )
        ],
        shipments=[],
        payment=PaymentTotals(authorized=Decimal(74940), captured=Decimal(49960), refunded=ZERO, voided=ZERO),
        payments=[],
        invoices=[],
        returns=[
            ReturnSummary(
                return_id="W-1-R1",
                rma="RMA-W-1-1",
                status="requested",
                method="mail",
                location_id="DC-TOKYO",
                label="yamato-RET-ABC",
                lines=[{"sku": "LEGO-76419", "quantity": 1}],
                received=[],
                refund_amount=Decimal(24980),
            )
        ],
        timeline=[
            TimelineEntry(seq=1, type="OrderPlaced", at=NOW, actor="customer:C-1", summary="Placed 3 x LEGO-76419"),
            TimelineEntry(
                seq=2, type="ItemsCanceled", at=NOW, actor="agent:A-7", summary="Canceled 1 x LEGO-76419: asked"
            ),
            TimelineEntry(
                seq=3, type="ExchangeRequested", at=NOW, actor="agent:A-7", summary="Exchange W-1-X1 by agent:A-7"
            ),
        ],
        placed_at=NOW,
        updated_at=NOW,
        attention=OrderAttention(reason="the refund was refused by the gateway", since=NOW),
    )
    return summary.model_copy(update=changes)


UPDATE_ANSWERS: dict[str, Any] = {
    CANCEL_UPDATE: CancelResult(order_id="W-1", status="delivered", canceled=[]),
    RETURN_UPDATE: ReturnResult(
        return_id="W-1-R2", rma="RMA-W-1-2", label="yamato-RET-XYZ", location_id="DC-TOKYO", refund_estimate=ZERO
    ),
    EXCHANGE_UPDATE: ExchangeResult(
        exchange_id="W-1-X2",
        return_id="W-1-R3",
        rma="RMA-W-1-3",
        label=None,
        location_id="DC-TOKYO",
        difference=ZERO,
        fulfillment_order_ids=["W-1-F2"],
    ),
    APPEASEMENT_UPDATE: AppeasementResult(order_id="W-1", refunded=Decimal(500), refundable_left=Decimal(49460)),
    REVIEW_UPDATE: ActionResult(order_id="W-1", status="accepted"),
    ADDRESS_UPDATE: ActionResult(order_id="W-1", status="accepted"),
    RESHIP_UPDATE: ActionResult(order_id="W-1", status="delivered", fulfillment_order_ids=["W-1-F2"]),
    RETRY_UPDATE: RetryResult(order_id="W-1", status="delivered", retried=["refund W-1-R1"], attention=None),
}


@dataclass
class Temporal:
    """The Temporal client: the updates and signals that reached a workflow (with their requests), canned answers,
    and a refusal to raise instead when one is set."""

    updates: list[tuple[str, str, Any]] = field(default_factory=list)
    signals: list[tuple[str, str, Any]] = field(default_factory=list)
    checkouts: list[Any] = field(default_factory=list)
    refuse: Exception | None = None
    checkout_status: str = "accepted"

    def get_workflow_handle(self, workflow_id: str) -> "Handle":
        return Handle(workflow_id, self)

    async def execute_update_with_start_workflow(self, name: str, **options: Any) -> CheckoutResult:
        # the order the workflow would start with, as the checkout built its input
        order = options["start_workflow_operation"]._start_workflow_input.args[0].order
        self.checkouts.append(order)
        return CheckoutResult(
            order_id=order.order_id,
            status=self.checkout_status,
            currency="JPY",
            total=Decimal(24980),
            reason="the card was declined" if self.checkout_status == "payment_declined" else None,
        )


@dataclass
class Handle:
    workflow_id: str
    temporal: Temporal

    async def execute_update(self, name: str, request: Any, *, result_type: type[Any]) -> Any:
        self.temporal.updates.append((self.workflow_id, name, request))
        if self.temporal.refuse is not None:
            raise self.temporal.refuse
        return UPDATE_ANSWERS[name]

    async def signal(self, name: str, payload: Any) -> None:
        self.temporal.signals.append((self.workflow_id, name, payload))


@dataclass
class ReadModel:
    orders: dict[str, OrderSummary] = field(default_factory=lambda: {"W-1": order_w1()})

    def get(self, order_id: str) -> OrderSummary | None:
        return self.orders.get(order_id)

    def search(self, customer_id: str | None = None, **_: Any) -> list[OrderListItem]:
        """Orders newest first, as the JSON search (and the customer pages) read them."""
        return [listed(o) for o in self.orders.values() if customer_id in (None, o.customer["id"])]


@dataclass
class ConsoleQueries:
    """The console's queries: the filters each search was given, and C-1 as the one customer."""

    searched: list[OrderFilters] = field(default_factory=list)

    def search(self, filters: OrderFilters) -> list[OrderListItem]:
        self.searched.append(filters)
        return [listed(order_w1())]

    def customer(self, customer_id: str) -> CustomerRecord | None:
        if customer_id != "C-1":
            return None
        totals = [CurrencyTotals(currency="JPY", ordered=Decimal(74940), spent=Decimal(49960), refunded=Decimal(500))]
        return CustomerRecord(
            customer_id="C-1", profile=order_w1().customer, orders=[listed(order_w1())], totals=totals
        )


def listed(summary: OrderSummary) -> OrderListItem:
    return OrderListItem(
        order_id=summary.order_id,
        status=summary.status,
        channel=summary.channel,
        customer_id=str(summary.customer["id"]),
        currency=summary.currency,
        total=summary.total,
        placed_at=summary.placed_at,
        attention=summary.attention,
    )


@dataclass
class Gateway:
    saved: list[str] = field(default_factory=list)

    def save_payment_method(self, idempotency_key: str, customer_reference: str, token: str) -> str:
        self.saved.append(idempotency_key)
        return "pm_test"

    def transactions(self, merchant_reference: str) -> list[GatewayTransaction]:
        return [
            GatewayTransaction(
                id="tx-auth-1",
                idempotency_key=f"order-{merchant_reference}:authorize:1",
                kind="authorize",
                merchant_reference=merchant_reference,
                parent_id=None,
                amount=Decimal(74940),
                currency="JPY",
                status="succeeded",
                decline_reason=None,
                created_at=NOW,
            )
        ]


class Figures:
    """The insights' queries, over no orders."""

    def snapshot(self, since: datetime | None = None, until: datetime | None = None) -> Insights:
        return Insights(
            since=since, until=until, total=0, by_status=[], by_channel=[], phases=[], attention_count=0, attention=[]
        )


class Catalog:
    def get(self, sku: str) -> Product | None:
        return Product(sku=sku, name="LEGO", prices={"JPY": Decimal(24980)})

    def products(self, skus: Any) -> dict[str, Product]:
        return {sku: Product(sku=sku, name="LEGO", prices={"JPY": Decimal(24980)}) for sku in skus}

    def unknown(self, skus: Any) -> list[str]:
        return []


@dataclass
class Services:
    settings: Settings
    client: Temporal = field(default_factory=Temporal)
    queries: ReadModel = field(default_factory=ReadModel)
    gateway: Gateway = field(default_factory=Gateway)
    tax: RulesEngine = field(default_factory=RulesEngine)
    console: ConsoleQueries = field(default_factory=ConsoleQueries)
    engine: Any = None


def page_app(tokens: str = TOKENS) -> tuple[FastAPI, Services]:
    settings = Settings(env="test", tokens=tokens)
    app = create_app(settings)
    services = Services(settings=settings)
    app.state.services = services
    app.dependency_overrides[catalog.product_catalog] = Catalog
    app.dependency_overrides[console_pages.console_queries] = lambda: services.console
    app.dependency_overrides[insights_page.insight_queries] = Figures
    app.dependency_overrides[my_pages.store_names] = lambda: {"ST-SHIBUYA": "Shibuya store"}
    return app, services


def csrf_of(html: str) -> str:
    found = CSRF.search(html)
    assert found, "the page has no form with a CSRF token"
    return found.group(1)


def sign_in(http: TestClient, portal: Portal, token: str) -> None:
    """Sign in through the portal's form, as a browser does: its page first, then the form with its CSRF token."""
    page = http.get(portal.login_path)
    answer = http.post(
        portal.login_path, data={"token": token, "csrf_token": csrf_of(page.text)}, follow_redirects=False
    )
    assert answer.status_code == 303, answer.text


def with_session(http: TestClient, app: FastAPI, portal: Portal, token: str) -> str:
    """A session for `token` made directly, whatever its role (as if signed in while the token had another one);
    answers the CSRF token its forms carry."""
    key: bytes = app.state.session_key
    value = session_cookie(key, portal, token)
    http.cookies.set(portal.session_cookie, value)
    session = decode_session(key, portal, value)
    assert session is not None
    return csrf_token(key, portal, session)
