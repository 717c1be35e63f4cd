"""What the API accepts always fits: one line per sku, amounts the money columns hold, bounded counts and strings.

A body outside these bounds is refused with 422 and a reason before anything is started, sent or written; the
order's own refusal rules refuse a repeated sku too, so the workflow's validators hold even without the API.
"""

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from pydantic import ValidationError

from domain import events as ev
from domain.models import MAX_AMOUNT, PlaceOrder, SkuQuantity
from domain.order import Order
from integrations.payments import GatewayUnavailable
from integrations.tax import RulesEngine
from starter.api import catalog, checkout_route, inventory, orders, service, webhooks
from starter.api.auth import parse_tokens
from starter.api.subscriptions import ReplayBody
from starter.settings import Settings
from tests.orders import checkout_body, place_order
from tests.unit.test_api_catalog import catalog_of, product
from tests.unit.test_api_service_actions import (
    AS_AGENT,
    AS_OPERATOR,
    AS_PARTNER,
    TOKENS,
    FakeQueries,
    FakeWorkflows,
    summary,
)
from workflows.messages import CancelRequest, CheckoutResult, ExchangeRequest, ReshipRequest, ReturnRequest

NOW = datetime(2026, 11, 1, tzinfo=UTC)
TWICE = [{"sku": "LEGO-76419", "quantity": 1}, {"sku": "LEGO-76419", "quantity": 1}]
LONG = "X" * 65  # one more than a sku, location or tracking number column holds


class Untouchable:
    """A database no request may reach: any use of it is a failure of the test."""

    def __getattr__(self, name: str) -> Any:
        raise AssertionError(f"the database was used ({name}) by a request that should have been refused")


@dataclass
class CheckoutClient(FakeWorkflows):
    """The Temporal client, recording every workflow a checkout starts."""

    started: list[Any] = field(default_factory=list)

    async def execute_update_with_start_workflow(self, update: str, **kwargs: Any) -> CheckoutResult:
        self.started.append(kwargs["start_workflow_operation"])
        order = kwargs["start_workflow_operation"]._start_workflow_input.args[0].order
        return CheckoutResult(order_id=order.order_id, status="accepted", currency=order.currency, total=order.total)


@dataclass
class Vault:
    """The gateway's card vault: one `pm_` reference per key, the tokens it was given kept here only."""

    saved: dict[str, tuple[str, str]] = field(default_factory=dict)
    down: bool = False

    def save_payment_method(self, idempotency_key: str, customer_reference: str, token: str) -> str:
        if self.down:
            raise GatewayUnavailable("payment gateway unavailable (test)")
        self.saved.setdefault(idempotency_key, (f"pm_{len(self.saved) + 1:04d}", token))
        return self.saved[idempotency_key][0]


@dataclass
class BoundsServices:
    client: CheckoutClient
    queries: FakeQueries
    settings: Settings = field(default_factory=Settings)
    engine: Any = field(default_factory=Untouchable)
    gateway: Vault = field(default_factory=Vault)
    tax: RulesEngine = field(default_factory=RulesEngine)


@pytest.fixture
def workflows() -> CheckoutClient:
    return CheckoutClient()


@pytest.fixture
def http(workflows: CheckoutClient) -> Iterator[TestClient]:
    app = FastAPI()
    for module in (checkout_route, orders, service, webhooks, inventory):
        app.include_router(module.router)
    app.state.tokens = parse_tokens(TOKENS, production=False)
    app.state.services = BoundsServices(client=workflows, queries=FakeQueries({"W-1": summary("W-1", "C-1")}))
    products = catalog_of(*(product(sku, JPY="1000") for sku in ("A", "B", "JET-1", "LEGO-76419")))
    app.dependency_overrides[catalog.product_catalog] = lambda: products
    with TestClient(app) as client:
        yield client


def nothing_reached_the_order(workflows: CheckoutClient) -> bool:
    return workflows.started == [] and workflows.updates == [] and workflows.signals == []


# ---------------------------------------------------------------- checkout


