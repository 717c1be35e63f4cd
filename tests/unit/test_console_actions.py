"""The 360 view's service actions as forms: what reaches the order's workflow, and a refusal shown at its form."""

from decimal import Decimal
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from temporalio.client import WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError

from domain.models import SkuQuantity
from starter.web.portals import CONSOLE
from tests.pages import ADDRESS_FORM, Services, csrf_of, page_app, sign_in
from workflows.messages import (
    ADDRESS_UPDATE,
    APPEASEMENT_UPDATE,
    CANCEL_UPDATE,
    EXCHANGE_UPDATE,
    RESHIP_UPDATE,
    RETRY_UPDATE,
    RETURN_UPDATE,
    REVIEW_UPDATE,
    WAREHOUSE_SIGNAL,
)

LINE = [SkuQuantity(sku="LEGO-76419", quantity=1)]


@pytest.fixture
def served() -> tuple[FastAPI, Services]:
    return page_app()


@pytest.fixture
def agent(served: tuple[FastAPI, Services]) -> TestClient:
    http = TestClient(served[0])
    sign_in(http, CONSOLE, "t-agent")
    return http


def post(http: TestClient, action: str, **fields: Any) -> Any:
    """The action's form on W-1's page, filled with `fields` and sent, as a browser sends it."""
    csrf = csrf_of(http.get("/console/orders/W-1").text)
    return http.post(f"/console/orders/W-1/{action}", data={**fields, "csrf_token": csrf}, follow_redirects=False)


ACTIONS = [
    pytest.param(
        "cancel",
        {"sku": "LEGO-76419", "quantity": "1", "reason": "asked"},
        CANCEL_UPDATE,
        {"lines": LINE, "reason": "asked"},
        id="cancel lines",
    ),
    pytest.param(
        "cancel", {"everything": "yes", "reason": "asked"}, CANCEL_UPDATE, {"lines": None}, id="cancel everything"
    ),
    pytest.param(
        "return",
        {"sku": "LEGO-76419", "quantity": "1", "reason": "small", "method": "in_store", "location_id": "ST-SHIBUYA"},
        RETURN_UPDATE,
        {"lines": LINE, "method": "in_store", "location_id": "ST-SHIBUYA"},
        id="return",
    ),
    pytest.param(
        "exchange",
        {"sku": "LEGO-76419", "quantity": "1", "replacement_sku": "LEGO-76420", "reason": "size"},
        EXCHANGE_UPDATE,
        {"returned": LINE, "reason": "size"},
        id="exchange",
    ),
    pytest.param(
        "appeasement",
        {"amount": "500", "reason": "late"},
        APPEASEMENT_UPDATE,
        {"amount": Decimal(500), "reason": "late"},
        id="appeasement",
    ),
    pytest.param(
        "reship", {"sku": "LEGO-76419", "quantity": "1", "reason": "lost"}, RESHIP_UPDATE, {"lines": LINE}, id="reship"
    ),
    pytest.param("address", {**ADDRESS_FORM, "reason": "moved"}, ADDRESS_UPDATE, {"reason": "moved"}, id="address"),
    pytest.param(
        "review", {"decision": "approve", "reason": "known"}, REVIEW_UPDATE, {"approve": True}, id="review approve"
    ),
    pytest.param(
        "review", {"decision": "reject", "reason": "stolen"}, REVIEW_UPDATE, {"approve": False}, id="review reject"
    ),
    pytest.param(
        "retry", {"reason": "the gateway is back"}, RETRY_UPDATE, {"reason": "the gateway is back"}, id="retry"
    ),
]


@pytest.mark.parametrize(("action", "fields", "update", "expected"), ACTIONS)
def test_an_action_reaches_the_order_as_the_agent_and_comes_back_to_it(
    agent: TestClient,
    served: tuple[FastAPI, Services],
    action: str,
    fields: dict[str, str],
    update: str,
    expected: dict[str, Any],
) -> None:
    # given an agent on order W-1
    services = served[1]
    # when they send the action's form
    answer = post(agent, action, **fields)
    # then the order's workflow got that update, with what the form said and agent A-7 as who did it
    assert answer.status_code == 303, answer.text
    assert answer.headers["location"] == "/console/orders/W-1"
    [(workflow_id, name, request)] = services.client.updates
    assert (workflow_id, name, request.actor) == ("order-W-1", update, "agent:A-7")
    assert {key: getattr(request, key) for key in expected} == expected
    # and the order's page says what was done
    assert 'class="flash"' in agent.get("/console/orders/W-1").text


