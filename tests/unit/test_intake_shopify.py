"""Shopify's orders/create webhook becomes our order through the checkout: signed by Shopify's HMAC, idempotent on
Shopify's order id, refused with every reason when it cannot be mapped, and then nothing is started.

The sample payloads are Shopify's own, from Shopify/shopify-api-js,
packages/shopify-api/rest/admin/__tests__/2024-04/order.test.ts (commit fa41870b60b0fce3228a52341de7c4ec0fbd0093):
the mocked Order resource (the body orders/create carries) of
- `test_5` (GET orders.json?financial_status=authorized), `orders[0]`: tests/fixtures/intake/shopify_orders_create.json;
- `test_24` (POST orders.json, lines without skus): tests/fixtures/intake/shopify_order_without_skus.json.
Each is saved as it is in the response, taken out of its `{"orders": [...]}` / `{"order": ...}` envelope, which a
webhook body does not have.
"""

import base64
import hashlib
import hmac
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from domain.models import PlaceOrder, PrepaidPayment
from starter.api import catalog, intake
from starter.api.auth import parse_tokens
from starter.settings import Settings
from tests.unit.test_api_catalog import FakeCatalog, catalog_of, product
from tests.unit.test_api_service_actions import TOKENS, FakeQueries, summary
from tests.unit.test_input_bounds import BoundsServices, CheckoutClient
from workflows.messages import CheckoutResult

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "intake"
SECRET = "shpss_test_webhook_secret"
SKUS = ("IPOD2008GREEN", "IPOD2008RED", "IPOD2008BLACK")
Change = Callable[[dict[str, Any]], object]


def fixture(name: str) -> dict[str, Any]:
    document: dict[str, Any] = json.loads((FIXTURES / name).read_text())
    return document


@dataclass
class ProjectedCheckouts(CheckoutClient):
    """The Temporal client, whose accepted checkouts the read model then knows, as its projection would."""

    queries: FakeQueries = field(default_factory=FakeQueries)

    async def execute_update_with_start_workflow(self, update: str, **kwargs: Any) -> CheckoutResult:
        result = await super().execute_update_with_start_workflow(update, **kwargs)
        order = kwargs["start_workflow_operation"]._start_workflow_input.args[0].order
        known = summary(order.order_id, order.customer.id, order.currency)
        self.queries.known[order.order_id] = known.model_copy(update={"status": result.status, "total": order.total})
        return result


def intake_app(workflows: ProjectedCheckouts, shelf: FakeCatalog, settings: Settings) -> FastAPI:
    app = FastAPI()
    app.include_router(intake.router)
    app.state.tokens = parse_tokens(TOKENS, production=False)
    app.state.services = BoundsServices(client=workflows, queries=workflows.queries, settings=settings)
    app.dependency_overrides[catalog.product_catalog] = lambda: shelf
    return app


def placed(workflows: CheckoutClient, n: int = 0) -> PlaceOrder:
    order: Any = workflows.started[n]._start_workflow_input.args[0].order
    assert isinstance(order, PlaceOrder)
    return order


@pytest.fixture
def workflows() -> ProjectedCheckouts:
    return ProjectedCheckouts()


@pytest.fixture
def shelf() -> FakeCatalog:
    return catalog_of(*(product(sku, USD="199.00") for sku in SKUS))


@pytest.fixture
def http(workflows: ProjectedCheckouts, shelf: FakeCatalog) -> Iterator[TestClient]:
    with TestClient(intake_app(workflows, shelf, Settings(shopify_webhook_secret=SECRET))) as client:
        yield client


def signature(body: bytes, secret: str = SECRET) -> str:
    return base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()


def deliver(http: TestClient, document: Any, headers: dict[str, str] | None = None) -> Any:
    """Post as Shopify does: the JSON body, signed with the shared secret unless other headers are given."""
    body = document if isinstance(document, bytes) else json.dumps(document).encode()
    sent = {"Content-Type": "application/json", intake.HMAC_HEADER: signature(body)} if headers is None else headers
    return http.post("/v1/intake/shopify", content=body, headers=sent)


