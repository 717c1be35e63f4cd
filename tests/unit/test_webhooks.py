"""The warehouse webhook at the HTTP edge, with the order's workflow stood in for.

Which of a location's events reach the order's workflow as signals (and exactly as what), which are only
acknowledged, and how unknown or closed orders are answered.
"""

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from temporalio.service import RPCError, RPCStatusCode

from starter.api import webhooks
from starter.api.auth import parse_tokens
from workflows.messages import WAREHOUSE_SIGNAL, WarehouseEvent

TOKENS = "t-partner:partner,t-agent:agent,t-store:storefront"
AS_PARTNER = {"Authorization": "Bearer t-partner"}


@dataclass
class FakeWorkflows:
    """The Temporal client as the webhooks use it: signals recorded, or refused with `refuse`."""

    refuse: Exception | None = None
    signals: list[tuple[str, str, Any]] = field(default_factory=list)

    def get_workflow_handle(self, workflow_id: str) -> "FakeHandle":
        return FakeHandle(workflow_id, self)


@dataclass
class FakeHandle:
    workflow_id: str
    workflows: FakeWorkflows

    async def signal(self, name: str, payload: Any) -> None:
        if self.workflows.refuse is not None:
            raise self.workflows.refuse
        self.workflows.signals.append((self.workflow_id, name, payload))


@dataclass
class FakeServices:
    client: FakeWorkflows
    queries: Any = None


@pytest.fixture
def workflows() -> FakeWorkflows:
    return FakeWorkflows()


@pytest.fixture
def http(workflows: FakeWorkflows) -> Iterator[TestClient]:
    app = FastAPI()
    app.include_router(webhooks.router)
    app.state.tokens = parse_tokens(TOKENS, production=False)
    app.state.services = FakeServices(client=workflows)
    with TestClient(app) as client:
        yield client


def post(http: TestClient, body: dict[str, Any]) -> Any:
    return http.post("/v1/webhooks/warehouse", json=body, headers=AS_PARTNER)


@pytest.mark.parametrize(
    "body",
    [
        {"fulfillment_order_id": "W-1-F1", "event": "shipped", "tracking_number": "YMT0000000001", "carrier": "yamato"},
        {"fulfillment_order_id": "W-1-F1", "event": "rejected", "reason": "no capacity at STORE-SHIBUYA"},
        {"fulfillment_order_id": "W-1-F1", "event": "ready_for_pickup"},
        {"fulfillment_order_id": "W-1-F1", "event": "picked_up"},
    ],
    ids=lambda body: body["event"],
)
def test_events_the_order_acts_on_are_signalled_as_sent(
    http: TestClient, workflows: FakeWorkflows, body: dict[str, Any]
) -> None:
    # given a location's event for fulfillment order W-1-F1
    # when it calls the webhook
    response = post(http, body)
    # then it is accepted for order W-1, whose workflow gets the event unchanged
    assert response.status_code == 202, response.text
    assert response.json() == {"status": "accepted", "order_id": "W-1"}
    assert workflows.signals == [("order-W-1", WAREHOUSE_SIGNAL, WarehouseEvent.model_validate(body))]


@pytest.mark.parametrize("reason", [None, "", "   "])
def test_a_rejection_without_a_reason_gets_a_default_one(
    http: TestClient, workflows: FakeWorkflows, reason: str | None
) -> None:
    # given a location that rejects a fulfillment order without saying why
    body: dict[str, Any] = {"fulfillment_order_id": "W-1-F1", "event": "rejected"}
    if reason is not None:
        body["reason"] = reason
    # when it calls the webhook
    response = post(http, body)
    # then the order's workflow still gets a reason to record and reroute with
    assert response.status_code == 202
    [(_, name, event)] = workflows.signals
    assert name == WAREHOUSE_SIGNAL
    assert event == WarehouseEvent(
        fulfillment_order_id="W-1-F1", event="rejected", reason=webhooks.DEFAULT_REJECT_REASON
    )


@pytest.mark.parametrize("event", ["picked", "packed"])
def test_progress_events_are_acknowledged_without_a_signal(
    http: TestClient, workflows: FakeWorkflows, event: str
) -> None:
    response = post(http, {"fulfillment_order_id": "W-1-F1", "event": event})
    assert response.status_code == 202
    assert response.json() == {"status": "accepted", "order_id": "W-1"}
    assert workflows.signals == []


def test_a_fulfillment_order_id_that_names_no_order_is_404(http: TestClient, workflows: FakeWorkflows) -> None:
    response = post(http, {"fulfillment_order_id": "PARCEL-9", "event": "ready_for_pickup"})
    assert response.status_code == 404
    assert "PARCEL-9" in response.json()["detail"]
    assert workflows.signals == []


def test_an_order_temporal_does_not_know_is_404(http: TestClient, workflows: FakeWorkflows) -> None:
    # given no workflow for order W-9
    workflows.refuse = RPCError("workflow not found for ID: order-W-9", RPCStatusCode.NOT_FOUND, b"")
    # when its store reports it collected, then the partner is told the order is unknown
    response = post(http, {"fulfillment_order_id": "W-9-F1", "event": "picked_up"})
    assert response.status_code == 404
    assert response.json() == {"detail": "no order W-9"}


def test_a_closed_order_is_409_so_the_partner_stops_retrying(http: TestClient, workflows: FakeWorkflows) -> None:
    # given order W-1's workflow has completed
    workflows.refuse = RPCError("workflow execution already completed", RPCStatusCode.NOT_FOUND, b"")
    # when a late rejection arrives, then the answer is final rather than "retry"
    response = post(http, {"fulfillment_order_id": "W-1-F1", "event": "rejected", "reason": "no capacity"})
    assert response.status_code == 409
    assert "no longer accepts partner events" in response.json()["detail"]


@pytest.mark.parametrize(
    "body",
    [
        {"fulfillment_order_id": "W-1-F1", "event": "shipped"},
        {"fulfillment_order_id": "W-1-F1", "event": "shipped", "tracking_number": "YMT0000000001"},
        {"fulfillment_order_id": "W-1-F1", "event": "lost"},
    ],
)
def test_an_invalid_warehouse_event_is_422(http: TestClient, workflows: FakeWorkflows, body: dict[str, Any]) -> None:
    assert post(http, body).status_code == 422
    assert workflows.signals == []


@pytest.mark.parametrize("headers", [{"Authorization": "Bearer t-agent"}, {"Authorization": "Bearer t-store"}])
def test_only_partners_call_the_warehouse_webhook(
    http: TestClient, workflows: FakeWorkflows, headers: dict[str, str]
) -> None:
    body = {"fulfillment_order_id": "W-1-F1", "event": "picked_up"}
    assert http.post("/v1/webhooks/warehouse", json=body, headers=headers).status_code == 403
    assert workflows.signals == []
