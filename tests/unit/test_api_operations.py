"""`POST /v1/orders/{id}/retry` at the HTTP edge, with the order's workflow stood in for.

The edge's job: who may retry, that the workflow gets the retry update with the reason and the actor, and
how its answer, its refusal, a missing order and a workflow too slow to answer reach the caller.
"""

import asyncio
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from temporalio.client import WorkflowUpdateFailedError, WorkflowUpdateRPCTimeoutOrCancelledError
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode

from starter.api import operations
from starter.api.auth import parse_tokens
from starter.settings import Settings
from store.read_model import OrderSummary, PaymentTotals
from workflows.messages import RETRY_UPDATE, RetryRequest, RetryResult

TOKENS = "t-agent:agent,t-operator:operator,t-partner:partner,t-store:storefront,t-c1:customer:C-1"
AS_AGENT = {"Authorization": "Bearer t-agent"}
AS_OPERATOR = {"Authorization": "Bearer t-operator"}
AS_CUSTOMER = {"Authorization": "Bearer t-c1"}
AS_STOREFRONT = {"Authorization": "Bearer t-store"}
AS_PARTNER = {"Authorization": "Bearer t-partner"}

NEVER = 10.0  # seconds; far past the route's own deadline in these tests
RETRIED = RetryResult(order_id="W-1", status="processing", retried=["settle_shipment"], attention=None)


def summary(order_id: str, status: str = "attention") -> OrderSummary:
    now = datetime(2025, 1, 1, tzinfo=UTC)
    zero = Decimal(0)
    return OrderSummary(
        order_id=order_id,
        workflow_id=f"order-{order_id}",
        status=status,
        channel="web",
        customer={"id": "C-1"},
        currency="JPY",
        total=Decimal("24980"),
        delivery_method="standard",
        shipping_address={},
        fraud_score=None,
        lines=[],
        fulfillment_orders=[],
        shipments=[],
        payment=PaymentTotals(authorized=zero, captured=zero, refunded=zero, voided=zero),
        payments=[],
        invoices=[],
        returns=[],
        timeline=[],
        placed_at=now,
        updated_at=now,
    )


@dataclass
class FakeWorkflow:
    """The order's workflow as the retry route reaches it: updates recorded; the answer, a refusal, or none."""

    answer: RetryResult = field(default_factory=lambda: RETRIED)
    refuse: Exception | None = None
    never_answers: bool = False
    updates: list[tuple[str, str, Any]] = field(default_factory=list)

    def get_workflow_handle(self, workflow_id: str) -> "FakeHandle":
        return FakeHandle(workflow_id, self)


@dataclass
class FakeHandle:
    workflow_id: str
    workflow: FakeWorkflow

    async def execute_update(self, name: str, request: Any, *, result_type: type[Any]) -> Any:
        self.workflow.updates.append((self.workflow_id, name, request))
        if self.workflow.refuse is not None:
            raise self.workflow.refuse
        if self.workflow.never_answers:
            # a worker that is down: the route's deadline should end this wait long before ours does
            await asyncio.sleep(NEVER)
            raise AssertionError(f"the route was still waiting after {NEVER}s")
        return self.workflow.answer


@dataclass
class FakeQueries:
    known: dict[str, OrderSummary]

    def get(self, order_id: str) -> OrderSummary | None:
        return self.known.get(order_id)


@dataclass
class FakeServices:
    client: FakeWorkflow
    queries: FakeQueries
    settings: Settings
    engine: Any = None


@pytest.fixture
def workflow() -> FakeWorkflow:
    return FakeWorkflow()


@pytest.fixture
def http(workflow: FakeWorkflow) -> Iterator[TestClient]:
    app = FastAPI()
    app.include_router(operations.router)
    app.state.tokens = parse_tokens(TOKENS, production=False)
    app.state.services = FakeServices(
        client=workflow, queries=FakeQueries({"W-1": summary("W-1")}), settings=Settings(update_timeout=0.2)
    )
    with TestClient(app) as client:
        yield client


def test_an_operator_retries_an_order_in_attention_and_sees_what_ran_again(
    http: TestClient, workflow: FakeWorkflow
) -> None:
    # given order W-1 in attention after a capture failed for good
    # when an operator retries it
    response = http.post("/v1/orders/W-1/retry", json={"reason": "gateway is back"}, headers=AS_OPERATOR)
    # then the answer names the steps run again and that nothing needs a person any more
    assert response.status_code == 200, response.text
    assert response.json() == {
        "order_id": "W-1",
        "status": "processing",
        "retried": ["settle_shipment"],
        "attention": None,
    }
    # and the order's workflow got the retry update with the reason and who asked
    assert workflow.updates == [("order-W-1", RETRY_UPDATE, RetryRequest(reason="gateway is back", actor="operator"))]


