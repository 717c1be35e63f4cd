"""Review, address change, reship and counter pickups at the HTTP edge, with the workflow stood in for."""

from collections.abc import Iterator
from decimal import Decimal

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from starter.api import service
from starter.api.auth import parse_tokens
from store.read_model import FulfillmentOrderSummary, LineSummary, OrderSummary
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
from workflows.messages import (
    ADDRESS_UPDATE,
    RESHIP_UPDATE,
    REVIEW_UPDATE,
    WAREHOUSE_SIGNAL,
    ActionResult,
    AddressChange,
    ReshipRequest,
    ReviewDecision,
    WarehouseEvent,
)

ADDRESS = {"name": "Aiko Sato", "line1": "2-2 Umeda", "city": "Osaka", "postal_code": "530-0001", "country": "JP"}


@pytest.fixture
def workflows() -> FakeWorkflows:
    done = ActionResult(order_id="W-1", status="accepted", fulfillment_order_ids=["W-1-F2"])
    return FakeWorkflows(answers={REVIEW_UPDATE: done, ADDRESS_UPDATE: done, RESHIP_UPDATE: done})


@pytest.fixture
def http(workflows: FakeWorkflows) -> Iterator[TestClient]:
    w1 = summary("W-1", "C-1").model_copy(
        update={
            "fulfillment_orders": [
                FulfillmentOrderSummary.model_validate(
                    {
                        "id": "W-1-F1",
                        "location_id": "ST-SHIBUYA",
                        "status": "ready_for_pickup",
                        "lines": [],
                        "carrier": None,
                        "tracking_number": None,
                        "captured": 0,
                        "refunded": 0,
                        "invoice_id": None,
                        "promised_date": None,
                    }
                )
            ]
        }
    )
    app = FastAPI()
    app.include_router(service.router)
    app.state.tokens = parse_tokens(TOKENS, production=False)
    app.state.services = FakeServices(client=workflows, queries=FakeQueries({"W-1": w1, "W-2": summary("W-2", "C-2")}))
    with TestClient(app) as client:
        yield client


def test_an_agent_approves_a_held_order(http: TestClient, workflows: FakeWorkflows) -> None:
    # when an agent approves order W-1
    response = http.post("/v1/orders/W-1/review", json={"decision": "approve", "reason": "ok"}, headers=AS_AGENT)
    # then the review update carries the verdict and the agent
    assert response.status_code == 200, response.text
    [(wid, name, decision)] = workflows.updates
    assert (wid, name) == ("order-W-1", REVIEW_UPDATE)
    assert decision == ReviewDecision(approve=True, reason="ok", actor=decision.actor)
    assert decision.actor.startswith("agent")


def test_a_review_is_for_agents_and_a_refusal_is_a_409(http: TestClient, workflows: FakeWorkflows) -> None:
    body = {"decision": "reject", "reason": "stolen card"}
    # a customer may not review
    assert http.post("/v1/orders/W-1/review", json=body, headers=AS_CUSTOMER_1).status_code == 403
    # an unknown verdict is not a review
    assert http.post("/v1/orders/W-1/review", json={**body, "decision": "maybe"}, headers=AS_AGENT).status_code == 422
    # the workflow's refusal reaches the agent with its reason
    workflows.refuse = refused("the order is accepted, not on hold for review")
    response = http.post("/v1/orders/W-1/review", json=body, headers=AS_AGENT)
    assert response.status_code == 409 and "not on hold" in response.json()["detail"]


def test_a_customer_changes_the_address_of_their_own_order_only(http: TestClient, workflows: FakeWorkflows) -> None:
    # when the customer moves their order, and tries another customer's
    mine = http.post("/v1/orders/W-1/address", json={"address": ADDRESS, "reason": "moved"}, headers=AS_CUSTOMER_1)
    theirs = http.post("/v1/orders/W-2/address", json={"address": ADDRESS, "reason": "x"}, headers=AS_CUSTOMER_1)
    # then only their own order's workflow hears of it
    assert mine.status_code == 200 and theirs.status_code == 404
    [(_, name, change)] = workflows.updates
    assert name == ADDRESS_UPDATE and isinstance(change, AddressChange) and change.address.city == "Osaka"
    bad = http.post("/v1/orders/W-2/address", json={"address": {"city": "Osaka"}, "reason": "x"}, headers=AS_CUSTOMER_2)
    assert bad.status_code == 422


