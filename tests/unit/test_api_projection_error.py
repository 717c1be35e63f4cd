"""An order whose read model missed a row says so in its summary, to agents and operators only."""

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from starter.api import orders
from starter.api.auth import parse_tokens
from store.read_model import ProjectionError
from tests.unit.test_api_service_actions import (
    AS_AGENT,
    AS_CUSTOMER_1,
    AS_OPERATOR,
    TOKENS,
    FakeQueries,
    FakeServices,
    FakeWorkflows,
    summary,
)

FLAG = ProjectionError(
    reason="fulfillment_orders W-1-F1: value too long for type character varying(64)",
    at=datetime(2026, 11, 2, 9, 30, tzinfo=UTC),
)


@pytest.fixture
def http() -> Iterator[TestClient]:
    flagged = summary("W-1", "C-1").model_copy(update={"projection_error": FLAG})
    app = FastAPI()
    app.include_router(orders.router)
    app.state.tokens = parse_tokens(TOKENS, production=False)
    app.state.services = FakeServices(client=FakeWorkflows(), queries=FakeQueries({"W-1": flagged}))
    with TestClient(app) as client:
        yield client


@pytest.mark.parametrize("headers", [AS_AGENT, AS_OPERATOR])
def test_agents_see_why_the_summary_is_incomplete(http: TestClient, headers: dict[str, str]) -> None:
    # given order W-1, whose projection could not write a fulfillment order's tracking number
    # when an agent reads it
    response = http.get("/v1/orders/W-1", headers=headers)
    # then the summary says what is missing and since when
    assert response.status_code == 200
    assert response.json()["projection_error"] == {
        "reason": "fulfillment_orders W-1-F1: value too long for type character varying(64)",
        "at": "2026-11-02T09:30:00Z",
    }


def test_the_customer_does_not_see_it(http: TestClient) -> None:
    response = http.get("/v1/orders/W-1", headers=AS_CUSTOMER_1)
    assert response.status_code == 200
    assert response.json()["projection_error"] is None