def test_a_checkout_whose_total_fits_the_money_columns_is_started(http: TestClient, workflows: CheckoutClient) -> None:
    # given the dearest order the money columns hold: one line at exactly the bound
    body = checkout_body("W-MAX", lines=[{"sku": "JET-1", "quantity": 1, "unit_price": str(MAX_AMOUNT)}])
    # when it is posted, then it is started and accepted
    response = http.post("/v1/orders", json=body, headers=AS_AGENT)
    assert response.status_code == 201, response.text
    assert len(workflows.started) == 1


@pytest.mark.parametrize(
    ("overrides", "complaint"),
    [
        ({"lines": [{"sku": "A", "quantity": 10_000, "unit_price": "99999999999999"}]}, "order total"),
        ({"lines": [{"sku": "A", "quantity": 1, "unit_price": "100000000000000"}]}, "less than or equal"),
        ({"lines": [{"sku": "A", "quantity": 10_001, "unit_price": "1"}]}, "less than or equal to 10000"),
        ({"lines": [{"sku": LONG, "quantity": 1, "unit_price": "1"}]}, "at most 64 characters"),
        (
            {"lines": [{"sku": "A", "quantity": 1, "unit_price": "1"}, {"sku": "A", "quantity": 1, "unit_price": "1"}]},
            "one line only",
        ),
        ({"delivery_method": "pickup", "pickup_location_id": LONG}, "at most 64 characters"),
    ],
    ids=["total-overflows", "price-overflows", "quantity", "long-sku", "sku-twice", "long-pickup-location"],
)
def test_a_checkout_out_of_bounds_is_422_and_no_order_is_started(
    http: TestClient, workflows: CheckoutClient, overrides: dict[str, Any], complaint: str
) -> None:
    # given a checkout the database could not hold (or that names a sku twice)
    body = checkout_body("W-BIG", **overrides)
    # when it is posted
    response = http.post("/v1/orders", json=body, headers=AS_AGENT)
    # then the storefront learns why at once, and no workflow is started
    assert response.status_code == 422, response.text
    assert complaint in response.text
    assert nothing_reached_the_order(workflows)


def test_a_checkout_naming_a_sku_the_catalog_does_not_know_is_422_and_no_order_is_started(
    http: TestClient, workflows: CheckoutClient
) -> None:
    # given a checkout of a product the catalog has and two it does not
    lines = [
        {"sku": "LEGO-76419", "quantity": 1, "unit_price": "24980"},
        {"sku": "NOT-IN-CATALOG-1", "quantity": 1, "unit_price": "100"},
        {"sku": "NOT-IN-CATALOG-2", "quantity": 1, "unit_price": "100"},
    ]
    # when it is posted
    response = http.post("/v1/orders", json=checkout_body("W-UNKNOWN", lines=lines), headers=AS_AGENT)
    # then the storefront learns which skus the catalog lacks, and no workflow is started
    assert response.status_code == 422, response.text
    assert "NOT-IN-CATALOG-1, NOT-IN-CATALOG-2" in response.json()["detail"]
    assert "LEGO-76419" not in response.json()["detail"]
    assert nothing_reached_the_order(workflows)


# ---------------------------------------------------------------- service actions


