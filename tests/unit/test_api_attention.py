"""An order that needs a person says so to agents and operators; customers and storefronts never see it, nor the
fraud score. Agents list those orders with `GET /v1/orders?attention=true`."""

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from starter import cli
from starter.api import orders
from starter.api.auth import parse_tokens
from store.read_model import OrderAttention, OrderListItem, OrderSummary, TimelineEntry
from tests.unit.test_api_service_actions import (
    AS_AGENT,
    AS_CUSTOMER_1,
    AS_OPERATOR,
    AS_STOREFRONT,
    TOKENS,
    FakeQueries,
    FakeServices,
    FakeWorkflows,
    summary,
)
from tests.unit.test_cli import FakeApi, oms

SINCE = datetime(2026, 11, 3, 8, 0, tzinfo=UTC)
STUCK = OrderAttention(reason="warehouse: no shipped news of W-1-F1 from DC-1 after asking again", since=SINCE)


def stuck_order() -> OrderSummary:
    """W-1 of customer C-1: scored by the fraud screen, then stuck at its warehouse."""
    timeline = [
        TimelineEntry(seq=1, type="OrderPlaced", at=SINCE, actor="customer:C-1", summary="Order placed on web"),
        TimelineEntry(seq=2, type="FraudScreened", at=SINCE, actor="system", summary="Fraud screen scored 35"),
        TimelineEntry(
            seq=3, type="AttentionNeeded", at=SINCE, actor="system", summary=f"Needs attention: {STUCK.reason}"
        ),
    ]
    return summary("W-1", "C-1").model_copy(update={"attention": STUCK, "fraud_score": 35, "timeline": timeline})


def listed(item: OrderSummary) -> OrderListItem:
    return OrderListItem(
        order_id=item.order_id,
        status=item.status,
        channel=item.channel,
        customer_id=str(item.customer["id"]),
        currency=item.currency,
        total=item.total,
        placed_at=item.placed_at,
        attention=item.attention,
    )


@dataclass
class SearchableQueries(FakeQueries):
    """The read model's search over the known orders, with every search's filters recorded."""

    searches: list[dict[str, Any]] = field(default_factory=list)

    def search(
        self,
        customer_id: str | None = None,
        status: str | None = None,
        channel: str | None = None,
        limit: int = 100,
        attention: bool | None = None,
    ) -> list[OrderListItem]:
        self.searches.append({"customer_id": customer_id, "attention": attention})
        return [
            listed(o)
            for o in self.known.values()
            if customer_id in (None, o.customer["id"]) and attention in (None, o.attention is not None)
        ]


@pytest.fixture
def queries() -> SearchableQueries:
    return SearchableQueries({"W-1": stuck_order(), "W-2": summary("W-2", "C-1")})


@pytest.fixture
def http(queries: SearchableQueries) -> Iterator[TestClient]:
    app = FastAPI()
    app.include_router(orders.router)
    app.state.tokens = parse_tokens(TOKENS, production=False)
    app.state.services = FakeServices(client=FakeWorkflows(), queries=queries)
    with TestClient(app) as client:
        yield client


@pytest.mark.parametrize("headers", [AS_AGENT, AS_OPERATOR])
def test_agents_see_why_the_order_needs_a_person_and_since_when(http: TestClient, headers: dict[str, str]) -> None:
    # given order W-1, stuck at its warehouse
    # when an agent reads it
    response = http.get("/v1/orders/W-1", headers=headers)
    # then the summary says why, since when, with the fraud score and the whole timeline
    assert response.status_code == 200
    body = response.json()
    assert body["attention"] == {"reason": STUCK.reason, "since": "2026-11-03T08:00:00Z"}
    assert body["fraud_score"] == 35
    assert [t["type"] for t in body["timeline"]] == ["OrderPlaced", "FraudScreened", "AttentionNeeded"]


@pytest.mark.parametrize("headers", [AS_CUSTOMER_1, AS_STOREFRONT])
def test_customers_and_storefronts_see_neither_the_attention_nor_the_fraud_score(
    http: TestClient, headers: dict[str, str]
) -> None:
    # given the same order
    # when its customer (or the storefront) reads it
    response = http.get("/v1/orders/W-1", headers=headers)
    # then nothing says a person must look or what the fraud screen scored, not even the timeline
    assert response.status_code == 200
    body = response.json()
    assert body["attention"] is None
    assert body["fraud_score"] is None
    assert [t["type"] for t in body["timeline"]] == ["OrderPlaced"]
    assert "DC-1" not in response.text and "scored" not in response.text


def test_an_order_that_needs_nobody_shows_null_attention_to_agents(http: TestClient) -> None:
    response = http.get("/v1/orders/W-2", headers=AS_AGENT)
    assert response.status_code == 200
    assert response.json()["attention"] is None


def test_agents_list_the_orders_that_need_a_person(http: TestClient, queries: SearchableQueries) -> None:
    # given two orders of C-1, one stuck
    # when an agent lists the orders that need attention
    response = http.get("/v1/orders", params={"attention": "true"}, headers=AS_AGENT)
    # then the read model is asked for those only, and the stuck order comes back with why
    assert response.status_code == 200
    assert queries.searches[-1]["attention"] is True
    assert [(o["order_id"], o["attention"]["reason"]) for o in response.json()] == [("W-1", STUCK.reason)]
    # and attention=false lists the others
    calm = http.get("/v1/orders", params={"attention": "false"}, headers=AS_AGENT)
    assert [o["order_id"] for o in calm.json()] == ["W-2"]


def test_a_customers_list_hides_attention_and_refuses_to_filter_by_it(
    http: TestClient, queries: SearchableQueries
) -> None:
    # given the customer of both orders
    # when they list their orders
    mine = http.get("/v1/orders", headers=AS_CUSTOMER_1)
    # then both are listed, neither saying a person must look
    assert mine.status_code == 200
    assert [(o["order_id"], o["attention"]) for o in mine.json()] == [("W-1", None), ("W-2", None)]
    # when they ask for the orders that need attention
    asked = http.get("/v1/orders", params={"attention": "true"}, headers=AS_CUSTOMER_1)
    # then that is refused, and the read model was never asked
    assert asked.status_code == 403
    assert all(s["attention"] is None for s in queries.searches)


def test_the_attention_filter_is_in_the_openapi_document() -> None:
    app = FastAPI()
    app.include_router(orders.router)
    parameters = app.openapi()["paths"]["/v1/orders"]["get"]["parameters"]
    attention = next(p for p in parameters if p["name"] == "attention")
    assert attention["in"] == "query" and "need a person" in attention["description"]


@pytest.mark.parametrize(("flag", "sent"), [("--attention", "true"), ("--no-attention", "false")])
def test_oms_order_list_filters_by_attention(flag: str, sent: str) -> None:
    # given an API that answers with an empty list
    api = FakeApi(body=[])
    # when an agent lists orders with the attention flag
    assert oms(api, "order", "list", flag) == 0
    # then one GET of the orders asks for that filter
    assert (api.only.method, api.only.url.path) == ("GET", "/v1/orders")
    assert api.only.url.params.get("attention") == sent


def test_oms_order_list_without_the_flag_sends_no_attention_filter() -> None:
    api = FakeApi(body=[])
    assert cli.run(["order", "list", "--api-url", "http://oms.test", "--token", "t"], transport=api.transport) == 0
    assert "attention" not in api.only.url.params