def test_an_agent_reships_lost_units(http: TestClient, workflows: FakeWorkflows) -> None:
    body = {"lines": [{"sku": "LEGO-76419", "quantity": 1}], "reason": "lost in transit"}
    response = http.post("/v1/orders/W-1/reships", json=body, headers=AS_AGENT)
    assert response.status_code == 201 and response.json()["fulfillment_order_ids"] == ["W-1-F2"]
    [(_, name, request)] = workflows.updates
    assert name == RESHIP_UPDATE and isinstance(request, ReshipRequest) and request.lines[0].quantity == 1
    assert http.post("/v1/orders/W-1/reships", json={**body, "lines": []}, headers=AS_AGENT).status_code == 422
    assert http.post("/v1/orders/W-1/reships", json=body, headers=AS_PARTNER).status_code == 403


def test_an_agent_records_a_pickup_at_the_counter(http: TestClient, workflows: FakeWorkflows) -> None:
    # when a store associate hands W-1-F1 over
    response = http.post("/v1/orders/W-1/fulfillment-orders/W-1-F1/picked-up", headers=AS_AGENT)
    # then the order hears the same news as from the store's system
    assert response.status_code == 202
    assert workflows.signals == [
        ("order-W-1", WAREHOUSE_SIGNAL, WarehouseEvent(fulfillment_order_id="W-1-F1", event="picked_up"))
    ]
    # and a fulfillment order the order does not have is a 404
    assert http.post("/v1/orders/W-1/fulfillment-orders/W-9-F1/picked-up", headers=AS_AGENT).status_code == 404


def in_canada(line1: str, city: str, postal_code: str) -> dict[str, str]:
    return {"name": "Sam Lee", "line1": line1, "city": city, "postal_code": postal_code, "country": "CA"}


def canadian(order_id: str, rate: str) -> OrderSummary:
    """A Canadian order of customer C-1: prices without tax, one line taxed at `rate` on top."""
    line = LineSummary(sku="LEGO-76419", unit_price=Decimal("249.99"), ordered=1, allocated=1, shipped=0, delivered=0,
                       canceled=0, returned=0, tax_rate=Decimal(rate))  # fmt: skip
    toronto = in_canada("1 King St W", "Toronto", "M5H 1A1")
    return summary(order_id, "C-1", currency="CAD").model_copy(
        update={"lines": [line], "shipping_address": toronto, "prices_include_tax": False}
    )


@pytest.fixture
def canadian_http(workflows: FakeWorkflows) -> Iterator[TestClient]:
    app = FastAPI()
    app.include_router(service.router)
    app.state.tokens = parse_tokens(TOKENS, production=False)
    app.state.services = FakeServices(client=workflows, queries=FakeQueries({"W-1": canadian("W-1", "0.13")}))
    with TestClient(app) as client:
        yield client


def test_an_address_taxed_at_other_rates_is_refused_and_nothing_changes(
    canadian_http: TestClient, workflows: FakeWorkflows
) -> None:
    # given an order to Toronto, taxed at Ontario's 13 % on top of its prices
    calgary = in_canada("1 Stephen Ave", "Calgary", "T2P 1J9")
    # when it is moved to Calgary (Alberta: 5 %)
    moved = canadian_http.post("/v1/orders/W-1/address", json={"address": calgary, "reason": "moved"}, headers=AS_AGENT)
    # then it is refused with the reason, and the workflow heard nothing: the order would be charged the wrong tax
    assert moved.status_code == 409, moved.text
    assert "13" in moved.json()["detail"] and "5" in moved.json()["detail"]
    assert workflows.updates == []


def test_an_address_taxed_at_the_same_rates_is_taken(canadian_http: TestClient, workflows: FakeWorkflows) -> None:
    # given the order to Toronto, when it is moved elsewhere in Ontario (Ottawa: 13 % too)
    ottawa = in_canada("111 Wellington St", "Ottawa", "K1A 0A9")
    moved = canadian_http.post("/v1/orders/W-1/address", json={"address": ottawa, "reason": "moved"}, headers=AS_AGENT)
    # then the workflow is asked to move it
    assert moved.status_code == 200, moved.text
    assert [name for _, name, _ in workflows.updates] == [ADDRESS_UPDATE]
