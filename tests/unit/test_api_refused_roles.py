"""A caller without a token (401) or with a role that may not act (403) touches nothing: no update, no signal, no
read of the order and no row written. Every service endpoint, order action, webhook and stock adjustment."""

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from starter.api import inventory, orders, service, webhooks
from starter.api.auth import parse_tokens
from store.read_model import OrderSummary
from tests.unit.test_api_service_actions import TOKENS, FakeWorkflows, summary

ADDRESS = {"name": "Aiko Sato", "line1": "2-2 Umeda", "city": "Osaka", "postal_code": "530-0001", "country": "JP"}
LINES = [{"sku": "LEGO-76419", "quantity": 1}]
ROLES = ("agent", "operator", "partner", "storefront", "customer")
TOKEN_OF = {
    "agent": "t-agent",
    "operator": "t-operator",
    "partner": "t-partner",
    "storefront": "t-store",
    "customer": "t-c1",
}

# (path, body, the roles allowed)
ACTIONS: list[tuple[str, dict[str, Any], set[str]]] = [
    ("/v1/orders/W-1/review", {"decision": "approve", "reason": "ok"}, {"agent"}),
    ("/v1/orders/W-1/address", {"address": ADDRESS, "reason": "moved"}, {"agent", "customer"}),
    ("/v1/orders/W-1/reships", {"lines": LINES, "reason": "lost"}, {"agent"}),
    ("/v1/orders/W-1/fulfillment-orders/W-1-F1/picked-up", {}, {"agent"}),
    ("/v1/orders/W-1/cancel", {"reason": "changed my mind"}, {"agent", "customer", "storefront"}),
    ("/v1/orders/W-1/returns", {"lines": LINES, "reason": "too small"}, {"agent", "customer"}),
    ("/v1/orders/W-1/appeasements", {"amount": "500", "reason": "late"}, {"agent"}),
    (
        "/v1/orders/W-1/exchanges",
        {"returned": LINES, "replacement": [{"sku": "LEGO-76420", "quantity": 1}], "reason": "size"},
        {"agent", "customer"},
    ),
    (
        "/v1/webhooks/warehouse",
        {"fulfillment_order_id": "W-1-F1", "event": "shipped", "tracking_number": "Y1", "carrier": "yamato"},
        {"partner"},
    ),
    ("/v1/webhooks/carrier", {"tracking_number": "Y1", "event": "delivered"}, {"partner"}),
    (
        "/v1/webhooks/returns",
        {"return_id": "W-1-R1", "event": "received", "lines": [{**LINES[0], "condition": "resellable"}]},
        {"partner"},
    ),
    (
        "/v1/inventory/adjustments",
        {"location_id": "DC-TOKYO", "sku": "LEGO-76419", "delta": 5},
        {"operator", "partner"},
    ),
]

REFUSED = (
    [
        pytest.param(path, body, {"Authorization": f"Bearer {TOKEN_OF[role]}"}, 403, id=f"{path}-as-{role}")
        for path, body, allowed in ACTIONS
        for role in ROLES
        if role not in allowed
    ]
    + [pytest.param(path, body, {}, 401, id=f"{path}-without-token") for path, body, _ in ACTIONS]
    + [
        pytest.param(path, body, {"Authorization": "Bearer forged"}, 401, id=f"{path}-forged-token")
        for path, body, _ in ACTIONS
    ]
)


class Untouchable:
    """The database: a refused request must not reach it."""

    def __init__(self) -> None:
        self.used: list[str] = []

    def __getattr__(self, name: str) -> Any:
        self.used.append(name)
        raise AssertionError(f"the database was used ({name})")


@dataclass
class WatchedQueries:
    """The read model, recording every question asked of it."""

    asked: list[str] = field(default_factory=list)

    def get(self, order_id: str) -> OrderSummary | None:
        self.asked.append(f"get {order_id}")
        return summary(order_id, "C-1")

    def fulfillment_orders_of_tracking(self, tracking_number: str) -> list[tuple[str, str]]:
        self.asked.append(f"tracking {tracking_number}")
        return [("W-1", "W-1-F1")]


@dataclass
class WatchedServices:
    client: FakeWorkflows
    queries: WatchedQueries
    engine: Untouchable
    settings: Any = None


@pytest.fixture
def services() -> WatchedServices:
    return WatchedServices(client=FakeWorkflows(), queries=WatchedQueries(), engine=Untouchable())


@pytest.fixture
def http(services: WatchedServices) -> Iterator[TestClient]:
    app = FastAPI()
    for module in (orders, service, webhooks, inventory):
        app.include_router(module.router)
    app.state.tokens = parse_tokens(TOKENS, production=False)
    app.state.services = services
    with TestClient(app) as client:
        yield client


@pytest.mark.parametrize(("path", "body", "headers", "code"), REFUSED)
def test_a_refused_caller_touches_nothing(
    http: TestClient, services: WatchedServices, path: str, body: dict[str, Any], headers: dict[str, str], code: int
) -> None:
    # given a caller with no valid token, or whose role may not do this
    # when it posts a valid body
    response = http.post(path, json=body, headers=headers)
    # then it is refused, and no workflow, read model or table heard of it
    assert response.status_code == code, response.text
    assert services.client.updates == []
    assert services.client.signals == []
    assert services.queries.asked == []
    assert services.engine.used == []


@pytest.mark.parametrize(("path", "body", "allowed"), [a for a in ACTIONS if a[0].startswith("/v1/webhooks")])
def test_an_allowed_partner_does_reach_the_order(
    http: TestClient, services: WatchedServices, path: str, body: dict[str, Any], allowed: set[str]
) -> None:
    # the same bodies from a partner are taken: the refusals above are the role's, not the body's
    response = http.post(path, json=body, headers={"Authorization": "Bearer t-partner"})
    assert response.status_code == 202, response.text
    assert len(services.client.signals) == 1
