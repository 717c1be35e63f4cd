"""B2B orders on account, tax added on top (Canada) and Salesforce B2C Commerce intake, over HTTP through the
running system with the partner simulators on.

Each test lists products of its own (a fresh sku, stocked at DC-TOKYO) and opens accounts of its own, so what it
counts (credit, stock, invoices) is its alone on the session's shared stack.
"""

import json
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine, select

from store.ledger_tables import gateway_transactions
from store.tables import reservations
from tests.integration.conftest import POLL_INTERVAL, RunningStack, new_customer, wait_for_order, wait_for_status
from tests.orders import checkout_body

pytestmark = pytest.mark.integration

FIXTURES = Path(__file__).parents[1] / "fixtures" / "intake"
TORONTO = {
    "name": "Ada Lovelace",
    "line1": "290 Bremner Blvd",
    "city": "Toronto",
    "postal_code": "M5V 3L9",
    "country": "CA",
    "latitude": 43.6426,
    "longitude": -79.3871,
}


@pytest.fixture(scope="module")
def as_operator(stack: RunningStack) -> Iterator[httpx.Client]:
    with stack.http("dev-operator") as client:
        yield client


@pytest.fixture(scope="module")
def as_agent(stack: RunningStack) -> Iterator[httpx.Client]:
    with stack.http("dev-agent") as client:
        yield client


@pytest.fixture(scope="module")
def as_storefront(stack: RunningStack) -> Iterator[httpx.Client]:
    with stack.http("dev-storefront") as client:
        yield client


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8].upper()}"


def stocked_product(operator: httpx.Client, prices: dict[str, str], sku: str | None = None, name: str = "") -> str:
    """A product the catalog sells at `prices` (a fresh sku unless named), with 100 more units at DC-TOKYO."""
    sku = sku or unique("IT-B2B")
    listed = operator.put(f"/v1/products/{sku}", json={"name": name or f"Integration {sku}", "prices": prices})
    assert listed.status_code == 200, listed.text
    received = operator.post(
        "/v1/inventory/adjustments",
        json={"location_id": "DC-TOKYO", "sku": sku, "delta": 100, "reason": "integration stock"},
    )
    assert received.status_code == 200, received.text
    return sku


def open_account(
    operator: httpx.Client,
    buyers: list[str],
    credit_limit: str = "100000",
    threshold: str | None = None,
    approvers: list[str] | None = None,
) -> str:
    account_id = unique("ACME")
    body = {
        "id": account_id,
        "name": f"ACME {account_id}",
        "terms": "net30",
        "credit_limit": credit_limit,
        "currency": "JPY",
        "approval_threshold": threshold,
        "buyers": buyers,
        "approvers": approvers or [],
    }
    opened = operator.post("/v1/accounts", json=body)
    assert opened.status_code == 201, opened.text
    assert Decimal(opened.json()["credit_used"]) == 0
    return account_id


def on_account(account_id: str, customer: dict[str, str], sku: str, quantity: int, **extra: Any) -> dict[str, Any]:
    """A b2b checkout of `quantity` units at 10,000 yen, invoiced to the account with a fresh purchase order."""
    return checkout_body(
        channel="b2b",
        customer=customer,
        lines=[{"sku": sku, "quantity": quantity, "unit_price": "10000"}],
        payment={"method": "invoice", "account_id": account_id, "purchase_order": unique("PO")},
        **extra,
    )


def statement(agent: httpx.Client, account_id: str) -> dict[str, Any]:
    found = agent.get(f"/v1/accounts/{account_id}")
    assert found.status_code == 200, found.text
    answer: dict[str, Any] = found.json()
    return answer


def credit(agent: httpx.Client, account_id: str) -> tuple[Decimal, Decimal]:
    s = statement(agent, account_id)
    return Decimal(s["credit_used"]), Decimal(s["credit_available"])


def invoices_of(agent: httpx.Client, order_id: str, timeout: float = 20) -> list[dict[str, Any]]:
    """The order's invoice documents, once there is one (documents are written a little after the capture)."""
    deadline = time.monotonic() + timeout
    while True:
        listed = agent.get(f"/v1/orders/{order_id}/documents")
        assert listed.status_code == 200, listed.text
        found = [d for d in listed.json() if d["kind"] == "invoice"]
        if found or time.monotonic() > deadline:
            return found
        time.sleep(POLL_INTERVAL)