def sample(*changes: Change) -> dict[str, Any]:
    """Shopify's sample order, with each of `changes` made to it."""
    document = fixture("shopify_orders_create.json")
    for change in changes:
        change(document)
    return document


def line(document: dict[str, Any], line_id: int) -> dict[str, Any]:
    found: dict[str, Any] = next(item for item in document["line_items"] if item["id"] == line_id)
    return found


def all_units_kept(document: dict[str, Any]) -> None:
    """The sample was captured after a refund took two of its lines; orders/create has every unit still on."""
    for item in document["line_items"]:
        item["current_quantity"] = item["quantity"]


# ---------------------------------------------------------------- the sample


def test_shopifys_sample_order_becomes_our_order(http: TestClient, workflows: ProjectedCheckouts) -> None:
    # given Shopify's sample order (authorized; the TENOFF code spread over its lines; two lines refunded since)
    # when Shopify delivers it, signed and without any bearer token
    response = deliver(http, sample())
    # then it is placed as a checkout is, and its workflow gets our order
    assert response.status_code == 201, response.text
    assert response.json()["order_id"] == "shopify-450789469"
    order = placed(workflows)
    assert (order.order_id, order.channel, order.currency, order.delivery_method) == (
        "shopify-450789469",
        "web",
        "USD",
        "standard",
    )
    assert order.customer.model_dump() == {
        "id": "shopify-207119551",
        "email": "bob.norman@mail.example.com",
        "name": "Bob Norman",
        "phone": "+557734881234",
        "locale": "en",
    }
    # the one line still on the order, at its price less its share of TENOFF (199.00 - 3.33)
    assert [(ln.sku, ln.quantity, ln.unit_price) for ln in order.lines] == [("IPOD2008RED", 1, Decimal("195.67"))]
    assert order.shipping_address.model_dump(exclude_none=True) == {
        "name": "Bob Norman",
        "line1": "Chestnut Street 92",
        "city": "Louisville",
        "postal_code": "40202",
        "country": "US",
        "latitude": 45.41634,
        "longitude": -75.6868,
    }
    assert order.payment == PrepaidPayment(method="prepaid", platform="shopify", reference="450789469")
    # and what Shopify said that the OMS does not model goes into the order's history with it
    assert order.source is not None
    assert order.source.model_dump(mode="json") == {
        "platform": "shopify",
        "order_id": "450789469",
        "order_name": "#1001",
        "total": "598.94",
        "shipping_price": "0.00",
        "shipping_method": "Free Shipping",
        "tax_total": "11.94",
        "taxes_included": False,
        "financial_status": "authorized",
        "region": "KY",
        "not_fulfilled": [
            "line item 466157049 (IPod Nano - 8gb - green): removed on Shopify",
            "line item 703073504 (IPod Nano - 8gb - black): removed on Shopify",
        ],
    }


def test_each_line_takes_its_share_of_the_order_discount(http: TestClient, workflows: ProjectedCheckouts) -> None:
    # given the sample with every unit still on it: 199.00 each, TENOFF allocated 3.34, 3.33 and 3.33
    # when it is delivered
    response = deliver(http, sample(all_units_kept))
    # then each line's unit price is what the customer paid for it, and they add up to Shopify's subtotal
    assert response.status_code == 201, response.text
    prices = {ln.sku: ln.unit_price for ln in placed(workflows).lines}
    assert prices == {
        "IPOD2008GREEN": Decimal("195.66"),
        "IPOD2008RED": Decimal("195.67"),
        "IPOD2008BLACK": Decimal("195.67"),
    }
    assert placed(workflows).total == Decimal("597.00") - Decimal("10.00")


