"""The customer pages (/my) on the real app, with Temporal and the read model stood in for: a customer sees their
own orders only, nothing internal reaches the HTML, a return started on the page gives its label, and the
order's refusal of an address change is shown on the order's page."""

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import pytest
from fastapi.testclient import TestClient
from temporalio.client import WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError

from integrations.tax import RulesEngine
from starter.api.app import create_app
from starter.settings import Settings
from starter.web import my_pages
from starter.web.portals import MY
from store.read_model import (
    FulfillmentOrderSummary,
    LineSummary,
    OrderAttention,
    OrderListItem,
    OrderSummary,
    PaymentTotals,
    ProjectionError,
    ReturnSummary,
    ShipmentSummary,
    TimelineEntry,
)
from tests.pages import csrf_of, sign_in
from workflows.messages import ADDRESS_UPDATE, RETURN_UPDATE, ActionResult, AddressChange, ReturnRequest, ReturnResult

TOKENS = "t-c1:customer:C-1,t-c2:customer:C-2,t-agent:agent"
NOW = datetime(2025, 1, 1, tzinfo=UTC)
STORES = {"ST-SHIBUYA": "Shibuya store", "ST-UMEDA": "Umeda store"}
LABEL = "YMT-RET-0A1B2C3D4E"
# what C-1 must never read on their own order's pages: the fraud screen, the attention, the read model's own
# trouble, the location, fulfillment order and carrier ids
HIDDEN = ["DC-TOKYO", "W-1-F1", "yamato", "Fraud score 73", "capture retried by hand", "value too long"]


def order(order_id: str, customer: dict[str, Any], status: str, *, delivered: int) -> OrderSummary:
    zero = Decimal(0)
    fo_id = f"{order_id}-F1"
    tracking = f"YT-{order_id}-555"
    shipped = [ShipmentSummary(fulfillment_order_id=fo_id, carrier="yamato", tracking_number=tracking, status=status)]
    return OrderSummary(
        order_id=order_id,
        workflow_id=f"order-{order_id}",
        status=status,
        channel="web",
        customer=customer,
        currency="JPY",
        total=Decimal(24980),
        delivery_method="standard",
        promised_date=date(2025, 1, 5),
        shipping_address={
            "name": customer["name"],
            "line1": "1-1 Marunouchi",
            "city": "Chiyoda",
            "postal_code": "100-0005",
            "country": "JP",
            "latitude": 35.68,
            "longitude": 139.76,
        },
        fraud_score=73,
        lines=[
            LineSummary(
                sku="LEGO-76419",
                unit_price=Decimal(24980),
                ordered=1,
                allocated=1,
                shipped=delivered,
                delivered=delivered,
                canceled=0,
                returned=0,
            )
        ],
        fulfillment_orders=[
            FulfillmentOrderSummary(
                id=fo_id,
                location_id="DC-TOKYO",
                status=status,
                lines=[],
                carrier="yamato",
                tracking_number=tracking,
                captured=zero,
                refunded=zero,
                invoice_id=None,
                promised_date=date(2025, 1, 5),
            )
        ],
        shipments=shipped if delivered else [],
        payment=PaymentTotals(authorized=Decimal(24980), captured=zero, refunded=zero, voided=zero),
        payments=[],
        invoices=[],
        returns=[],
        timeline=[
            TimelineEntry(seq=1, type="FraudScreened", at=NOW, actor="system", summary="Fraud score 73: new address"),
            TimelineEntry(
                seq=2,
                type="ShipmentShipped",
                at=NOW,
                actor="partner:DC-TOKYO",
                summary=f"{fo_id} shipped from DC-TOKYO by yamato",
            ),
        ],
        placed_at=NOW,
        updated_at=NOW,
        projection_error=ProjectionError(reason="value too long for a column", at=NOW),
        attention=OrderAttention(reason="capture retried by hand", since=NOW),
    )