def card_rows(ledger: Engine, order_id: str) -> list[Any]:
    with ledger.connect() as conn:
        return list(
            conn.execute(select(gateway_transactions).where(gateway_transactions.c.merchant_reference == order_id))
        )


def yen(*amounts: int) -> tuple[Decimal, ...]:
    return tuple(Decimal(a) for a in amounts)


def test_an_order_on_account_is_invoiced_on_net_terms_and_the_payment_restores_the_credit(
    as_operator: httpx.Client, as_agent: httpx.Client, as_storefront: httpx.Client, ledger: Engine
) -> None:
    # given an account with 100,000 yen of credit whose buyer orders 2 units on it, to be delivered in two weeks
    customer = new_customer()
    sku = stocked_product(as_operator, {"JPY": "10000"})
    account_id = open_account(as_operator, buyers=[customer["id"]])
    wanted = (datetime.now(UTC).date() + timedelta(days=14)).isoformat()
    body = on_account(account_id, customer, sku, 2, requested_delivery_date=wanted)
    purchase_order = body["payment"]["purchase_order"]

    # when it is posted
    placed = as_storefront.post("/v1/orders", json=body)

    # then it is accepted, and no card is authorized: only the OMS's own ledger holds it
    assert placed.status_code == 201, placed.text
    assert placed.json()["status"] == "accepted"
    order_id = body["order_id"]
    listed = as_agent.get(f"/v1/orders/{order_id}/payments")
    assert listed.status_code == 200, listed.text
    assert listed.json() and all(tx["transaction_id"].startswith("own_") for tx in listed.json()), listed.json()
    assert [tx["type"] for tx in listed.json()][:1] == ["authorize"]
    assert card_rows(ledger, order_id) == []

    # and the simulators deliver it; the order says how it is paid and when it is wanted
    delivered = wait_for_status(as_agent, order_id, "delivered")
    assert delivered["payment_method"] == {
        "method": "invoice",
        "account_id": account_id,
        "purchase_order": purchase_order,
        "terms": "net30",
    }
    assert delivered["requested_delivery_date"] == wanted
    assert card_rows(ledger, order_id) == []

    # and its invoice names the purchase order and the terms, due 30 days after it was issued
    invoices = invoices_of(as_agent, order_id)
    assert len(invoices) == 1, invoices
    invoice = invoices[0]
    issued = datetime.fromisoformat(invoice["issued_at"]).date()
    due = (issued + timedelta(days=30)).isoformat()
    assert invoice["payment"] == {
        "method": "invoice",
        "account_id": account_id,
        "purchase_order": purchase_order,
        "terms": "net30",
        "due_date": due,
    }
    assert Decimal(invoice["total"]) == 20000

    # and the account's statement holds the invoiced 20,000 and shows the invoice open, not overdue
    owed = statement(as_agent, account_id)
    assert (Decimal(owed["credit_used"]), Decimal(owed["credit_available"])) == yen(20000, 80000)
    assert Decimal(owed["receivable"]) == 20000
    assert [(i["order_id"], i["due_date"], Decimal(i["open"]), i["overdue"]) for i in owed["invoices"]] == [
        (order_id, due, Decimal(20000), False)
    ]

    # when the account pays the invoice
    paid = as_operator.post(
        f"/v1/accounts/{account_id}/payments", json={"reference": unique("BANK"), "amount": "20000"}
    )

    # then the credit is back and the invoice is settled
    assert paid.status_code == 201, paid.text
    after = statement(as_agent, account_id)
    assert (Decimal(after["credit_used"]), Decimal(after["credit_available"])) == yen(0, 100000)
    assert (Decimal(after["paid"]), Decimal(after["receivable"])) == yen(20000, 0)
    assert [Decimal(i["open"]) for i in after["invoices"]] == [0]


