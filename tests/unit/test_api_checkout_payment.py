"""At checkout the card's token goes to the gateway's vault; the order and its workflow know only the reference."""

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from starter.api import catalog, checkout_route, orders
from starter.api.auth import parse_tokens
from tests.orders import checkout_body
from tests.unit.test_api_catalog import catalog_of, product
from tests.unit.test_api_service_actions import AS_AGENT, TOKENS, FakeQueries, summary
from tests.unit.test_input_bounds import BoundsServices, CheckoutClient, Vault


@pytest.fixture
def workflows() -> CheckoutClient:
    return CheckoutClient()


@pytest.fixture
def vault() -> Vault:
    return Vault()


@pytest.fixture
def http(workflows: CheckoutClient, vault: Vault) -> Iterator[TestClient]:
    app = FastAPI()
    app.include_router(checkout_route.router)
    app.include_router(orders.router)
    app.state.tokens = parse_tokens(TOKENS, production=False)
    app.state.services = BoundsServices(
        client=workflows, queries=FakeQueries({"W-1": summary("W-1", "C-1")}), gateway=vault
    )
    app.dependency_overrides[catalog.product_catalog] = lambda: catalog_of(product("LEGO-76419", JPY="1000"))
    with TestClient(app) as client:
        yield client


def started_input(workflows: CheckoutClient, n: int = 0) -> Any:
    return workflows.started[n]._start_workflow_input.args[0]


def test_the_order_workflow_gets_the_vaults_reference_never_the_card_token(
    http: TestClient, workflows: CheckoutClient, vault: Vault
) -> None:
    # given a checkout paying with a card token
    body = checkout_body("W-PAY", lines=[{"sku": "LEGO-76419", "quantity": 1, "unit_price": "1000"}])
    body["payment"] = {"method": "card", "token": "tok_visa"}
    # when it is posted
    response = http.post("/v1/orders", json=body, headers=AS_AGENT)
    # then the gateway keeps the token, keyed by the order
    assert response.status_code == 201, response.text
    assert vault.saved == {"order-W-PAY:payment-method": ("pm_0001", "tok_visa")}
    # and the workflow's input carries only the reference
    placed = started_input(workflows).order
    assert placed.payment.token == "pm_0001"
    assert "tok_visa" not in started_input(workflows).model_dump_json()


def test_a_repeated_checkout_saves_the_card_once(http: TestClient, workflows: CheckoutClient, vault: Vault) -> None:
    # given an order already posted once
    body = checkout_body("W-TWICE", lines=[{"sku": "LEGO-76419", "quantity": 1, "unit_price": "1000"}])
    http.post("/v1/orders", json=body, headers=AS_AGENT)
    # when the storefront posts it again
    http.post("/v1/orders", json=body, headers=AS_AGENT)
    # then one payment method exists and both starts carry it
    assert len(vault.saved) == 1
    assert started_input(workflows, 0).order.payment.token == started_input(workflows, 1).order.payment.token


def test_a_gateway_that_cannot_save_the_card_gets_503_and_starts_nothing(
    http: TestClient, workflows: CheckoutClient, vault: Vault
) -> None:
    # given a gateway that is down
    vault.down = True
    body = checkout_body("W-DOWN", lines=[{"sku": "LEGO-76419", "quantity": 1, "unit_price": "1000"}])
    # when an order is posted
    response = http.post("/v1/orders", json=body, headers=AS_AGENT)
    # then the storefront is told to try again, and no workflow was started
    assert response.status_code == 503, response.text
    assert "could not be placed now" in response.json()["detail"]
    assert workflows.started == []