@dataclass
class ReadModel:
    known: dict[str, OrderSummary]

    def get(self, order_id: str) -> OrderSummary | None:
        return self.known.get(order_id)

    def search(self, customer_id: str | None = None, **_: Any) -> list[OrderListItem]:
        return [
            OrderListItem(
                order_id=s.order_id,
                status=s.status,
                channel=s.channel,
                customer_id=s.customer["id"],
                currency=s.currency,
                total=s.total,
                placed_at=s.placed_at,
            )
            for s in self.known.values()
            if customer_id is None or s.customer["id"] == customer_id
        ]


@dataclass
class Temporal:
    """The orders' workflows: updates received, and a refusal to give when set. A return is recorded in the read
    model as the order's projection would, before the update answers."""

    read_model: ReadModel
    refuse: str | None = None
    updates: list[tuple[str, str, Any]] = field(default_factory=list)

    def get_workflow_handle(self, workflow_id: str) -> "Handle":
        return Handle(workflow_id, self)


@dataclass
class Handle:
    workflow_id: str
    temporal: Temporal

    async def execute_update(self, name: str, request: Any, *, result_type: type[Any]) -> Any:
        self.temporal.updates.append((self.workflow_id, name, request))
        if self.temporal.refuse:
            raise WorkflowUpdateFailedError(ApplicationError(self.temporal.refuse, type="ActionRefused"))
        order_id = self.workflow_id.removeprefix("order-")
        if name == ADDRESS_UPDATE:
            return ActionResult(order_id=order_id, status="accepted")
        assert name == RETURN_UPDATE
        summary = self.temporal.read_model.known[order_id]
        n = len(summary.returns) + 1
        label = LABEL if request.method == "mail" else None
        location = request.location_id or "DC-TOKYO"
        recorded = ReturnSummary(
            return_id=f"{order_id}-R{n}",
            rma=f"RMA-{order_id}-{n}",
            status="requested",
            method=request.method,
            location_id=location,
            label=label,
            lines=request.lines,
            received=[],
            refund_amount=Decimal(24980),
        )
        self.temporal.read_model.known[order_id] = summary.model_copy(update={"returns": [*summary.returns, recorded]})
        return ReturnResult(
            return_id=recorded.return_id,
            rma=recorded.rma,
            label=label,
            location_id=location,
            refund_estimate=Decimal(24980),
        )


@dataclass
class Services:
    client: Temporal
    queries: ReadModel
    engine: Any = None
    settings: Settings = field(default_factory=lambda: Settings(env="test"))
    tax: RulesEngine = field(default_factory=RulesEngine)


@pytest.fixture
def services() -> Services:
    c1 = {"id": "C-1", "name": "Aiko Sato", "email": "aiko@example.com"}
    c2 = {"id": "C-2", "name": "Emma Clark", "email": "emma@example.com"}
    read_model = ReadModel(
        {
            "W-1": order("W-1", c1, "delivered", delivered=1),
            "W-2": order("W-2", c2, "delivered", delivered=1),
            "W-3": order("W-3", c1, "accepted", delivered=0),
        }
    )
    return Services(client=Temporal(read_model), queries=read_model)


@pytest.fixture
def http(services: Services) -> Iterator[TestClient]:
    app = create_app(Settings(env="test", tokens=TOKENS))
    app.state.services = services
    app.dependency_overrides[my_pages.store_names] = lambda: STORES
    # not entered as a context: the app's lifespan would connect to Temporal and PostgreSQL
    client = TestClient(app)
    sign_in(client, MY, "t-c1")
    yield client


def visible(html: str) -> str:
    """The page without its forms' CSRF tokens (random text that could contain anything)."""
    return re.sub(r'name="csrf_token" value="[^"]*"', "", html)


def test_a_customer_lists_their_own_orders_only(http: TestClient) -> None:
    # given C-1 signed in, with orders W-1 and W-3; W-2 is C-2's
    # when they open their orders
    page = http.get("/my/orders")
    # then they see their two, in words, and not the other customer's
    assert page.status_code == 200
    assert "/my/orders/W-1" in page.text and "/my/orders/W-3" in page.text
    assert "W-2" not in page.text
    assert "Delivered" in page.text and "Confirmed, being prepared" in page.text