def test_the_address_change_sends_the_new_address(agent: TestClient, served: tuple[FastAPI, Services]) -> None:
    post(agent, "address", **ADDRESS_FORM, line2="", reason="moved")
    [(_, _, request)] = served[1].client.updates
    assert request.address.model_dump(exclude_none=True) == ADDRESS_FORM


def test_a_counter_pickup_is_the_stores_news_for_that_fulfillment_order(
    agent: TestClient, served: tuple[FastAPI, Services]
) -> None:
    answer = post(agent, "pickup", fulfillment_order_id="W-1-F1")
    assert answer.status_code == 303
    [(workflow_id, name, event)] = served[1].client.signals
    assert (workflow_id, name, event.fulfillment_order_id, event.event) == (
        "order-W-1",
        WAREHOUSE_SIGNAL,
        "W-1-F1",
        "picked_up",
    )
    assert "W-1-F1 is recorded as picked up at the counter." in agent.get("/console/orders/W-1").text


def test_an_action_the_order_refuses_shows_the_reason_at_its_form(
    agent: TestClient, served: tuple[FastAPI, Services]
) -> None:
    # given an order whose workflow refuses the cancel
    services = served[1]
    services.client.refuse = WorkflowUpdateFailedError(
        ApplicationError("already shipped: use a return", type="ActionRefused", non_retryable=True)
    )
    # when the agent cancels a line
    answer = post(agent, "cancel", sku="LEGO-76419", quantity="1", reason="asked")
    # then the order is shown again, with the order's reason at the cancel form and not elsewhere
    assert answer.status_code == 409
    text = answer.text
    assert "<h1>Order W-1</h1>" in text
    assert '<div class="refusal" role="alert" id="cancel-refusal"><p>Refused: already shipped: use a return</p>' in text
    assert text.count("already shipped: use a return") == 1
    form = text[text.index('aria-label="Cancel lines"') :].split("</form>")[0]
    assert "already shipped: use a return" in form


def test_a_field_that_is_wrong_is_refused_at_its_form_before_the_order_hears_of_it(
    agent: TestClient, served: tuple[FastAPI, Services]
) -> None:
    # when an appeasement of more decimals than yen has, one of no amount, and a cancel of nothing are sent
    decimals = post(agent, "appeasement", amount="500.5", reason="late")
    nothing = post(agent, "appeasement", amount="", reason="late")
    no_lines = post(agent, "cancel", reason="asked")
    # then each is refused at its form with why, and nothing reached the order
    assert decimals.status_code == 422
    assert "amount 500.5 has more decimals than JPY allows" in decimals.text
    assert nothing.status_code == 422 and 'id="appeasement-refusal"' in nothing.text
    assert no_lines.status_code == 422
    assert "Name a quantity to cancel on at least one line" in no_lines.text
    assert served[1].client.updates == []


def test_a_pickup_of_a_fulfillment_order_the_order_does_not_have_is_refused_in_place(
    agent: TestClient, served: tuple[FastAPI, Services]
) -> None:
    answer = post(agent, "pickup", fulfillment_order_id="W-1-F9")
    assert answer.status_code == 404
    assert "order W-1 has no fulfillment order W-1-F9" in answer.text
    assert served[1].client.signals == []


def test_an_action_on_an_order_that_is_not_there_is_a_404_page(agent: TestClient) -> None:
    csrf = csrf_of(agent.get("/console").text)
    answer = agent.post("/console/orders/W-404/retry", data={"reason": "x", "csrf_token": csrf})
    assert answer.status_code == 404
    assert "There is no order W-404." in answer.text