def test_an_order_above_the_credit_left_is_402_and_a_non_buyer_403(
    as_operator: httpx.Client, as_agent: httpx.Client, as_storefront: httpx.Client, ledger: Engine
) -> None:
    # given an account with 30,000 yen of credit, 20,000 of it held by an accepted order
    buyer = new_customer()
    sku = stocked_product(as_operator, {"JPY": "10000"})
    account_id = open_account(as_operator, buyers=[buyer["id"]], credit_limit="30000")
    first = as_storefront.post("/v1/orders", json=on_account(account_id, buyer, sku, 2))
    assert first.status_code == 201, first.text
    # (the first order's invoice may come while the test runs: it changes what is owed, not the credit held)
    assert credit(as_agent, account_id) == yen(20000, 10000)

    # when the buyer orders another 20,000 on it
    second = on_account(account_id, buyer, sku, 2)
    refused = as_storefront.post("/v1/orders", json=second)

    # then it is declined with what is left, and nothing holds credit or stock for it
    assert refused.status_code == 402, refused.text
    assert "10000" in refused.json()["detail"], refused.json()
    assert credit(as_agent, account_id) == yen(20000, 10000)
    with ledger.connect() as conn:
        held = conn.execute(select(reservations).where(reservations.c.order_id == second["order_id"])).all()
    assert held == []

    # and a customer who is not one of its buyers may not order on it at all
    stranger = on_account(account_id, new_customer(), sku, 1)
    forbidden = as_storefront.post("/v1/orders", json=stranger)
    assert forbidden.status_code == 403, forbidden.text
    assert as_agent.get(f"/v1/orders/{stranger['order_id']}").status_code == 404
    assert credit(as_agent, account_id) == yen(20000, 10000)


def test_an_order_above_the_threshold_waits_for_approval(
    as_operator: httpx.Client, as_agent: httpx.Client, as_storefront: httpx.Client, stack: RunningStack
) -> None:
    # given an account whose orders above 15,000 yen wait for an approver (C-1, the dev customer)
    buyer = new_customer()
    sku = stocked_product(as_operator, {"JPY": "10000"})
    account_id = open_account(as_operator, buyers=[buyer["id"]], threshold="15000", approvers=["C-1"])

    # when the buyer orders 20,000 on it
    body = on_account(account_id, buyer, sku, 2)
    placed = as_storefront.post("/v1/orders", json=body)

    # then it is taken but on hold, holding its credit, and nothing ships while nobody decides
    assert placed.status_code == 201, placed.text
    assert placed.json()["status"] == "on_hold"
    assert credit(as_agent, account_id) == yen(20000, 80000)
    time.sleep(3)  # fifteen simulator steps: time enough to ship anything handed to a location
    waiting = wait_for_status(as_agent, body["order_id"], "on_hold")
    assert waiting["shipments"] == [] and all(line["shipped"] == 0 for line in waiting["lines"]), waiting

    # when an agent approves it
    approved = as_agent.post(
        f"/v1/orders/{body['order_id']}/approval", json={"decision": "approve", "reason": "budgeted for Q4"}
    )

    # then it ships and is delivered
    assert approved.status_code == 200, approved.text
    delivered = wait_for_status(as_agent, body["order_id"], "delivered")
    assert delivered["lines"][0]["delivered"] == 2
    assert delivered["shipments"][0]["tracking_number"]

    # and when the account's approver rejects another order above the threshold
    other = on_account(account_id, buyer, sku, 2)
    held = as_storefront.post("/v1/orders", json=other)
    assert held.status_code == 201 and held.json()["status"] == "on_hold", held.text
    assert credit(as_agent, account_id) == yen(40000, 60000)
    with stack.http("dev-customer") as approver:
        rejected = approver.post(
            f"/v1/orders/{other['order_id']}/approval", json={"decision": "reject", "reason": "not budgeted"}
        )

    # then it ends canceled and gives its credit back
    assert rejected.status_code == 200, rejected.text
    canceled = wait_for_status(as_agent, other["order_id"], "canceled")
    assert canceled["shipments"] == []
    assert credit(as_agent, account_id) == yen(20000, 80000)


def test_a_delivered_order_on_account_is_ordered_again_at_todays_prices(
    as_operator: httpx.Client, as_agent: httpx.Client, as_storefront: httpx.Client
) -> None:
    # given a delivered order of 2 units at 10,000 yen on account, whose product now sells at 12,000
    buyer = new_customer()
    sku = stocked_product(as_operator, {"JPY": "10000"})
    account_id = open_account(as_operator, buyers=[buyer["id"]])
    past = on_account(account_id, buyer, sku, 2)
    assert as_storefront.post("/v1/orders", json=past).status_code == 201
    wait_for_status(as_agent, past["order_id"], "delivered")
    repriced = as_operator.put(f"/v1/products/{sku}", json={"name": f"Integration {sku}", "prices": {"JPY": "12000"}})
    assert repriced.status_code == 200, repriced.text

    # when the storefront orders it again under a new purchase order
    again_id, purchase_order = unique("T-RE"), unique("PO")
    again = as_storefront.post(
        f"/v1/orders/{past['order_id']}/reorder", json={"order_id": again_id, "purchase_order": purchase_order}
    )

    # then a new order has the same lines at the catalog's price, on the same account
    assert again.status_code == 201, again.text
    assert again.json()["order_id"] == again_id
    summary = as_agent.get(f"/v1/orders/{again_id}").json()
    assert [(ln["sku"], ln["ordered"], Decimal(ln["unit_price"])) for ln in summary["lines"]] == [
        (sku, 2, Decimal(12000))
    ]
    assert Decimal(summary["total"]) == 24000
    assert summary["customer"]["id"] == buyer["id"]
    assert summary["payment_method"] == {
        "method": "invoice",
        "account_id": account_id,
        "purchase_order": purchase_order,
        "terms": "net30",
    }
    assert credit(as_agent, account_id) == yen(20000 + 24000, 100000 - 44000)


