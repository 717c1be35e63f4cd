"""Exchanges at the HTTP edge, with the workflow stood in for: who may ask, what reaches the order, refusals."""

from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from starter.api import orders
from starter.api.auth import parse_tokens
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
    "replacement": [{"sku": "TEA-MATCHA-200", "quantity": 1, "unit_price": "3000"}],
    "reason": "wanted the large tin",
}


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
def http(workflows: FakeWorkflows) -> Iterator[TestClient]:
    app = FastAPI()
    app.include_router(orders.router)
    app.state.tokens = parse_tokens(TOKENS, production=False)
    app.state.services = FakeServices(
        client=workflows, queries=FakeQueries({"W-1": summary("W-1", "C-1"), "W-2": summary("W-2", "C-2")})
    )
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
    yen_fraction = {**BODY, "replacement": [{"sku": "TEA-MATCHA-200", "quantity": 1, "unit_price": "3000.5"}]}
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
