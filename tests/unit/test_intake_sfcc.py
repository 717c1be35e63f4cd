"""A Salesforce B2C Commerce order document becomes our order through the checkout, from a storefront token:
idempotent on its order_no, refused with every reason when it cannot be mapped, and then nothing is started.

The sample payloads are Salesforce's own, from SalesforceCommerceCloud/commerce-sdk (commit
98f05532a1058d936e0b2c842092a97a56acf08e), converted from the specifications' YAML to JSON and otherwise unchanged:
- apis/orders-oas-1.5.2/orders-oas-v1-public.yaml, `components.examples.OrderGet` (the Orders API's order, placed
  and confirmed): tests/fixtures/intake/sfcc_order.json;
- apis/shopper-orders-oas-1.17.1/shopper-orders-oas-v1-public.yaml, `components.examples.OrderGet` (a Shopper
  Orders order still `created`): tests/fixtures/intake/sfcc_shopper_order_created.json.
Both are SCAPI's camelCase; OCAPI's snake_case form of the same document is tested from the first.
"""

import json
import re
from collections.abc import Callable, Iterator
from decimal import Decimal
from typing import Any

import pytest
from fastapi.testclient import TestClient

from domain.models import PlaceOrder, PrepaidPayment
from starter.settings import Settings
from tests.unit.test_api_catalog import FakeCatalog, catalog_of, product
from tests.unit.test_api_service_actions import AS_AGENT, AS_CUSTOMER_1, AS_STOREFRONT
from tests.unit.test_intake_shopify import ProjectedCheckouts, fixture, intake_app, placed

SKU = "701643632930"
Change = Callable[[dict[str, Any]], object]


@pytest.fixture
def workflows() -> ProjectedCheckouts:
    return ProjectedCheckouts()


@pytest.fixture
def shelf() -> FakeCatalog:
    return catalog_of(product(SKU, USD="99.00"), product("green-umbrella", USD="199.99"))


@pytest.fixture
def http(workflows: ProjectedCheckouts, shelf: FakeCatalog) -> Iterator[TestClient]:
    with TestClient(intake_app(workflows, shelf, Settings())) as client:
        yield client


def deliver(http: TestClient, document: Any, headers: dict[str, str] = AS_STOREFRONT) -> Any:
    return http.post("/v1/intake/sfcc", content=json.dumps(document), headers=headers)


def sample(*changes: Change) -> dict[str, Any]:
    """The Orders API's sample order, with each of `changes` made to it."""
    document = fixture("sfcc_order.json")
    for change in changes:
        change(document)
    return document


def item(document: dict[str, Any]) -> dict[str, Any]:
    found: dict[str, Any] = document["productItems"][0]
    return found


def ocapi(value: Any) -> Any:
    """The document as OCAPI names its fields (`orderNo` is `order_no`); custom attributes keep their names."""
    if isinstance(value, list):
        return [ocapi(v) for v in value]
    if isinstance(value, dict):
        return {k if k.startswith("c_") else re.sub(r"([A-Z])", r"_\1", k).lower(): ocapi(v) for k, v in value.items()}
    return value


# ---------------------------------------------------------------- the sample


def test_the_orders_api_sample_becomes_our_order(http: TestClient, workflows: ProjectedCheckouts) -> None:
    # given Salesforce's sample order: placed (new), confirmed, authorized but not captured (not_paid)
    # when the storefront posts it
    response = deliver(http, sample())
    # then it is placed as a checkout is, and its workflow gets our order
    assert response.status_code == 201, response.text
    assert response.json()["order_id"] == "sfcc-00000410"
    order = placed(workflows)
    assert (order.order_id, order.channel, order.currency, order.delivery_method) == (
        "sfcc-00000410",
        "web",
        "USD",
        "standard",
    )
    # a guest: known by their e-mail address
    assert order.customer.model_dump() == {
        "id": "no-reply@salesforce.com",
        "email": "no-reply@salesforce.com",
        "name": "Max Mustermann",
        "phone": "6175555555",
        "locale": "en",
    }
    assert [(ln.sku, ln.quantity, ln.unit_price) for ln in order.lines] == [(SKU, 1, Decimal("99.00"))]
    assert order.shipping_address.model_dump(exclude_none=True) == {
        "name": "Max Mustermann",
        "line1": "45 Main Rd.",
        "city": "Burlington",
        "postal_code": "05408",
        "country": "US",
    }
    assert order.payment == PrepaidPayment(method="prepaid", platform="sfcc", reference="00000410")
    # and what B2C Commerce said that the OMS does not model goes into the order's history with it
    assert order.source is not None
    assert order.source.model_dump(mode="json") == {
        "platform": "sfcc",
        "order_id": "00000410",
        "order_name": None,
        "total": "110.24",
        "shipping_price": "25.99",
        "shipping_method": "DefaultShippingMethod",
        "tax_total": "5.25",
        "taxes_included": False,
        "financial_status": "not_paid",
        "region": "MA",
        "not_fulfilled": [],
    }