@pytest.mark.parametrize(
    ("path", "body", "complaint"),
    [
        ("/v1/orders/W-1/cancel", {"lines": TWICE, "reason": "x"}, "one line only"),
        ("/v1/orders/W-1/cancel", {"lines": [{"sku": "A", "quantity": 10**12}], "reason": "x"}, "at most 10000"),
        ("/v1/orders/W-1/cancel", {"lines": [{"sku": LONG, "quantity": 1}], "reason": "x"}, "at most 64"),
        ("/v1/orders/W-1/cancel", {"lines": [{"sku": "A", "quantity": 1}] * 201, "reason": "x"}, "at most 200"),
        ("/v1/orders/W-1/reships", {"lines": TWICE, "reason": "lost"}, "one line only"),
        ("/v1/orders/W-1/returns", {"lines": [{"sku": "A", "quantity": 10**12}], "reason": "x"}, "at most 10000"),
        ("/v1/orders/W-1/appeasements", {"amount": "100000000000000", "reason": "x"}, "less than or equal"),
        (
            "/v1/orders/W-1/exchanges",
            {
                "returned": [{"sku": "A", "quantity": 1}],
                "replacement": [{"sku": "B", "quantity": 1, "unit_price": "100000000000000"}],
                "reason": "x",
            },
            "less than or equal",
        ),
        (
            "/v1/orders/W-1/exchanges",
            {
                "returned": [{"sku": "A", "quantity": 1}],
                "replacement": [{"sku": "B", "quantity": 10_000, "unit_price": "99999999999999", "price_reason": "x"}],
                "reason": "x",
            },
            "replacement is worth",
        ),
        ("/v1/orders/W-1/cancel", {"lines": [{"sku": "A", "quantity": 1}], "reason": "x" * 501}, "at most 500"),
    ],
    ids=[
        "cancel-sku-twice",
        "cancel-quantity",
        "cancel-long-sku",
        "cancel-too-many-lines",
        "reship-sku-twice",
        "return-quantity",
        "appeasement-overflows",
        "exchange-price-overflows",
        "exchange-value-overflows",
        "long-reason",
    ],
)
def test_a_service_action_out_of_bounds_is_422_and_never_reaches_the_order(
    http: TestClient, workflows: CheckoutClient, path: str, body: dict[str, Any], complaint: str
) -> None:
    # given an agent's request naming a sku twice, or more than any column holds
    # when it is posted
    response = http.post(path, json=body, headers=AS_AGENT)
    # then it is refused with the reason, and the order's workflow hears nothing
    assert response.status_code == 422, response.text
    assert complaint in response.text
    assert nothing_reached_the_order(workflows)


# ---------------------------------------------------------------- webhooks


@pytest.mark.parametrize(
    ("path", "body", "complaint"),
    [
        (
            "/v1/webhooks/warehouse",
            {"fulfillment_order_id": "W-1-F1", "event": "shipped", "tracking_number": LONG, "carrier": "yamato"},
            "at most 64",
        ),
        (
            "/v1/webhooks/warehouse",
            {"fulfillment_order_id": "W-1-F1", "event": "shipped", "tracking_number": "Y1", "carrier": LONG},
            "at most 64",
        ),
        ("/v1/webhooks/carrier", {"tracking_number": LONG, "event": "delivered"}, "at most 64"),
        (
            "/v1/webhooks/returns",
            {
                "return_id": "W-1-R1",
                "event": "received",
                "lines": [{**line, "condition": "resellable"} for line in TWICE],
            },
            "one line only",
        ),
        (
            "/v1/webhooks/returns",
            {
                "return_id": "W-1-R1",
                "event": "received",
                "lines": [{"sku": "A", "quantity": 10**12, "condition": "damaged"}],
            },
            "less than or equal",
        ),
    ],
    ids=[
        "long-tracking-number",
        "long-carrier",
        "carrier-long-tracking-number",
        "received-sku-twice",
        "received-quantity",
    ],
)
def test_a_partner_event_out_of_bounds_is_422_and_no_signal_is_sent(
    http: TestClient, workflows: CheckoutClient, path: str, body: dict[str, Any], complaint: str
) -> None:
    # given a partner's event with a field no column holds, or a returned sku named twice
    # when it calls the webhook
    response = http.post(path, json=body, headers=AS_PARTNER)
    # then it is told, finally (4xx), and nothing reaches the order
    assert response.status_code == 422, response.text
    assert complaint in response.text
    assert nothing_reached_the_order(workflows)


# ---------------------------------------------------------------- inventory


@pytest.mark.parametrize(
    "body",
    [
        {"location_id": "DC-TOKYO", "sku": "A", "delta": 2**31},
        {"location_id": "DC-TOKYO", "sku": "A", "delta": -(2**31)},
        {"location_id": "DC-TOKYO", "sku": "A", "on_hand": 2**31},
        {"location_id": LONG, "sku": "A", "delta": 1},
    ],
    ids=["delta-overflows", "negative-delta-overflows", "on-hand-overflows", "long-location"],
)
def test_an_adjustment_out_of_bounds_is_422_and_writes_nothing(http: TestClient, body: dict[str, Any]) -> None:
    # given a count or receipt larger than a level holds
    # when an operator posts it
    response = http.post("/v1/inventory/adjustments", json=body, headers=AS_OPERATOR)
    # then it is refused before the database is touched (the test's database fails any use)
    assert response.status_code == 422, response.text


