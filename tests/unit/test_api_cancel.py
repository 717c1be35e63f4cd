"""`POST /v1/orders/{id}/cancel` at the HTTP edge: the order after the cancel, and what a location was too late for."""

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from domain.models import SkuQuantity
from starter.api import orders
from starter.api.auth import parse_tokens
from starter.settings import Settings
from store.read_model import OrderSummary
from tests.unit.test_api_operations import summary
from workflows.messages import CANCEL_UPDATE, CancelRequest, CancelResult

AS_AGENT = {"Authorization": "Bearer t-agent"}


@dataclass
class Workflow:
    answer: CancelResult
    updates: list[tuple[str, Any]] = field(default_factory=list)

    def get_workflow_handle(self, workflow_id: str) -> "Workflow":
        return self

    async def execute_update(self, name: str, request: Any, *, result_type: type[Any]) -> Any:
        self.updates.append((name, request))
        return self.answer


@dataclass
class Queries:
    known: dict[str, OrderSummary]

    def get(self, order_id: str) -> OrderSummary | None:
        return self.known.get(order_id)


@dataclass
class Services:
    client: Workflow
    queries: Queries
    settings: Settings = field(default_factory=Settings)
    engine: Any = None


TOO_LATE = "too late to cancel: DC-TOKYO has already picked or shipped W-1-F1 (use a return once delivered)"


@pytest.fixture
def workflow() -> Workflow:
    lego, tea = SkuQuantity(sku="LEGO-76419", quantity=1), SkuQuantity(sku="TEA-MATCHA-100", quantity=1)
    return Workflow(CancelResult(order_id="W-1", status="accepted", canceled=[tea], refused=[lego], refusal=TOO_LATE))


@pytest.fixture
def http(workflow: Workflow) -> Iterator[TestClient]:
    app = FastAPI()
    app.include_router(orders.router)
    app.state.tokens = parse_tokens("t-agent:agent", production=False)
    app.state.services = Services(client=workflow, queries=Queries({"W-1": summary("W-1", "accepted")}))
    with TestClient(app) as client:
        yield client


def test_a_cancel_a_location_was_partly_too_late_for_answers_the_order_and_what_was_not_canceled(
    http: TestClient, workflow: Workflow
) -> None:
    # given an order whose Tokyo part has been picked, and an agent canceling both lines
    body = {"lines": [{"sku": "LEGO-76419", "quantity": 1}, {"sku": "TEA-MATCHA-100", "quantity": 1}], "reason": "x"}
    # when the cancel is posted
    response = http.post("/v1/orders/W-1/cancel", json=body, headers=AS_AGENT)
    # then the order's summary comes back with the units the location was too late for, and why
    assert response.status_code == 200
    answer = response.json()
    assert answer["order_id"] == "W-1" and answer["status"] == "accepted"
    assert answer["refused"] == [{"sku": "LEGO-76419", "quantity": 1}] and answer["refusal"] == TOO_LATE
    [(name, request)] = workflow.updates
    assert name == CANCEL_UPDATE and isinstance(request, CancelRequest) and request.actor.startswith("agent")