def test_the_ocapi_form_of_the_document_makes_the_same_order(http: TestClient, workflows: ProjectedCheckouts) -> None:
    # given the sample as SCAPI names its fields, and as OCAPI does
    # when each is posted (the second as another order number, to be placed as well)
    deliver(http, sample())
    response = deliver(http, ocapi(sample(lambda d: d.update(orderNo="00000411"))))
    # then both make the same order
    assert response.status_code == 201, response.text
    first, second = placed(workflows, 0), placed(workflows, 1)
    assert second.order_id == "sfcc-00000411"
    assert second.model_dump(exclude={"order_id", "payment", "source"}) == first.model_dump(
        exclude={"order_id", "payment", "source"}
    )


def test_the_same_document_again_answers_200_and_starts_nothing(
    http: TestClient, workflows: ProjectedCheckouts
) -> None:
    # given the sample posted once
    assert deliver(http, sample()).status_code == 201
    # when it is posted again, even changed
    again = deliver(http, sample(lambda d: item(d).update(quantity=5)))
    # then it gets the order taken, 200, and no second workflow was started
    assert again.status_code == 200, again.text
    assert again.json()["order_id"] == "sfcc-00000410"
    assert len(workflows.started) == 1


@pytest.mark.parametrize(
    ("headers", "code"),
    [
        pytest.param({}, 401, id="no-token"),
        pytest.param({"Authorization": "Bearer forged"}, 401, id="forged-token"),
        pytest.param(AS_CUSTOMER_1, 403, id="a-customer"),
        pytest.param(AS_AGENT, 403, id="an-agent"),
    ],
)
def test_only_the_storefront_posts_orders(
    http: TestClient, workflows: ProjectedCheckouts, headers: dict[str, str], code: int
) -> None:
    # given the sample, when someone other than the storefront posts it
    response = deliver(http, sample(), headers=headers)
    # then it is refused, and nothing is started
    assert response.status_code == code
    assert workflows.started == []


# ---------------------------------------------------------------- what cannot be mapped


def test_a_shopper_order_not_yet_placed_is_refused_with_every_reason(
    http: TestClient, workflows: ProjectedCheckouts
) -> None:
    # given Salesforce's Shopper Orders sample: still `created`, not confirmed, and its order discount of 10.00
    # taken off three umbrellas at 589.99 in all
    document = fixture("sfcc_shopper_order_created.json")
    # when it is posted
    response = deliver(http, document)
    # then every reason is listed (its gift certificate is B2C Commerce's to send, not one), and nothing is started
    assert response.status_code == 422, response.text
    assert response.json() == {
        "detail": [
            "the order is not placed on B2C Commerce (status created)",
            "the order is not confirmed on B2C Commerce (confirmation_status not_confirmed)",
            "product item d9516eecc64bd90b0022714d26: its discounted price 589.99 does not spread evenly over its 3 "
            "units in USD",
        ]
    }
    assert workflows.started == []


def second_shipment(document: dict[str, Any]) -> None:
    document["shipments"].append({**document["shipments"][0], "shipmentId": "gift"})
    document["productItems"].append({**item(document), "itemId": "gift-item", "shipmentId": "gift"})