# ---------------------------------------------------------------- the messages and the order's own rules


@pytest.mark.parametrize(
    "build",
    [
        lambda: CancelRequest(lines=TWICE, reason="x", actor="agent"),
        lambda: ReturnRequest(lines=TWICE, reason="x", actor="agent"),
        lambda: ReshipRequest(lines=TWICE, reason="x", actor="agent"),
        lambda: ExchangeRequest(returned=TWICE, replacement=[{"sku": "B", "quantity": 1}], reason="x", actor="a"),
        lambda: ExchangeRequest(
            returned=[{"sku": "A", "quantity": 1}],
            replacement=[{"sku": "B", "quantity": 1}, {"sku": "B", "quantity": 2}],
            reason="x",
            actor="agent",
        ),
    ],
    ids=["cancel", "return", "reship", "exchange-returned", "exchange-replacement"],
)
def test_a_request_naming_a_sku_twice_cannot_be_built(build: Any) -> None:
    with pytest.raises(ValidationError, match="one line only"):
        build()


def delivered_order(quantity: int = 2) -> Order:
    """Order W-1 of `quantity` LEGO sets, every one delivered and captured."""
    lego = [SkuQuantity(sku="LEGO-76419", quantity=quantity)]
    body = place_order("W-1", lines=[{"sku": "LEGO-76419", "quantity": quantity, "unit_price": "24980"}])
    amount = Decimal(24980 * quantity)
    return Order.from_events(
        "W-1",
        [
            ev.OrderPlaced(at=NOW, order=body),
            ev.PaymentAuthorized(at=NOW, authorization_id="auth_1", amount=amount),
            ev.InventoryReserved(at=NOW, location_id="DC-TOKYO", lines=lego),
            ev.FulfillmentOrderCreated(at=NOW, fulfillment_order_id="W-1-F1", location_id="DC-TOKYO", lines=lego),
            ev.ShipmentShipped(at=NOW, fulfillment_order_id="W-1-F1", carrier="yamato", tracking_number="Y1"),
            ev.PaymentCaptured(at=NOW, transaction_id="cap_1", fulfillment_order_id="W-1-F1", amount=amount),
            ev.ShipmentDelivered(at=NOW, fulfillment_order_id="W-1-F1", tracking_number="Y1"),
        ],
    )


def accepted_order(quantity: int = 2) -> Order:
    lego = [SkuQuantity(sku="LEGO-76419", quantity=quantity)]
    body = place_order("W-1", lines=[{"sku": "LEGO-76419", "quantity": quantity, "unit_price": "24980"}])
    return Order.from_events(
        "W-1",
        [
            ev.OrderPlaced(at=NOW, order=body),
            ev.PaymentAuthorized(at=NOW, authorization_id="auth_1", amount=Decimal(24980 * quantity)),
            ev.InventoryReserved(at=NOW, location_id="DC-TOKYO", lines=lego),
            ev.FulfillmentOrderCreated(at=NOW, fulfillment_order_id="W-1-F1", location_id="DC-TOKYO", lines=lego),
        ],
    )


# Built without validation, as a caller that skips the API and the message's validators would send them.
ONE_TWICE = [SkuQuantity.model_construct(sku="LEGO-76419", quantity=1)] * 2


def test_the_order_refuses_a_cancel_naming_a_sku_twice() -> None:
    # given an accepted order of two sets, each of which could be canceled on its own
    order = accepted_order()
    assert order.cancel_refusal(ONE_TWICE[:1]) is None
    # when a cancel names the sku twice, then the order refuses it with a reason instead of failing later
    refusal = order.cancel_refusal(ONE_TWICE)
    assert refusal is not None and "LEGO-76419" in refusal and "once" in refusal


def test_the_order_refuses_a_return_naming_a_sku_twice() -> None:
    order = delivered_order()
    assert order.return_refusal(ONE_TWICE[:1]) is None
    refusal = order.return_refusal(ONE_TWICE)
    assert refusal is not None and "LEGO-76419" in refusal and "once" in refusal


