"""Returns, appeasements and return webhooks at the HTTP edge, with the order's workflow stood in for.

What is checked is the edge's own job: who may act, what a valid body is, which update or signal the
workflow receives (with the actor), and how the workflow's refusal becomes a 409 with its reason.
"""

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from temporalio.client import WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode

from integrations.tax import RulesEngine, TaxCalculator
from starter.api import orders, webhooks
from starter.api.auth import parse_tokens
from starter.settings import Settings
from store.read_model import OrderSummary, PaymentTotals
from workflows.messages import (
    APPEASEMENT_UPDATE,
    RETURN_SIGNAL,
    RETURN_UPDATE,
    AppeasementRequest,
    AppeasementResult,
    ReturnEvent,
    ReturnRequest,
    ReturnResult,
)

TOKENS = "t-agent:agent,t-operator:operator,t-partner:partner,t-store:storefront,t-c1:customer:C-1,t-c2:customer:C-2"
AS_AGENT = {"Authorization": "Bearer t-agent"}
AS_CUSTOMER_1 = {"Authorization": "Bearer t-c1"}
AS_CUSTOMER_2 = {"Authorization": "Bearer t-c2"}
AS_PARTNER = {"Authorization": "Bearer t-partner"}
AS_STOREFRONT = {"Authorization": "Bearer t-store"}
AS_OPERATOR = {"Authorization": "Bearer t-operator"}

RETURN_BODY = {"lines": [{"sku": "LEGO-76419", "quantity": 1}], "reason": "arrived damaged", "method": "mail"}