def test_an_order_to_toronto_is_charged_ontarios_13_percent_on_top(
    as_operator: httpx.Client, as_agent: httpx.Client, as_storefront: httpx.Client
) -> None:
    # given a product sold at 100.00 Canadian dollars, ordered twice to Toronto (Ontario: HST 13 %) by card
    sku = stocked_product(as_operator, {"JPY": "10000", "CAD": "100.00"})
    body = checkout_body(
        customer=new_customer(),
        currency="CAD",
        lines=[{"sku": sku, "quantity": 2, "unit_price": "100.00"}],
        shipping_address=TORONTO,
    )

    # when it is posted
    placed = as_storefront.post("/v1/orders", json=body)

    # then it authorizes the prices and their tax, and the minor unit per taxed line README's Tax says it holds
    assert placed.status_code == 201, placed.text
    authorizations = [
        tx for tx in as_agent.get(f"/v1/orders/{body['order_id']}/payments").json() if tx["type"] == "authorize"
    ]
    assert [(Decimal(tx["amount"]), tx["currency"]) for tx in authorizations] == [(Decimal("226.01"), "CAD")]

    # and once delivered it captured the prices and tax, what it authorized less what it voided
    delivered = wait_for_status(as_agent, body["order_id"], "delivered")
    paid = {k: Decimal(v) for k, v in delivered["payment"].items()}
    assert paid["authorized"] == Decimal("226.01")
    assert paid["captured"] == Decimal("226.00")
    assert paid["captured"] == paid["authorized"] - paid["voided"], paid

    # and its tax is Ontario's, added on top of the prices
    assert delivered["prices_include_tax"] is False
    assert [{k: Decimal(v) for k, v in rate.items()} for rate in delivered["tax"]] == [
        {"rate": Decimal("0.13"), "taxable": Decimal("200.00"), "tax": Decimal("26.00")}
    ]


def test_a_salesforce_commerce_order_is_taken_once(
    as_operator: httpx.Client, as_agent: httpx.Client, as_storefront: httpx.Client
) -> None:
    # given Salesforce's sample order document under an order number of this run, its sku sold and stocked
    document = json.loads((FIXTURES / "sfcc_order.json").read_text())
    sku = document["productItems"][0]["productId"]
    known = as_operator.get(f"/v1/products/{sku}")  # another test may sell it already: its prices and name stay
    existing: dict[str, Any] = known.json() if known.status_code == 200 else {"prices": {}, "name": ""}
    stocked_product(as_operator, {**existing["prices"], "USD": "99.00"}, sku=sku, name=existing["name"])
    order_no = uuid.uuid4().hex[:12]
    document["orderNo"] = order_no
    order_id = f"sfcc-{order_no}"

    # when the storefront posts it
    first = as_storefront.post("/v1/intake/sfcc", json=document)

    # then it is placed as our order, and appears
    assert first.status_code == 201, first.text
    assert first.json()["order_id"] == order_id
    summary = wait_for_order(as_agent, order_id, lambda _: True, "the order")
    assert [(ln["sku"], ln["ordered"], Decimal(ln["unit_price"])) for ln in summary["lines"]] == [
        (sku, 1, Decimal("99.00"))
    ]
    assert (summary["currency"], summary["channel"]) == ("USD", "web")
    assert (summary["payment_method"] or {}).get("method") == "prepaid", summary["payment_method"]

    # and the same document again is the same order, and starts nothing
    again = as_storefront.post("/v1/intake/sfcc", json=document)
    assert again.status_code == 200, again.text
    assert again.json()["order_id"] == order_id
    authorizations = [tx for tx in as_agent.get(f"/v1/orders/{order_id}/payments").json() if tx["type"] == "authorize"]
    assert len(authorizations) == 1, authorizations
