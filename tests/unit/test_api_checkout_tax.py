"""At checkout each line takes its product's tax class from the catalog; a class the body names is never kept."""

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from domain.models import LineRequest, PlaceOrder
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
def http(workflows: CheckoutClient) -> Iterator[TestClient]:
    app = FastAPI()
    app.include_router(checkout_route.router)
    app.include_router(orders.router)
    app.state.tokens = parse_tokens(TOKENS, production=False)
    app.state.services = BoundsServices(
        client=workflows, queries=FakeQueries({"W-1": summary("W-1", "C-1")}), gateway=Vault()
    )
    shelf = catalog_of(product("TEA-1", "reduced", JPY="1080"), product("LEGO-1", "standard", JPY="1100"))
    app.dependency_overrides[catalog.product_catalog] = lambda: shelf
    with TestClient(app) as client:
        yield client


def placed(workflows: CheckoutClient) -> PlaceOrder:
    order: Any = workflows.started[0]._start_workflow_input.args[0].order
    assert isinstance(order, PlaceOrder)
    return order


@pytest.mark.parametrize(
    ("sent", "kept"),
    [
        (None, {"TEA-1": "reduced", "LEGO-1": "standard"}),
        # a body claiming the reduced rate for a toy does not get it
        ("reduced", {"TEA-1": "reduced", "LEGO-1": "standard"}),
        ("standard", {"TEA-1": "reduced", "LEGO-1": "standard"}),
    ],
)
def test_each_line_takes_the_catalogs_tax_class(
    http: TestClient, workflows: CheckoutClient, sent: str | None, kept: dict[str, str]
) -> None:
    # given a checkout of a food and a toy, its lines naming a tax class or not
    lines: list[dict[str, Any]] = [
        {"sku": "TEA-1", "quantity": 1, "unit_price": "1080"},
        {"sku": "LEGO-1", "quantity": 1, "unit_price": "1100"},
    ]
    if sent is not None:
        for line in lines:
            line["tax_class"] = sent
    # when it is posted
    response = http.post("/v1/orders", json=checkout_body("W-TAX", lines=lines), headers=AS_AGENT)
    # then the workflow's order has each line's class from the catalog
    assert response.status_code == 201, response.text
    assert {line.sku: line.tax_class for line in placed(workflows).lines} == kept


def test_the_tax_class_is_not_in_the_contract() -> None:
    # given the checkout line's schema
    # when it is published
    schema = LineRequest.model_json_schema()
    # then it has no tax class: the API sets it
    assert "tax_class" not in schema["properties"]


def test_an_order_placed_before_the_capture_reads_as_unclassified() -> None:
    # given a line as histories saved it before the tax class was captured
    # when it is read back
    line = LineRequest.model_validate({"sku": "A", "quantity": 1, "unit_price": "1"})
    # then it has no class, for the read model to take the catalog's
    assert line.tax_class is None