REFUSED: list[tuple[str, Change, str]] = [
    ("no-product-id", lambda d: item(d).pop("productId"), "product item 3390171e44271bad9c36592049 has no product_id"),
    (
        "uneven-discount",
        lambda d: item(d).update(quantity=3, priceAfterOrderDiscount=100),
        "product item 3390171e44271bad9c36592049: its discounted price 100 does not spread evenly over its 3 units",
    ),
    ("created", lambda d: d.update(status="created"), "the order is not placed on B2C Commerce (status created)"),
    ("failed", lambda d: d.update(status="failed"), "the order is not placed on B2C Commerce (status failed)"),
    (
        "not-confirmed",
        lambda d: d.update(confirmationStatus="not_confirmed"),
        "the order is not confirmed on B2C Commerce (confirmation_status not_confirmed)",
    ),
    ("no-shipment", lambda d: d.update(shipments=[]), "the order has no shipping address"),
    ("no-postal-code", lambda d: d["shipments"][0]["shippingAddress"].pop("postalCode"), "has no postal_code"),
    ("two-shipments", second_shipment, "the order ships to 2 shipments (gift, me)"),
    ("no-email", lambda d: d["customerInfo"].pop("email"), "the order has no e-mail address"),
    ("unknown-currency", lambda d: d.update(currency="XXX"), "the order's currency XXX is not one the OMS keeps"),
    (
        "store-pickup",
        lambda d: d["shipments"][0].update(shippingMethod={"id": "005", "name": "Store Pickup"}),
        "the order is picked up in a store (005, Store Pickup)",
    ),
    ("no-product-items", lambda d: d.update(productItems=[]), "the order has no product item the OMS fulfils"),
]


@pytest.mark.parametrize(("change", "reason"), [pytest.param(c, r, id=i) for i, c, r in REFUSED])
def test_a_document_that_cannot_be_mapped_is_refused_with_the_reason(
    http: TestClient, workflows: ProjectedCheckouts, change: Change, reason: str
) -> None:
    # given the sample with one thing the OMS cannot take
    # when it is posted
    response = deliver(http, sample(change))
    # then the reason is listed, and nothing is started
    assert response.status_code == 422, response.text
    assert any(reason in problem for problem in response.json()["detail"]), response.json()
    assert workflows.started == []


# ---------------------------------------------------------------- the mapping's rules


def test_a_gift_certificate_is_left_to_b2c_commerce(http: TestClient, workflows: ProjectedCheckouts) -> None:
    # given the sample with a gift certificate bought alongside the trousers
    certificate = {"amount": 25, "giftCertificateItemId": "gc-1", "recipientEmail": "a@example.com", "shipmentId": "me"}
    # when it is posted
    assert deliver(http, sample(lambda d: d.update(giftCertificateItems=[certificate]))).status_code == 201
    # then the trousers are ordered, and the certificate is recorded as B2C Commerce's to send
    order = placed(workflows)
    assert [ln.sku for ln in order.lines] == [SKU]
    assert order.source is not None
    assert order.source.not_fulfilled == ["gift certificate gc-1 (25): B2C Commerce sends it"]


def test_an_option_and_the_discounts_are_in_the_units_price(http: TestClient, workflows: ProjectedCheckouts) -> None:
    # given two pairs of trousers at 99.00 with a 10.00 promotion, and hemming at 3.00 a pair
    def hemmed(document: dict[str, Any]) -> None:
        document["productItems"] = [
            {
                "itemId": "pants",
                "productId": SKU,
                "quantity": 2,
                "price": 198,
                "priceAdjustments": [{"price": -10, "promotionId": "TENOFF"}],
                "optionItems": [{"optionId": "hem", "price": 6, "quantity": 2}],
                "shipmentId": "me",
            }
        ]

    # when it is posted
    assert deliver(http, sample(hemmed)).status_code == 201
    # then each pair costs what it came to: (198 - 10 + 6) / 2
    assert [(ln.quantity, ln.unit_price) for ln in placed(workflows).lines] == [(2, Decimal("97.00"))]


@pytest.mark.parametrize(
    ("change", "seen"),
    [
        pytest.param(
            lambda d: d["customerInfo"].update(guest=False),
            lambda o: o.customer.id == "sfcc-0002352",
            id="a-registered-customer-by-number",
        ),
        pytest.param(lambda d: d.update(customerLocale="ja_JP"), lambda o: o.customer.locale == "ja", id="japanese"),
        pytest.param(
            lambda d: d["shipments"][0].update(shippingMethod={"id": "003", "name": "Overnight"}),
            lambda o: o.delivery_method == "next_day",
            id="overnight-is-next-day",
        ),
        pytest.param(
            lambda d: d["shipments"][0].update(shippingMethod={"id": "001", "name": "Ground"}),
            lambda o: o.delivery_method == "standard",
            id="ground-is-standard",
        ),
    ],
)
def test_what_the_document_says_of_the_order_is_kept(
    http: TestClient, workflows: ProjectedCheckouts, change: Change, seen: Callable[[PlaceOrder], bool]
) -> None:
    # given the sample with one detail changed, when it is posted
    assert deliver(http, sample(change)).status_code == 201
    # then our order has it
    assert seen(placed(workflows))