def test_another_customers_order_is_not_found_and_shows_nothing_of_it(http: TestClient) -> None:
    # when C-1 opens C-2's order by its address
    page = http.get("/my/orders/W-2")
    # then it is not found, and nothing of it is on the page
    assert page.status_code == 404
    assert "Emma" not in page.text
    assert "YT-W-2-555" not in page.text
    # nor may they act on it
    form = csrf_of(http.get("/my/orders/W-1").text)
    body = {"csrf_token": form, "sku": "LEGO-76419", "quantity": "1", "reason": "mine now", "method": "mail"}
    assert http.post("/my/orders/W-2/returns", data=body).status_code == 404


def test_the_order_page_shows_status_promise_and_tracking_and_nothing_internal(http: TestClient) -> None:
    # when C-1 opens their delivered order
    page = http.get("/my/orders/W-1")
    # then they read its status in words, the promised date, and each parcel's carrier by name and tracking number
    assert page.status_code == 200
    text = visible(page.text)
    assert "Delivered" in text and "2025-01-05" in text
    assert "Yamato Transport" in text and "YT-W-1-555" in text
    # and none of what only the shop's people see
    for hidden in [*HIDDEN, "73"]:
        assert hidden not in text, hidden
    assert "fraud" not in text.lower() and "attention" not in text.lower()


def test_a_return_by_mail_started_on_the_page_gives_its_label(http: TestClient, services: Services) -> None:
    # given C-1 on their delivered order's page
    csrf = csrf_of(http.get("/my/orders/W-1").text)
    # when they return the unit by mail
    body = {"csrf_token": csrf, "sku": "LEGO-76419", "quantity": "1", "reason": "too small", "method": "mail"}
    answer = http.post("/my/orders/W-1/returns", data=body, follow_redirects=False)
    # then the order's workflow got the return as the JSON route sends it, by the customer
    [(workflow_id, name, request)] = services.client.updates
    assert (workflow_id, name) == ("order-W-1", RETURN_UPDATE)
    assert request == ReturnRequest(
        lines=[{"sku": "LEGO-76419", "quantity": 1}], reason="too small", method="mail", actor="customer:C-1"
    )
    # and they are taken to the return, whose label is shown and can be downloaded
    assert (answer.status_code, answer.headers["location"]) == (303, "/my/orders/W-1/returns/RMA-W-1-1")
    page = http.get(answer.headers["location"])
    assert page.status_code == 200
    assert LABEL in page.text and "Your return RMA-W-1-1 has started" in page.text
    label = http.get("/my/orders/W-1/returns/RMA-W-1-1/label.svg")
    assert label.headers["content-type"].startswith("image/svg+xml")
    assert "attachment" in label.headers["content-disposition"]
    assert LABEL in label.text and "RMA-W-1-1" in label.text
    # and nothing internal is on the return's page either
    for hidden in HIDDEN:
        assert hidden not in visible(page.text), hidden


def test_a_return_at_a_store_names_the_store_and_never_its_id(http: TestClient, services: Services) -> None:
    # given the stores a return may be brought to, by name on the form
    page = http.get("/my/orders/W-1")
    assert "Umeda store" in page.text and "ST-UMEDA" not in page.text
    # when C-1 chooses to bring the unit to Umeda
    body = {
        "csrf_token": csrf_of(page.text),
        "sku": "LEGO-76419",
        "quantity": "1",
        "reason": "too small",
        "method": "in_store",
        "store": "Umeda store",
    }
    answer = http.post("/my/orders/W-1/returns", data=body)
    # then the order is told which location, and the customer reads the store's name and the return number
    request: ReturnRequest = services.client.updates[0][2]
    assert (request.method, request.location_id) == ("in_store", "ST-UMEDA")
    assert answer.status_code == 200
    assert "Umeda store" in answer.text and "RMA-W-1-1" in answer.text and "ST-UMEDA" not in answer.text