def test_the_same_delivery_again_answers_200_and_starts_nothing(
    http: TestClient, workflows: ProjectedCheckouts
) -> None:
    # given the sample delivered once
    first = deliver(http, sample())
    assert first.status_code == 201, first.text
    # when Shopify delivers it again
    again = deliver(http, sample())
    # then it gets the same order, 200, and no second workflow was started
    assert again.status_code == 200, again.text
    assert again.json()["order_id"] == first.json()["order_id"] == "shopify-450789469"
    assert again.json()["workflow_id"] == "order-shopify-450789469"
    assert len(workflows.started) == 1


@dataclass
class UnprojectedCheckouts(ProjectedCheckouts):
    """The Temporal client before any projection has run: the read model knows no order yet, and the order's
    workflow tells a checkout after its first that it is a repeat, as OrderWorkflow.checkout does."""

    async def execute_update_with_start_workflow(self, update: str, **kwargs: Any) -> CheckoutResult:
        order_id = kwargs["start_workflow_operation"]._start_workflow_input.args[0].order.order_id
        before = [op._start_workflow_input.args[0].order.order_id for op in self.started]
        result = await CheckoutClient.execute_update_with_start_workflow(self, update, **kwargs)  # nothing projected
        return result.model_copy(update={"repeated": order_id in before})


def test_a_redelivery_before_the_read_model_has_the_order_answers_200(shelf: FakeCatalog) -> None:
    # given a first delivery taken, and the read model not yet told of it
    workflows = UnprojectedCheckouts()
    http = TestClient(intake_app(workflows, shelf, Settings(shopify_webhook_secret=SECRET)))
    first = deliver(http, sample())
    assert first.status_code == 201, first.text
    # when Shopify delivers it again at once
    again = deliver(http, sample())
    # then it is answered 200 with the same order, and no field tells of the repeat but the code
    assert again.status_code == 200, again.text
    assert again.json() == first.json()
    assert "repeated" not in again.json()


def test_a_redelivery_with_another_body_answers_with_the_order_taken(
    http: TestClient, workflows: ProjectedCheckouts
) -> None:
    # given the sample delivered once
    deliver(http, sample())
    # when the same Shopify order comes again with other lines, even some that could not be mapped
    response = deliver(http, sample(lambda d: line(d, 518995019).update(sku=None, quantity=9)))
    # then the order taken is the answer, and nothing is started
    assert response.status_code == 200, response.text
    assert response.json()["total"] == "195.67"
    assert len(workflows.started) == 1


# ---------------------------------------------------------------- the signature


@pytest.mark.parametrize(
    "headers",
    [
        pytest.param({}, id="no-signature"),
        pytest.param({intake.HMAC_HEADER: ""}, id="empty-signature"),
        pytest.param({intake.HMAC_HEADER: signature(json.dumps(sample()).encode(), "other")}, id="other-secret"),
        pytest.param({intake.HMAC_HEADER: signature(b"{}")}, id="another-body"),
        pytest.param({"Authorization": "Bearer t-store"}, id="a-bearer-token-instead"),
    ],
)
def test_a_delivery_not_signed_with_the_secret_is_refused(
    http: TestClient, workflows: ProjectedCheckouts, headers: dict[str, str]
) -> None:
    # given the sample, when it comes without Shopify's signature of its body
    response = deliver(http, sample(), headers=headers)
    # then it is refused, and nothing is started
    assert response.status_code == 401, response.text
    assert intake.HMAC_HEADER in response.json()["detail"]
    assert workflows.started == []


def test_the_signature_is_checked_before_the_body_is_read(http: TestClient, workflows: ProjectedCheckouts) -> None:
    # given a body that is not JSON
    body = b"{not json"
    # when it comes unsigned, then it is refused for its signature, not its content
    assert deliver(http, body, headers={intake.HMAC_HEADER: signature(b"x")}).status_code == 401
    # and when it is signed, for its content
    assert deliver(http, body).status_code == 400
    assert workflows.started == []