def test_an_agent_may_retry_and_is_recorded_as_the_actor(http: TestClient, workflow: FakeWorkflow) -> None:
    # given an agent on the phone with the customer
    # when they retry the order
    response = http.post("/v1/orders/W-1/retry", json={"reason": "customer called"}, headers=AS_AGENT)
    # then it runs, on their name
    assert response.status_code == 200, response.text
    [(_, _, request)] = workflow.updates
    assert request.actor == "agent"


@pytest.mark.parametrize("headers", [AS_CUSTOMER, AS_STOREFRONT, AS_PARTNER], ids=["customer", "storefront", "partner"])
def test_only_operators_and_agents_may_retry(http: TestClient, workflow: FakeWorkflow, headers: dict[str, str]) -> None:
    # given a caller that is neither an operator nor an agent
    # when it asks for a retry
    response = http.post("/v1/orders/W-1/retry", json={"reason": "try again"}, headers=headers)
    # then it is forbidden and the workflow never hears of it
    assert response.status_code == 403
    assert workflow.updates == []


def test_a_retry_needs_a_reason(http: TestClient, workflow: FakeWorkflow) -> None:
    # given an empty reason
    # when the retry is sent
    response = http.post("/v1/orders/W-1/retry", json={"reason": ""}, headers=AS_OPERATOR)
    # then it is an invalid body, refused before the workflow sees it
    assert response.status_code == 422
    assert workflow.updates == []


def test_an_order_that_needs_no_attention_refuses_with_its_reason(http: TestClient, workflow: FakeWorkflow) -> None:
    # given the workflow's validator finds nothing to retry
    workflow.refuse = WorkflowUpdateFailedError(
        ApplicationError("order W-1 needs no attention: it is shipped", type="ActionRefused", non_retryable=True)
    )
    # when an operator retries it
    response = http.post("/v1/orders/W-1/retry", json={"reason": "just in case"}, headers=AS_OPERATOR)
    # then the caller gets 409 with the validator's own words
    assert response.status_code == 409
    assert response.json()["detail"] == "order W-1 needs no attention: it is shipped"


def test_a_closed_order_refuses_a_retry(http: TestClient, workflow: FakeWorkflow) -> None:
    # given the order's workflow has completed
    workflow.refuse = RPCError("workflow execution already completed", RPCStatusCode.NOT_FOUND, b"")
    # when it is retried
    response = http.post("/v1/orders/W-1/retry", json={"reason": "late"}, headers=AS_OPERATOR)
    # then it is refused as closed
    assert response.status_code == 409
    assert "closed" in response.json()["detail"]


def test_an_unknown_order_is_404(http: TestClient, workflow: FakeWorkflow) -> None:
    # given no order W-404 in the read model
    # when it is retried
    response = http.post("/v1/orders/W-404/retry", json={"reason": "typo"}, headers=AS_OPERATOR)
    # then 404 names it, and no workflow is asked
    assert response.status_code == 404
    assert "W-404" in response.json()["detail"]
    assert workflow.updates == []


def test_a_workflow_that_does_not_answer_in_time_is_504_naming_the_order(
    http: TestClient, workflow: FakeWorkflow
) -> None:
    # given the order's worker is not running, so the update is never answered
    workflow.never_answers = True
    # when an operator retries it (OMS_UPDATE_TIMEOUT is 0.2s here)
    response = http.post("/v1/orders/W-1/retry", json={"reason": "gateway is back"}, headers=AS_OPERATOR)
    # then the request ends at the deadline with 504, naming the order, instead of hanging
    assert response.status_code == 504
    assert "W-1" in response.json()["detail"]
    assert len(workflow.updates) == 1


def test_the_client_timing_out_the_update_is_504_too(http: TestClient, workflow: FakeWorkflow) -> None:
    # given the Temporal client gives up waiting on the update itself
    workflow.refuse = WorkflowUpdateRPCTimeoutOrCancelledError()
    # when the order is retried
    response = http.post("/v1/orders/W-1/retry", json={"reason": "gateway is back"}, headers=AS_OPERATOR)
    # then it is the same 504
    assert response.status_code == 504
    assert "W-1" in response.json()["detail"]