def test_a_refused_return_shows_the_orders_reason_on_its_page(http: TestClient, services: Services) -> None:
    # given the order refuses: its return window closed
    services.client.refuse = "the return window closed on 2025-01-31 00:00 UTC"
    csrf = csrf_of(http.get("/my/orders/W-1").text)
    # when C-1 asks for a return anyway
    body = {"csrf_token": csrf, "sku": "LEGO-76419", "quantity": "1", "reason": "too small", "method": "mail"}
    page = http.post("/my/orders/W-1/returns", data=body)
    # then the order's page says why, in place
    assert page.status_code == 409
    assert "the return window closed on 2025-01-31 00:00 UTC" in page.text
    assert "<h1>Order W-1</h1>" in page.text


def test_a_return_of_nothing_is_refused_before_the_order_hears_of_it(http: TestClient, services: Services) -> None:
    csrf = csrf_of(http.get("/my/orders/W-1").text)
    body = {"csrf_token": csrf, "sku": "LEGO-76419", "quantity": "0", "reason": "too small", "method": "mail"}
    page = http.post("/my/orders/W-1/returns", data=body)
    assert page.status_code == 422
    assert "Choose at least one item" in page.text
    assert services.client.updates == []


ADDRESS = {"name": "Aiko Sato", "line1": "2-2 Umeda", "city": "Osaka", "postal_code": "530-0001", "country": "jp"}


def test_the_address_changes_through_the_same_update_as_the_json_route(http: TestClient, services: Services) -> None:
    # given C-1's order not shipped yet, whose page offers to change the address
    page = http.get("/my/orders/W-3")
    assert "Change the delivery address" in page.text
    # when they give a new one
    answer = http.post(
        "/my/orders/W-3/address", data={"csrf_token": csrf_of(page.text), **ADDRESS}, follow_redirects=False
    )
    # then the order gets the address change, by the customer, and they are back on the order's page
    [(workflow_id, name, change)] = services.client.updates
    assert (workflow_id, name) == ("order-W-3", ADDRESS_UPDATE)
    assert isinstance(change, AddressChange)
    assert (change.address.city, change.address.country, change.actor) == ("Osaka", "JP", "customer:C-1")
    assert (answer.status_code, answer.headers["location"]) == (303, "/my/orders/W-3")


@pytest.mark.parametrize(
    ("reason", "shown"),
    [
        (
            "the order is canceled; its address can no longer change",
            "the order is canceled; its address can no longer change",
        ),
        (
            "W-3-F1 already left its location: the address can change only before shipment",
            "Part of your order has already shipped: the address can change only before shipment.",
        ),
        ("the order is on hold for review: decide the review first", "Your order is still being processed"),
    ],
)
def test_a_refused_address_change_shows_why_on_the_order_page(
    http: TestClient, services: Services, reason: str, shown: str
) -> None:
    # given the order refuses the change
    services.client.refuse = reason
    page = http.get("/my/orders/W-3")
    # when C-1 asks for it
    answer = http.post("/my/orders/W-3/address", data={"csrf_token": csrf_of(page.text), **ADDRESS})
    # then the order's page says why, in a customer's words, with what they typed still in the form
    assert answer.status_code == 409
    assert shown in answer.text
    assert 'value="2-2 Umeda"' in answer.text
    # and never the shop's ids nor its review
    assert "W-3-F1" not in answer.text and "review" not in answer.text


def test_a_form_without_its_csrf_token_changes_nothing(http: TestClient, services: Services) -> None:
    answer = http.post("/my/orders/W-3/address", data=ADDRESS)
    assert answer.status_code == 403
    assert services.client.updates == []


def test_nobody_signed_in_is_sent_to_sign_in(services: Services) -> None:
    app = create_app(Settings(env="test", tokens=TOKENS))
    app.state.services = services
    answer = TestClient(app).get("/my/orders/W-1", follow_redirects=False)
    assert answer.status_code == 303
    assert answer.headers["location"].startswith("/my/login?next=")