def test_without_a_secret_intake_from_shopify_is_not_configured(
    workflows: ProjectedCheckouts, shelf: FakeCatalog
) -> None:
    # given an OMS without OMS_SHOPIFY_WEBHOOK_SECRET
    with TestClient(intake_app(workflows, shelf, Settings(shopify_webhook_secret=None))) as http:
        # when a delivery comes
        response = deliver(http, sample())
    # then it cannot be checked, so it is not taken
    assert response.status_code == 503
    assert response.json() == {"detail": "intake from Shopify is not configured"}
    assert workflows.started == []


# ---------------------------------------------------------------- what cannot be mapped


def green_as_red(document: dict[str, Any]) -> None:
    all_units_kept(document)
    line(document, 466157049).update(sku="IPOD2008RED")


def pickup(document: dict[str, Any]) -> None:
    document["shipping_lines"][0].update(code="Pickup", title="Pickup at Shibuya store")


REFUSED: list[tuple[str, Change, str]] = [
    ("no-sku", lambda d: line(d, 518995019).update(sku=""), "line item 518995019 has no sku"),
    (
        "uneven-discount",
        lambda d: line(d, 518995019).update(
            quantity=3, current_quantity=3, discount_allocations=[{"amount": "10.00", "discount_application_index": 0}]
        ),
        "line item 518995019: its discounted price 587.00 does not spread evenly over its 3 units in USD",
    ),
    (
        "unpaid",
        lambda d: d.update(financial_status="pending"),
        "the order is not paid on Shopify (financial_status pending)",
    ),
    (
        "voided",
        lambda d: d.update(financial_status="voided"),
        "the order is not paid on Shopify (financial_status voided)",
    ),
    ("cancelled", lambda d: d.update(cancelled_at="2008-01-10T11:00:00-05:00"), "the order is cancelled on Shopify"),
    ("no-address", lambda d: d.update(shipping_address=None), "the order has no shipping address"),
    ("address-without-zip", lambda d: d["shipping_address"].update(zip=""), "the shipping address has no zip"),
    ("no-email", lambda d: d.update(email=None, contact_email=None, customer=None), "the order has no e-mail"),
    (
        "unknown-currency",
        lambda d: d.update(currency="XTS"),
        "the order's currency XTS is not one the OMS keeps money in",
    ),
    ("pickup", pickup, "the order is picked up on Shopify (Pickup, Pickup at Shibuya store)"),
    (
        "one-sku-two-prices",
        green_as_red,
        "IPOD2008RED is on line item 466157049 at 195.66 and on line item 518995019 at 195.67: the OMS takes one price",
    ),
    (
        "only-gift-cards",
        lambda d: [item.update(gift_card=True) for item in d["line_items"]],
        "the order has no line the OMS fulfils",
    ),
    ("bad-order-id", lambda d: d.update(id="45 07"), "order_id: String should match pattern"),
]


@pytest.mark.parametrize(("change", "reason"), [pytest.param(c, r, id=i) for i, c, r in REFUSED])
def test_an_order_that_cannot_be_mapped_is_refused_with_the_reason(
    http: TestClient, workflows: ProjectedCheckouts, change: Change, reason: str
) -> None:
    # given the sample with one thing the OMS cannot take
    # when it is delivered
    response = deliver(http, sample(change))
    # then the reason is listed, and nothing is started
    assert response.status_code == 422, response.text
    assert any(reason in problem for problem in response.json()["detail"]), response.json()
    assert workflows.started == []


