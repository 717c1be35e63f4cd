"""The agent console's pages to read: the search and its filters, the order 360 view, the customer record, and
placing an order on a customer's behalf."""

import json
from datetime import date

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from starter.web.portals import CONSOLE
from store.console_queries import OrderFilters
from tests.orders import checkout_body
from tests.pages import CHECKOUT_FORM, Services, csrf_of, order_w1, page_app, sign_in


@pytest.fixture
def served() -> tuple[FastAPI, Services]:
    return page_app()


@pytest.fixture
def agent(served: tuple[FastAPI, Services]) -> TestClient:
    http = TestClient(served[0])
    sign_in(http, CONSOLE, "t-agent")
    return http


def test_the_search_takes_every_filter(agent: TestClient, served: tuple[FastAPI, Services]) -> None:
    # given an agent on the console
    services = served[1]
    # when they search by customer, e-mail, status, channel, days placed and attention
    page = agent.get(
        "/console",
        params={
            "customer_id": "C-1",
            "email": "C1@Example.com",
            "status": "delivered",
            "channel": "web",
            "placed_from": "2025-01-01",
            "placed_to": "2025-01-31",
            "attention": "yes",
        },
    )
    # then the query is asked with each of them, and the results link to the order and its customer
    assert page.status_code == 200
    assert services.console.searched == [
        OrderFilters(
            customer_id="C-1",
            email="C1@Example.com",
            status="delivered",
            channel="web",
            placed_from=date(2025, 1, 1),
            placed_to=date(2025, 1, 31),
            attention=True,
        )
    ]
    assert "<h1>Orders</h1>" in page.text
    assert 'href="/console/orders/W-1"' in page.text
    assert 'href="/console/customers/C-1"' in page.text
    assert "the refund was refused by the gateway" in page.text


def test_a_search_with_a_day_that_is_not_one_says_so_and_asks_nothing(
    agent: TestClient, served: tuple[FastAPI, Services]
) -> None:
    page = agent.get("/console", params={"placed_from": "yesterday"})
    assert page.status_code == 422
    assert "Placed from is not a date (YYYY-MM-DD): yesterday" in page.text
    assert served[1].console.searched == []


def test_a_status_or_channel_the_system_does_not_have_is_no_filter(
    agent: TestClient, served: tuple[FastAPI, Services]
) -> None:
    agent.get("/console", params={"status": "lost", "channel": "fax", "attention": "no"})
    assert served[1].console.searched == [OrderFilters(attention=False)]


def test_the_order_360_view_shows_every_part_of_the_order(agent: TestClient) -> None:
    # given C-1's order W-1 (delivered in part, canceled in part, a return open, an exchange, a refund refused)
    # when the agent opens it
    page = agent.get("/console/orders/W-1")
    text = page.text
    # then every section is there with what it is about
    assert page.status_code == 200
    assert "<h1>Order W-1</h1>" in text
    for heading in (
        "Summary",
        "Attention",
        "Lines",
        "Fulfillment orders",
        "Shipments",
        "Payments",
        "Returns and exchanges",
        "Timeline",
        "Actions",
    ):
        assert f">{heading}</h2>" in text, heading
    # the quantities of the line: ordered 3, allocated 2, canceled 1, shipped 2, delivered 2, returned 1
    row = text[text.index("<td>LEGO-76419</td>") :].split("</tr>")[0]
    assert [cell.split("</td>")[0] for cell in row.split('<td class="number">')[1:]] == [
        "24,980 JPY",
        "3",
        "2",
        "1",
        "2",
        "2",
        "1",
    ]
    assert "YMT-123" in text and "DC-TOKYO" in text
    assert "tx-auth-1" in text and "order-W-1:authorize:1" in text
    assert "RMA-W-1-1" in text and "yamato-RET-ABC" in text
    assert "Exchange W-1-X1 by agent:A-7" in text
    assert "Canceled 1 x LEGO-76419: asked" in text
    assert "the refund was refused by the gateway" in text
    assert 'href="http://127.0.0.1:8233/namespaces/default/workflows/order-W-1"' in text
    for button in ("Retry", "Cancel lines", "Start return", "Exchange", "Grant appeasement", "Reship"):
        assert f'<button type="submit">{button}</button>' in text, button


def test_the_review_is_offered_while_the_order_is_on_hold_and_the_pickup_while_it_waits_at_the_store(
    agent: TestClient, served: tuple[FastAPI, Services]
) -> None:
    # given an order that is not on hold: no review form
    assert 'value="approve"' not in agent.get("/console/orders/W-1").text
    # given one on hold, with a fulfillment order waiting at its store
    waiting = order_w1().fulfillment_orders[0].model_copy(update={"status": "ready_for_pickup"})
    served[1].queries.orders["W-1"] = order_w1(status="on_hold", fulfillment_orders=[waiting])
    # when the agent opens it, then they may approve or reject, and hand it over at the counter
    text = agent.get("/console/orders/W-1").text
    assert '<button type="submit" name="decision" value="approve">Approve</button>' in text
    assert 'value="reject" class="secondary">Reject</button>' in text
    assert "Picked up at the counter" in text


