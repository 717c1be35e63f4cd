"""Exchanges at the HTTP edge, with the workflow stood in for: who may ask, what reaches the order, refusals."""

from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from starter.api import catalog, orders
from starter.api.auth import parse_tokens
from store.read_model import LineSummary, OrderSummary
from tests.unit.test_api_catalog import FakeCatalog, catalog_of, product
from tests.unit.test_api_service_actions import (
    AS_AGENT,
    AS_CUSTOMER_1,
    AS_CUSTOMER_2,
    AS_PARTNER,
    TOKENS,
    FakeQueries,
    FakeServices,
    FakeWorkflows,
    refused,
    summary,
)
from workflows.messages import EXCHANGE_UPDATE, ExchangeRequest, ExchangeResult, ReplacementLine

BODY: dict[str, Any] = {
    "returned": [{"sku": "TEA-MATCHA-100", "quantity": 1}],
    "replacement": [{"sku": "TEA-MATCHA-200", "quantity": 1}],
    "reason": "wanted the large tin",
}


def delivered(order_id: str, customer_id: str, currency: str = "JPY") -> OrderSummary:
    """A delivered order of one small tin of matcha at 2400."""
    counts = {"ordered": 1, "allocated": 1, "shipped": 1, "delivered": 1, "canceled": 0, "returned": 0}
    tin = LineSummary(sku="TEA-MATCHA-100", unit_price=Decimal(2400), **counts)
    return summary(order_id, customer_id, currency).model_copy(update={"lines": [tin]})


@pytest.fixture
def products() -> FakeCatalog:
    return catalog_of(
        product("TEA-MATCHA-100", "reduced", JPY="2400"),
        product("TEA-MATCHA-200", "reduced", JPY="3000"),
        product("KNIFE-SANTOKU", JPY="18900", USD="129.00"),
    )


@pytest.fixture
def workflows() -> FakeWorkflows:
    answer = ExchangeResult(
        exchange_id="W-1-X1",
        return_id="W-1-R1",
        rma="RMA-W-1-1",
        label="YMT-RET-1",
        location_id="DC-TOKYO",
        difference=Decimal(600),
        fulfillment_order_ids=["W-1-F2"],
    )
    return FakeWorkflows(answers={EXCHANGE_UPDATE: answer})


@pytest.fixture
def http(workflows: FakeWorkflows, products: FakeCatalog) -> Iterator[TestClient]:
    app = FastAPI()
    app.include_router(orders.router)
    app.state.tokens = parse_tokens(TOKENS, production=False)
    known = {"W-1": delivered("W-1", "C-1"), "W-2": delivered("W-2", "C-2"), "W-USD": delivered("W-USD", "C-1", "USD")}
    app.state.services = FakeServices(client=workflows, queries=FakeQueries(known))
    app.dependency_overrides[catalog.product_catalog] = lambda: products
    with TestClient(app) as client:
        yield client


def test_a_customer_exchanges_for_a_dearer_sku_and_learns_the_difference(
    http: TestClient, workflows: FakeWorkflows
) -> None:
    # when customer C-1 asks to swap a small tin for a large one
    response = http.post("/v1/orders/W-1/exchanges", json=BODY, headers=AS_CUSTOMER_1)
    # then the exchange is created with its return label, replacement and the difference to be charged
    assert response.status_code == 201, response.text
    assert response.json()["difference"] == "600" and response.json()["fulfillment_order_ids"] == ["W-1-F2"]
    [(workflow_id, name, request)] = workflows.updates
    assert (workflow_id, name) == ("order-W-1", EXCHANGE_UPDATE)
    assert isinstance(request, ExchangeRequest) and request.actor == "customer:C-1"
    assert request.replacement == [ReplacementLine(sku="TEA-MATCHA-200", quantity=1, unit_price=Decimal(3000))]