def test_shopifys_order_without_skus_is_refused_with_every_reason(
    http: TestClient, workflows: ProjectedCheckouts
) -> None:
    # given Shopify's sample of an order created with custom lines, no e-mail and no shipping address
    document = fixture("shopify_order_without_skus.json")
    # when it is delivered
    response = deliver(http, document)
    # then every reason is listed at once, and nothing is started
    assert response.status_code == 422, response.text
    assert response.json() == {
        "detail": [
            "line item 1071823190 has no sku",
            "line item 1071823191 has no sku",
            "line item 1071823192 has no sku",
            "the order has no e-mail address to reach the customer by",
            "the order names no customer: neither the customer nor the shipping address has a name",
            "the order has no shipping address",
        ]
    }
    assert workflows.started == []


def test_a_sku_the_catalog_does_not_sell_is_refused_by_the_checkout(
    workflows: ProjectedCheckouts,
) -> None:
    # given a catalog that does not sell the sample's red iPod
    shelf = catalog_of(product("IPOD2008GREEN", USD="199.00"))
    with TestClient(intake_app(workflows, shelf, Settings(shopify_webhook_secret=SECRET))) as http:
        # when the sample is delivered
        response = deliver(http, sample())
    # then the checkout refuses it as it refuses any such checkout, and nothing is started
    assert response.status_code == 422
    assert "IPOD2008RED" in response.json()["detail"]
    assert workflows.started == []


# ---------------------------------------------------------------- the mapping's rules


def test_lines_of_one_sku_at_one_price_are_added_up(http: TestClient, workflows: ProjectedCheckouts) -> None:
    # given the sample with its red and black lines (each 199.00 less 3.33) named as one sku
    document = sample(all_units_kept, lambda d: line(d, 703073504).update(sku="IPOD2008RED"))
    # when it is delivered
    assert deliver(http, document).status_code == 201
    # then our order has that sku once, with both units
    assert [(ln.sku, ln.quantity) for ln in placed(workflows).lines] == [("IPOD2008GREEN", 1), ("IPOD2008RED", 2)]


def test_a_gift_card_is_left_to_shopify_and_the_goods_are_taken(
    http: TestClient, workflows: ProjectedCheckouts
) -> None:
    # given the sample with every unit on it, its black line being a gift card
    document = sample(all_units_kept, lambda d: line(d, 703073504).update(gift_card=True, requires_shipping=False))
    # when it is delivered
    assert deliver(http, document).status_code == 201
    # then the goods are ordered, and the gift card is recorded as Shopify's to issue
    order = placed(workflows)
    assert [ln.sku for ln in order.lines] == ["IPOD2008GREEN", "IPOD2008RED"]
    assert order.source is not None
    assert order.source.not_fulfilled == [
        "line item 703073504 (IPod Nano - 8gb - black): a gift card, which Shopify issues"
    ]


@pytest.mark.parametrize(
    ("change", "seen"),
    [
        pytest.param(lambda d: d.update(source_name="pos"), lambda o: o.channel == "store", id="pos-is-the-store"),
        pytest.param(
            lambda d: d.update(customer_locale="ja-JP"), lambda o: o.customer.locale == "ja", id="japanese-locale"
        ),
        pytest.param(
            lambda d: d["shipping_lines"][0].update(code="EXPRESS", title="Express (next day)"),
            lambda o: o.delivery_method == "next_day",
            id="express-is-next-day",
        ),
        pytest.param(
            lambda d: d.update(customer=None),
            lambda o: o.customer.id == "bob.norman@mail.example.com" and o.customer.name == "Bob Norman",
            id="no-customer-known-by-email",
        ),
    ],
)
def test_what_the_order_says_of_itself_is_kept(
    http: TestClient, workflows: ProjectedCheckouts, change: Change, seen: Callable[[PlaceOrder], bool]
) -> None:
    # given the sample with one detail changed, when it is delivered
    assert deliver(http, sample(change)).status_code == 201
    # then our order has it
    assert seen(placed(workflows))


def test_the_source_is_not_part_of_the_checkout_contract() -> None:
    # given the checkout body's schema, when it is published
    schema = PlaceOrder.model_json_schema()
    # then it has no source: only the intake routes set it
    assert "source" not in schema["properties"]