def test_an_operator_sees_the_order_and_may_only_retry(served: tuple[FastAPI, Services]) -> None:
    http = TestClient(served[0])
    sign_in(http, CONSOLE, "t-operator")
    text = http.get("/console/orders/W-1").text
    assert '<button type="submit">Retry</button>' in text
    assert "Cancel lines" not in text and "Grant appeasement" not in text
    assert "Place an order" not in text


def test_an_order_that_is_not_there_is_a_404_page(agent: TestClient) -> None:
    page = agent.get("/console/orders/W-404")
    assert page.status_code == 404
    assert "There is no order W-404." in page.text


def test_the_customer_page_shows_the_profile_the_orders_and_what_they_spent_and_got_back(agent: TestClient) -> None:
    page = agent.get("/console/customers/C-1")
    assert page.status_code == 200
    assert "<h1>Customer C-1</h1>" in page.text
    assert "c1@example.com" in page.text and "Aiko Sato" in page.text
    assert 'href="/console/orders/W-1"' in page.text
    assert "74,940 JPY" in page.text and "49,960 JPY" in page.text and "500 JPY" in page.text
    assert agent.get("/console/customers/C-404").status_code == 404


def test_an_order_placed_on_a_customers_behalf_is_the_agents_on_the_agent_channel(
    agent: TestClient, served: tuple[FastAPI, Services]
) -> None:
    # given the form for C-1, prefilled from their latest order
    form = agent.get("/console/place", params={"customer_id": "C-1"})
    assert 'value="c1@example.com"' in form.text and 'value="1-1 Marunouchi"' in form.text
    # when the agent places the order
    answer = agent.post(
        "/console/place", data={**CHECKOUT_FORM, "csrf_token": csrf_of(form.text)}, follow_redirects=False
    )
    # then it is placed through the checkout, on the agent channel, recorded as agent A-7's
    assert answer.status_code == 303, answer.text
    assert answer.headers["location"] == "/console/orders/A-1"
    [placed] = served[1].client.checkouts
    assert (placed.order_id, placed.channel, placed.placed_by) == ("A-1", "agent", "agent:A-7")
    assert placed.payment.token == "pm_test"  # the card went to the gateway, not into the order
    assert "Order A-1 placed for C-1: accepted." in agent.get("/console/orders/W-1").text


def test_a_declined_order_on_behalf_shows_why_and_offers_another_try(
    agent: TestClient, served: tuple[FastAPI, Services]
) -> None:
    served[1].client.checkout_status = "payment_declined"
    form = agent.get("/console/place")
    answer = agent.post("/console/place", data={**CHECKOUT_FORM, "csrf_token": csrf_of(form.text)})
    assert answer.status_code == 402
    assert "Order A-1 was not accepted: the card was declined" in answer.text
    assert 'value="A-1"' not in answer.text  # a new order id for the next try


def test_an_order_on_behalf_with_a_field_wrong_is_refused_at_the_form(
    agent: TestClient, served: tuple[FastAPI, Services]
) -> None:
    form = agent.get("/console/place")
    answer = agent.post("/console/place", data={**CHECKOUT_FORM, "country": "Japan", "csrf_token": csrf_of(form.text)})
    assert answer.status_code == 422
    assert "shipping_address country" in answer.text
    assert served[1].client.checkouts == []


def test_who_placed_an_order_comes_from_the_token_never_from_the_body(served: tuple[FastAPI, Services]) -> None:
    # given a storefront's checkout claiming an agent placed it, and the same order sent by agent A-7
    app, services = served
    http = TestClient(app)
    body = checkout_body("W-9", placed_by="agent:A-999")
    # when each posts it to the JSON checkout
    for order_id, token in (("W-9", "t-store"), ("W-10", "t-agent")):
        answer = http.post(
            "/v1/orders", json={**body, "order_id": order_id}, headers={"Authorization": f"Bearer {token}"}
        )
        assert answer.status_code == 201, answer.text
    # then the storefront's order names nobody (its customer placed it), the agent's names the agent
    assert [order.placed_by for order in services.client.checkouts] == [None, "agent:A-7"]
    # and the contract's schema does not offer the field
    assert "placed_by" not in json.dumps(app.openapi())


def test_a_line_without_a_price_takes_the_catalogs(agent: TestClient, served: tuple[FastAPI, Services]) -> None:
    # given the order form with a line whose price the agent left blank
    form = agent.get("/console/place")
    # when it is placed
    answer = agent.post(
        "/console/place",
        data={**CHECKOUT_FORM, "unit_price": "", "csrf_token": csrf_of(form.text)},
        follow_redirects=False,
    )
    # then the line costs what the catalog sells it for in the order's currency
    assert answer.status_code == 303, answer.text
    [placed] = served[1].client.checkouts
    assert [(line.sku, line.unit_price) for line in placed.lines] == [("LEGO-76419", 24980)]