def test_an_exchange_others_may_not_ask_for_or_badly_formed_never_reaches_the_order(
    http: TestClient, workflows: FakeWorkflows
) -> None:
    # when another customer, a partner, or malformed bodies ask
    assert http.post("/v1/orders/W-1/exchanges", json=BODY, headers=AS_CUSTOMER_2).status_code == 404
    assert http.post("/v1/orders/W-1/exchanges", json=BODY, headers=AS_PARTNER).status_code == 403
    yen_fraction = {
        **BODY,
        "replacement": [{"sku": "TEA-MATCHA-200", "quantity": 1, "unit_price": "3000.5", "price_reason": "x"}],
    }
    fractional = http.post("/v1/orders/W-1/exchanges", json=yen_fraction, headers=AS_AGENT)
    twice = {**BODY, "replacement": BODY["replacement"] * 2}
    in_store = {**BODY, "method": "in_store"}
    # then each is refused at the edge and the workflow hears of none
    assert fractional.status_code == 422 and "more decimals than JPY" in fractional.json()["detail"]
    assert http.post("/v1/orders/W-1/exchanges", json=twice, headers=AS_AGENT).status_code == 422
    assert http.post("/v1/orders/W-1/exchanges", json=in_store, headers=AS_AGENT).status_code == 422
    assert http.post("/v1/orders/W-1/exchanges", json={**BODY, "replacement": []}, headers=AS_AGENT).status_code == 422
    assert workflows.updates == []


def test_an_exchange_the_order_refuses_is_a_409_with_its_reason(http: TestClient, workflows: FakeWorkflows) -> None:
    # given an order that refuses: the replacement is out of stock
    workflows.refuse = refused("exchange W-1-X1 refused: no location can send 1 x TEA-MATCHA-200 now")
    # when an agent asks for the exchange
    response = http.post("/v1/orders/W-1/exchanges", json=BODY, headers=AS_AGENT)
    # then the refusal and its reason reach the agent
    assert response.status_code == 409 and "no location can send" in response.json()["detail"]


def replacement_sent(workflows: FakeWorkflows) -> list[ReplacementLine]:
    [(_, name, request)] = workflows.updates
    assert name == EXCHANGE_UPDATE and isinstance(request, ExchangeRequest)
    return request.replacement


def test_a_customer_naming_a_price_of_zero_still_pays_the_catalog_price(
    http: TestClient, workflows: FakeWorkflows
) -> None:
    # when customer C-1 swaps the small tin for the large one (3000 in the catalog) saying it costs "0",
    # and asks for another small tin (2400 on the order) saying that costs "1"
    body = {
        **BODY,
        "replacement": [
            {"sku": "TEA-MATCHA-200", "quantity": 1, "unit_price": "0", "price_reason": "it is free"},
            {"sku": "TEA-MATCHA-100", "quantity": 1, "unit_price": "1"},
        ],
    }
    response = http.post("/v1/orders/W-1/exchanges", json=body, headers=AS_CUSTOMER_1)
    # then the order is asked for the large tin at the catalog's 3000, and the small one at the order's own price
    assert response.status_code == 201, response.text
    assert replacement_sent(workflows) == [
        ReplacementLine(sku="TEA-MATCHA-200", quantity=1, unit_price=Decimal(3000)),
        ReplacementLine(sku="TEA-MATCHA-100", quantity=1, unit_price=None),
    ]


def test_an_agent_setting_another_price_must_say_why(http: TestClient, workflows: FakeWorkflows) -> None:
    # when an agent prices the large tin at 2400 instead of the catalog's 3000, without a reason
    cheaper = {**BODY, "replacement": [{"sku": "TEA-MATCHA-200", "quantity": 1, "unit_price": "2400"}]}
    refused_answer = http.post("/v1/orders/W-1/exchanges", json=cheaper, headers=AS_AGENT)
    # then it is refused, naming the catalog's price, and the order hears nothing
    detail = refused_answer.json()["detail"]
    assert refused_answer.status_code == 422 and "catalog's price 3000" in detail and "price_reason" in detail
    assert workflows.updates == []
    # when the agent gives the reason too
    cheaper["replacement"][0]["price_reason"] = "the large tin was out of stock for weeks"
    response = http.post("/v1/orders/W-1/exchanges", json=cheaper, headers=AS_AGENT)
    # then the order is asked for the tin at the agent's price, with the reason to record on its timeline
    assert response.status_code == 201, response.text
    assert replacement_sent(workflows) == [
        ReplacementLine(
            sku="TEA-MATCHA-200",
            quantity=1,
            unit_price=Decimal(2400),
            price_reason="the large tin was out of stock for weeks",
        )
    ]