def summary(order_id: str, customer_id: str, currency: str = "JPY") -> OrderSummary:
    now = datetime(2025, 1, 1, tzinfo=UTC)
    zero = Decimal(0)
    return OrderSummary(
        order_id=order_id,
        workflow_id=f"order-{order_id}",
        status="delivered",
        channel="web",
        customer={"id": customer_id},
        currency=currency,
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
class FakeHandle:
    workflow_id: str
    workflow: "FakeWorkflows"

    async def execute_update(self, name: str, request: Any, *, result_type: type[Any]) -> Any:
        self.workflow.updates.append((self.workflow_id, name, request))
        if self.workflow.refuse is not None:
            raise self.workflow.refuse
        return self.workflow.answers[name]

    async def signal(self, name: str, payload: Any) -> None:
        self.workflow.signals.append((self.workflow_id, name, payload))
        if self.workflow.refuse is not None:
            raise self.workflow.refuse


@dataclass
class FakeWorkflows:
    """The Temporal client as the routes use it: updates and signals recorded, answers or refusals scripted."""

    answers: dict[str, Any] = field(default_factory=dict)
    refuse: Exception | None = None
    updates: list[tuple[str, str, Any]] = field(default_factory=list)
    signals: list[tuple[str, str, Any]] = field(default_factory=list)

    def get_workflow_handle(self, workflow_id: str) -> FakeHandle:
        return FakeHandle(workflow_id, self)


@dataclass
class FakeQueries:
    known: dict[str, OrderSummary] = field(default_factory=dict)

    def get(self, order_id: str) -> OrderSummary | None:
        return self.known.get(order_id)


@dataclass
class FakeServices:
    client: FakeWorkflows
    queries: FakeQueries
    engine: Any = None  # the payments read needs a database: tests/db/test_payments_query.py covers it
    settings: Settings = field(default_factory=Settings)
    tax: TaxCalculator = field(default_factory=RulesEngine)


@pytest.fixture
def workflows() -> FakeWorkflows:
    return FakeWorkflows(
        answers={
            RETURN_UPDATE: ReturnResult(
                return_id="W-1-R1",
                rma="RMA-W-1-R1",
                label="https://labels.example/W-1-R1.pdf",
                location_id="DC-TOKYO",
                refund_estimate=Decimal("24980"),
            ),
            APPEASEMENT_UPDATE: AppeasementResult(
                order_id="W-1", refunded=Decimal("500"), refundable_left=Decimal("24480")
            ),
        }
    )


@pytest.fixture
def http(workflows: FakeWorkflows) -> Iterator[TestClient]:
    app = FastAPI()
    app.include_router(orders.router)
    app.include_router(webhooks.router)
    app.state.tokens = parse_tokens(TOKENS, production=False)
    app.state.services = FakeServices(
        client=workflows, queries=FakeQueries({"W-1": summary("W-1", "C-1"), "W-2": summary("W-2", "C-2")})
    )
    with TestClient(app) as client:
        yield client


def refused(reason: str) -> WorkflowUpdateFailedError:
    """What the Temporal client raises when the update's validator rejects the request."""
    return WorkflowUpdateFailedError(ApplicationError(reason, type="ActionRefused", non_retryable=True))


# ---------------------------------------------------------------- returns


def test_a_customer_returns_their_own_order_and_gets_the_rma(http: TestClient, workflows: FakeWorkflows) -> None:
    # given customer C-1's delivered order W-1
    # when they ask to return one unit by mail
    response = http.post("/v1/orders/W-1/returns", json=RETURN_BODY, headers=AS_CUSTOMER_1)
    # then the return is created and they get what they need to send it back
    assert response.status_code == 201, response.text
    assert response.json() == {
        "return_id": "W-1-R1",
        "rma": "RMA-W-1-R1",
        "label": "https://labels.example/W-1-R1.pdf",
        "location_id": "DC-TOKYO",
        "refund_estimate": "24980",
    }
    # and the order's workflow got the request with the customer recorded as the actor
    [(workflow_id, name, request)] = workflows.updates
    assert (workflow_id, name) == ("order-W-1", RETURN_UPDATE)
    assert request == ReturnRequest(
        lines=[{"sku": "LEGO-76419", "quantity": 1}], reason="arrived damaged", method="mail", actor="customer:C-1"
    )


def test_a_customer_cannot_return_another_customers_order(http: TestClient, workflows: FakeWorkflows) -> None:
    # given order W-2 belongs to C-2
    # when C-1 tries to return it
    response = http.post("/v1/orders/W-2/returns", json=RETURN_BODY, headers=AS_CUSTOMER_1)
    # then it is as if the order did not exist (no hint that it does), and the workflow never hears of it
    assert response.status_code == 404
    assert workflows.updates == []
    # while its owner may
    assert http.post("/v1/orders/W-2/returns", json=RETURN_BODY, headers=AS_CUSTOMER_2).status_code == 201


def test_an_agent_returns_in_store_at_a_location(http: TestClient, workflows: FakeWorkflows) -> None:
    # given an agent at a store counter
    body = {**RETURN_BODY, "method": "in_store", "location_id": "STORE-SHIBUYA"}
    # when the return is recorded
    response = http.post("/v1/orders/W-1/returns", json=body, headers=AS_AGENT)
    # then the workflow is told where the units are, and by whom
    assert response.status_code == 201
    request: ReturnRequest = workflows.updates[0][2]
    assert (request.method, request.location_id, request.actor) == ("in_store", "STORE-SHIBUYA", "agent")


@pytest.mark.parametrize(
    ("body", "complaint"),
    [
        ({**RETURN_BODY, "method": "in_store"}, "needs location_id"),
        ({**RETURN_BODY, "lines": []}, "at least 1 item"),
        ({**RETURN_BODY, "lines": [{"sku": "A", "quantity": 0}]}, "greater than 0"),
        ({**RETURN_BODY, "lines": [{"sku": "A", "quantity": 1}, {"sku": "A", "quantity": 2}]}, "one line only"),
        ({**RETURN_BODY, "method": "drone"}, "'mail' or 'in_store'"),
        ({**RETURN_BODY, "reason": ""}, "at least 1 character"),
    ],
)
def test_an_invalid_return_is_422_and_never_reaches_the_order(
    http: TestClient, workflows: FakeWorkflows, body: dict[str, Any], complaint: str
) -> None:
    # given a body that cannot be a return
    # when it is posted
    response = http.post("/v1/orders/W-1/returns", json=body, headers=AS_AGENT)
    # then the caller learns what is wrong, and nothing is sent to the workflow
    assert response.status_code == 422
    assert complaint in response.text
    assert workflows.updates == []


def test_a_refused_return_is_409_with_the_workflows_reason(http: TestClient, workflows: FakeWorkflows) -> None:
    # given the order's workflow refuses: the window has closed
    workflows.refuse = refused("the return window closed on 2025-01-31")
    # when the customer asks anyway
    response = http.post("/v1/orders/W-1/returns", json=RETURN_BODY, headers=AS_CUSTOMER_1)
    # then they get 409 and the reason to act on
    assert response.status_code == 409
    assert response.json() == {"detail": "the return window closed on 2025-01-31"}


def test_a_refusal_that_names_the_fraud_review_reaches_a_customer_in_their_words(
    http: TestClient, workflows: FakeWorkflows
) -> None:
    # given the order's workflow refuses because the order waits for a fraud review
    workflows.refuse = refused("the order is on hold for review: it cannot be returned yet")
    # when the customer asks to return, and an agent asks the same
    as_customer = http.post("/v1/orders/W-1/returns", json=RETURN_BODY, headers=AS_CUSTOMER_1)
    as_agent = http.post("/v1/orders/W-1/returns", json=RETURN_BODY, headers=AS_AGENT)
    # then both are refused, the customer without being told of a review, the agent with the order's reason
    assert as_customer.status_code == as_agent.status_code == 409
    assert "review" not in as_customer.json()["detail"] and "fraud" not in as_customer.json()["detail"]
    assert as_agent.json() == {"detail": "the order is on hold for review: it cannot be returned yet"}


def test_a_closed_order_refuses_a_return_with_409(http: TestClient, workflows: FakeWorkflows) -> None:
    # given the order's workflow has completed (the read model still knows the order)
    workflows.refuse = RPCError("workflow execution already completed", RPCStatusCode.NOT_FOUND, b"")
    # when a return is asked for
    response = http.post("/v1/orders/W-1/returns", json=RETURN_BODY, headers=AS_AGENT)
    # then the answer says the order can no longer change, instead of a 500
    assert response.status_code == 409
    assert "closed" in response.json()["detail"]


@pytest.mark.parametrize("headers", [AS_STOREFRONT, AS_PARTNER, AS_OPERATOR])
def test_only_agents_and_customers_request_returns(http: TestClient, headers: dict[str, str]) -> None:
    assert http.post("/v1/orders/W-1/returns", json=RETURN_BODY, headers=headers).status_code == 403


def test_a_return_on_an_unknown_order_is_404(http: TestClient, workflows: FakeWorkflows) -> None:
    assert http.post("/v1/orders/W-404/returns", json=RETURN_BODY, headers=AS_AGENT).status_code == 404
    assert workflows.updates == []


# ---------------------------------------------------------------- appeasements


def test_an_agent_grants_an_appeasement(http: TestClient, workflows: FakeWorkflows) -> None:
    # given an agent apologising for a late delivery with 500 yen (sent as 500.00)
    # when the appeasement is granted
    response = http.post(
        "/v1/orders/W-1/appeasements", json={"amount": "500.00", "reason": "late delivery"}, headers=AS_AGENT
    )
    # then the answer says what was refunded and what is left to refund, as decimal strings
    assert response.status_code == 200, response.text
    assert response.json() == {"order_id": "W-1", "refunded": "500", "refundable_left": "24480"}
    # and the workflow got the amount in yen, with the agent as actor
    [(workflow_id, name, request)] = workflows.updates
    assert (workflow_id, name) == ("order-W-1", APPEASEMENT_UPDATE)
    assert request == AppeasementRequest(amount=Decimal("500"), reason="late delivery", actor="agent")


@pytest.mark.parametrize(
    ("amount", "complaint"),
    [
        ("0", "greater than 0"),
        ("-100", "greater than 0"),
        ("lots", "valid decimal"),
        ("NaN", "finite"),
        ("500.5", "more decimals than JPY allows"),
    ],
)
def test_an_invalid_appeasement_amount_is_422(
    http: TestClient, workflows: FakeWorkflows, amount: str, complaint: str
) -> None:
    # given an amount that is not a positive sum in the order's currency
    # when it is posted
    response = http.post("/v1/orders/W-1/appeasements", json={"amount": amount, "reason": "x"}, headers=AS_AGENT)
    # then it is refused at the edge with what is wrong
    assert response.status_code == 422
    assert complaint in response.text
    assert workflows.updates == []


def test_an_appeasement_above_what_is_left_is_409(http: TestClient, workflows: FakeWorkflows) -> None:
    # given the workflow refuses: more than is left to refund
    workflows.refuse = refused("appeasement of 30000 exceeds the 24980 left to refund")
    # when the agent asks for it
    response = http.post("/v1/orders/W-1/appeasements", json={"amount": "30000", "reason": "x"}, headers=AS_AGENT)
    # then 409 carries the workflow's reason
    assert response.status_code == 409
    assert response.json()["detail"] == "appeasement of 30000 exceeds the 24980 left to refund"


@pytest.mark.parametrize("headers", [AS_CUSTOMER_1, AS_STOREFRONT, AS_OPERATOR, AS_PARTNER])
def test_only_agents_grant_appeasements(http: TestClient, workflows: FakeWorkflows, headers: dict[str, str]) -> None:
    # a customer may not refund themselves, even on their own order
    response = http.post("/v1/orders/W-1/appeasements", json={"amount": "500", "reason": "x"}, headers=headers)
    assert response.status_code == 403
    assert workflows.updates == []


def test_an_appeasement_needs_a_token(http: TestClient) -> None:
    assert http.post("/v1/orders/W-1/appeasements", json={"amount": "500", "reason": "x"}).status_code == 401


# ---------------------------------------------------------------- the returns webhook

RECEIVED = {
    "return_id": "W-1-R1",
    "event": "received",
    "lines": [{"sku": "LEGO-76419", "quantity": 1, "condition": "damaged"}],
}


def test_a_received_return_signals_its_order(http: TestClient, workflows: FakeWorkflows) -> None:
    # given a warehouse that received return W-1-R1
    # when it calls the webhook
    response = http.post("/v1/webhooks/returns", json=RECEIVED, headers=AS_PARTNER)
    # then it is accepted for order W-1, and that order's workflow gets the event as sent
    assert response.status_code == 202
    assert response.json() == {"status": "accepted", "order_id": "W-1"}
    assert workflows.signals == [("order-W-1", RETURN_SIGNAL, ReturnEvent.model_validate(RECEIVED))]


def test_an_order_id_with_dashes_is_found_from_its_return_id(http: TestClient, workflows: FakeWorkflows) -> None:
    # given an order id that itself looks like a return suffix
    event = {**RECEIVED, "return_id": "B2B-R7-2025-R12"}
    # when its return is received, then the last "-R<n>" is the return's number
    assert http.post("/v1/webhooks/returns", json=event, headers=AS_PARTNER).json()["order_id"] == "B2B-R7-2025"
    assert workflows.signals[0][0] == "order-B2B-R7-2025"


def test_a_return_id_that_names_no_order_is_404(http: TestClient, workflows: FakeWorkflows) -> None:
    response = http.post("/v1/webhooks/returns", json={**RECEIVED, "return_id": "RMA-12"}, headers=AS_PARTNER)
    assert response.status_code == 404
    assert "RMA-12" in response.json()["detail"]
    assert workflows.signals == []


def test_a_return_of_an_order_temporal_does_not_know_is_404(http: TestClient, workflows: FakeWorkflows) -> None:
    workflows.refuse = RPCError("workflow not found for ID: order-W-9", RPCStatusCode.NOT_FOUND, b"")
    response = http.post("/v1/webhooks/returns", json={**RECEIVED, "return_id": "W-9-R1"}, headers=AS_PARTNER)
    assert response.status_code == 404
    assert response.json()["detail"] == "no order W-9"


def test_a_return_of_a_closed_order_is_409_so_the_partner_stops_retrying(
    http: TestClient, workflows: FakeWorkflows
) -> None:
    workflows.refuse = RPCError("workflow execution already completed", RPCStatusCode.NOT_FOUND, b"")
    response = http.post("/v1/webhooks/returns", json=RECEIVED, headers=AS_PARTNER)
    assert response.status_code == 409
    assert "no longer accepts partner events" in response.json()["detail"]


@pytest.mark.parametrize(
    "event",
    [
        {**RECEIVED, "event": "lost"},
        {**RECEIVED, "lines": []},
        {**RECEIVED, "lines": [{"sku": "A", "quantity": 1, "condition": "pristine"}]},
    ],
)
def test_an_invalid_return_event_is_422(http: TestClient, workflows: FakeWorkflows, event: dict[str, Any]) -> None:
    assert http.post("/v1/webhooks/returns", json=event, headers=AS_PARTNER).status_code == 422
    assert workflows.signals == []


@pytest.mark.parametrize("headers", [AS_AGENT, AS_CUSTOMER_1])
def test_only_partners_call_the_returns_webhook(http: TestClient, headers: dict[str, str]) -> None:
    assert http.post("/v1/webhooks/returns", json=RECEIVED, headers=headers).status_code == 403


# ---------------------------------------------------------------- payments (who may look; the ledger is a db test)


@pytest.mark.parametrize("headers", [AS_CUSTOMER_1, AS_STOREFRONT, AS_PARTNER])
def test_only_agents_and_operators_see_payment_transactions(http: TestClient, headers: dict[str, str]) -> None:
    assert http.get("/v1/orders/W-1/payments", headers=headers).status_code == 403


def test_payments_of_an_unknown_order_are_404(http: TestClient) -> None:
    response = http.get("/v1/orders/W-404/payments", headers=AS_OPERATOR)
    assert response.status_code == 404
    assert response.json() == {"detail": "no order W-404"}