def test_the_order_refuses_a_reship_naming_a_sku_twice() -> None:
    order = delivered_order()
    assert order.reship_refusal(ONE_TWICE[:1]) is None
    refusal = order.reship_refusal(ONE_TWICE)
    assert refusal is not None and "LEGO-76419" in refusal and "once" in refusal


def test_the_order_refuses_a_replacement_worth_more_than_the_money_columns_hold() -> None:
    # given a delivered order, and a replacement of a new sku priced at the bound, 10,000 times
    order = delivered_order()
    dear = [ev.ExchangeLine(sku="JET-1", quantity=10_000, unit_price=MAX_AMOUNT)]
    # when it is checked, then it is refused rather than overflowing the authorization's column later
    refusal = order.replacement_refusal(dear)
    assert refusal is not None and "worth" in refusal
    assert order.replacement_refusal([ev.ExchangeLine(sku="JET-1", quantity=1, unit_price=Decimal(1000))]) is None


def test_a_return_received_part_resellable_part_damaged_is_taken(http: TestClient, workflows: CheckoutClient) -> None:
    # given a location that received two units of one sku, one fit to sell again and one damaged
    lines = [{**TWICE[0], "condition": "resellable"}, {**TWICE[1], "condition": "damaged"}]
    # when it reports them on two lines, then the order is told of both
    body = {"return_id": "W-1-R1", "event": "received", "lines": lines}
    response = http.post("/v1/webhooks/returns", json=body, headers=AS_PARTNER)
    assert response.status_code == 202, response.text
    assert len(workflows.signals) == 1


@pytest.mark.parametrize(
    ("currency", "price", "accepted"),
    [
        ("JPY", "24980", True),
        ("JPY", "24980.5", False),
        ("USD", "19.99", True),
        ("KWD", "1.125", True),
        ("KWD", "1.1255", False),
        ("ABC", "10", False),
        ("XAU", "10", False),
        ("TND", "1.125", True),
    ],
    ids=["yen", "yen-cents", "dollars", "dinars", "dinars-too-fine", "unknown", "gold", "tunisian-dinars"],
)
def test_a_checkout_takes_iso_4217_currencies_at_their_own_minor_units(
    currency: str, price: str, accepted: bool
) -> None:
    # given a checkout in a currency, priced with some number of decimals
    body = {**checkout_body(), "currency": currency}
    body["lines"] = [{"sku": "LEGO-76419", "quantity": 1, "unit_price": price}]
    # when it is read, then only a real currency at no more than its minor unit is taken
    if accepted:
        assert PlaceOrder.model_validate(body).currency == currency
    else:
        with pytest.raises(ValidationError):
            PlaceOrder.model_validate(body)


@pytest.mark.parametrize("space", ["\u0085", "\ufeff"], ids=["next line", "zero-width no-break space"])
def test_an_email_with_a_space_either_regex_dialect_knows_is_refused_by_the_schema_and_the_validator(
    space: str,
) -> None:
    # given an e-mail carrying a character one regex dialect takes for a space and the other does not (the
    # validator's Unicode \s and the JSON Schema's ECMAScript \s): schemathesis generates such e-mails as valid
    email = f"a{space}b@example.com"
    # when the schema's pattern and the validator judge it
    pattern = PlaceOrder.model_json_schema()["$defs"]["Customer"]["properties"]["email"]["pattern"]
    # then the pattern names its spaces itself (no \s, whose meaning differs by dialect) and both refuse it
    assert "\\s" not in pattern
    assert re.fullmatch(pattern, email) is None
    with pytest.raises(ValidationError):
        place_order(customer={"id": "C-1", "email": email, "name": "Aiko Sato"})


def test_a_replay_names_event_ids_a_json_number_holds_exactly() -> None:
    # given the replay body's bound on event ids, as the API's document states it
    bound = ReplayBody.model_json_schema()["properties"]["from_event_id"]["anyOf"][0]["maximum"]
    # then a JSON number (a double) holds it exactly, so a client cannot send one the schema allows and the API refuses
    assert bound <= 2**53 - 1
    assert ReplayBody(from_event_id=bound).from_event_id == bound
    with pytest.raises(ValidationError):
        ReplayBody(from_event_id=bound + 1)