def test_an_agent_naming_the_catalog_price_needs_no_reason(http: TestClient, workflows: FakeWorkflows) -> None:
    # when an agent names the large tin at exactly the catalog's 3000
    same = {**BODY, "replacement": [{"sku": "TEA-MATCHA-200", "quantity": 1, "unit_price": "3000"}]}
    response = http.post("/v1/orders/W-1/exchanges", json=same, headers=AS_AGENT)
    # then it is the catalog's price, with nothing set by hand
    assert response.status_code == 201, response.text
    assert replacement_sent(workflows) == [ReplacementLine(sku="TEA-MATCHA-200", quantity=1, unit_price=Decimal(3000))]


def test_a_replacement_the_catalog_has_no_price_for_in_the_order_currency_is_refused(
    http: TestClient, workflows: FakeWorkflows
) -> None:
    # given a dollar order; the large tin has a yen price only, the knife a dollar price too
    tin = {**BODY, "replacement": [{"sku": "TEA-MATCHA-200", "quantity": 1}]}
    # when the customer asks for the tin
    response = http.post("/v1/orders/W-USD/exchanges", json=tin, headers=AS_CUSTOMER_1)
    # then it is refused: the catalog has no dollar price for it, and the order hears nothing
    assert response.status_code == 422 and "no USD price for TEA-MATCHA-200" in response.json()["detail"]
    assert workflows.updates == []
    # when the customer asks for the knife instead
    knife = {**BODY, "replacement": [{"sku": "KNIFE-SANTOKU", "quantity": 1, "unit_price": "1.00"}]}
    response = http.post("/v1/orders/W-USD/exchanges", json=knife, headers=AS_CUSTOMER_1)
    # then it is priced in dollars from the catalog
    assert response.status_code == 201, response.text
    assert replacement_sent(workflows) == [ReplacementLine(sku="KNIFE-SANTOKU", quantity=1, unit_price=Decimal(129))]


def test_an_agent_may_price_a_replacement_the_catalog_has_no_price_for_with_a_reason(
    http: TestClient, workflows: FakeWorkflows
) -> None:
    # when an agent prices the large tin in dollars, which the catalog does not, with the reason
    priced = {
        **BODY,
        "replacement": [{"sku": "TEA-MATCHA-200", "quantity": 1, "unit_price": "20.00", "price_reason": "US list"}],
    }
    response = http.post("/v1/orders/W-USD/exchanges", json=priced, headers=AS_AGENT)
    # then the order is asked for it at that price, with the reason
    assert response.status_code == 201, response.text
    assert replacement_sent(workflows) == [
        ReplacementLine(sku="TEA-MATCHA-200", quantity=1, unit_price=Decimal(20), price_reason="US list")
    ]


def test_a_replacement_the_catalog_does_not_know_is_refused(http: TestClient, workflows: FakeWorkflows) -> None:
    # when an agent asks for a sku the catalog does not have, even at a price with a reason
    body = {
        **BODY,
        "replacement": [{"sku": "TEA-MATCHA-999", "quantity": 1, "unit_price": "5000", "price_reason": "new tin"}],
    }
    response = http.post("/v1/orders/W-1/exchanges", json=body, headers=AS_AGENT)
    # then it is refused naming the sku, and the order hears nothing
    assert response.status_code == 422 and "catalog has no TEA-MATCHA-999" in response.json()["detail"]
    assert workflows.updates == []
