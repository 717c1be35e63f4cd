"""Orders followed over HTTP through the running system, with the partner simulators on."""

import json
import os
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import httpx
import pytest
from sqlalchemy import Engine, select
from temporalio.client import Client
from temporalio.service import RPCError

from domain.ids import workflow_id_for
from store.ledger_tables import gateway_transactions
from store.tables import reservations
from tests.integration.conftest import RunningStack, new_customer, wait_for_status
from tests.orders import checkout_body

pytestmark = pytest.mark.integration


def ledger_rows(ledger: Engine, order_id: str) -> list[tuple[str, str, Decimal]]:
    t = gateway_transactions.c
    with ledger.connect() as conn:
        rows = conn.execute(
            select(t.kind, t.status, t.amount).where(t.merchant_reference == order_id).order_by(t.created_at)
        ).all()
    return [(r[0], r[1], r[2]) for r in rows]


def test_health_needs_no_token(stack: RunningStack) -> None:
    response = httpx.get(f"{stack.api_url}/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_an_order_runs_to_delivery_and_completion_on_its_own(stack: RunningStack, ledger: Engine) -> None:
    # given a storefront checkout for one in-stock item
    body = checkout_body(customer=new_customer())
    with stack.http() as storefront, stack.http("dev-agent") as agent:
        # when it is posted
        response = storefront.post("/v1/orders", json=body)

        # then it is accepted in the same request
        assert response.status_code == 201, response.text
        assert response.json()["status"] == "accepted"
        assert response.json()["total"] == "24980"

        # and the simulated warehouse and carrier take it to delivered, then the window closes
        delivered = wait_for_status(agent, body["order_id"], "delivered")
        assert delivered["lines"][0]["delivered"] == 1
        assert delivered["shipments"][0]["tracking_number"].startswith("YMT")
        completed = wait_for_status(agent, body["order_id"], "completed")

    # and exactly what shipped was captured and invoiced, once
    assert completed["payment"] == {"authorized": "24980", "captured": "24980", "refunded": "0", "voided": "0"}
    assert [i["amount"] for i in completed["invoices"]] == ["24980"]
    assert ledger_rows(ledger, body["order_id"]) == [
        ("authorize", "succeeded", Decimal(24980)),
        ("capture", "succeeded", Decimal(24980)),
    ]
    types = [t["type"] for t in completed["timeline"]]
    assert types[:3] == ["OrderPlaced", "FraudScreened", "PaymentAuthorized"]
    assert types[-1] == "OrderCompleted"


def test_posting_the_same_order_again_never_authorizes_twice(stack: RunningStack, ledger: Engine) -> None:
    # given an accepted order
    body = checkout_body(customer=new_customer())
    with stack.http() as storefront, stack.http("dev-agent") as agent:
        first = storefront.post("/v1/orders", json=body)
        assert first.status_code == 201

        # when the storefront posts it again while it runs, and again after it completed
        again = storefront.post("/v1/orders", json=body)
        wait_for_status(agent, body["order_id"], "completed")
        after_close = storefront.post("/v1/orders", json=body)

    # then each answer names the same order, and the gateway authorized once, reserved once
    assert again.status_code == 201 and again.json() == first.json()
    assert after_close.status_code == 201
    assert after_close.json()["order_id"] == body["order_id"]
    assert after_close.json()["fulfillment_order_ids"] == first.json()["fulfillment_order_ids"]
    kinds = [kind for kind, _, _ in ledger_rows(ledger, body["order_id"])]
    assert kinds.count("authorize") == 1
    with ledger.connect() as conn:
        held = conn.execute(select(reservations).where(reservations.c.order_id == body["order_id"])).all()
    assert len(held) == 1


async def test_the_card_token_never_enters_the_orders_history(stack: RunningStack, temporal: Client) -> None:
    # given a checkout paying with a card token
    body = checkout_body(customer=new_customer(), payment={"method": "card", "token": "tok_visa"})
    with stack.http() as storefront:
        # when it is accepted
        assert storefront.post("/v1/orders", json=body).status_code == 201
    # then no payload of its history, decrypted, holds the token: the order pays by the gateway's reference
    history = await temporal.get_workflow_handle(workflow_id_for(body["order_id"])).fetch_history()
    codec = temporal.data_converter.payload_codec
    stored = [p for e in history.events for p in e.workflow_execution_started_event_attributes.input.payloads]
    plain = [p.data.decode() for p in (await codec.decode(stored) if codec else stored)]
    assert plain and all("tok_visa" not in text for text in plain)
    placed = json.loads(plain[0])["order"]
    assert placed["payment"]["token"].startswith("pm_")


def test_a_declined_card_gets_402_and_nothing_is_reserved(stack: RunningStack, ledger: Engine) -> None:
    body = checkout_body(payment={"method": "card", "token": "tok_decline"})
    with stack.http() as storefront:
        response = storefront.post("/v1/orders", json=body)
    assert response.status_code == 402, response.text
    assert "declined" in response.json()["detail"]
    assert response.json()["status"] == "payment_declined"
    assert ledger_rows(ledger, body["order_id"]) == [("authorize", "declined", Decimal(24980))]
    with ledger.connect() as conn:
        assert conn.execute(select(reservations).where(reservations.c.order_id == body["order_id"])).all() == []


def test_missing_stock_gets_409_and_the_authorization_is_voided(stack: RunningStack, ledger: Engine) -> None:
    # given a sku the catalog sells but no location stocks
    body = checkout_body(lines=[{"sku": "NOT-STOCKED-1", "quantity": 1, "unit_price": "24980"}])
    with stack.http("dev-operator") as operator:
        listed = operator.put("/v1/products/NOT-STOCKED-1", json={"name": "Never stocked", "prices": {"JPY": "24980"}})
        assert listed.status_code == 200, listed.text
    # when it is ordered
    with stack.http() as storefront:
        response = storefront.post("/v1/orders", json=body)
    # then checkout refuses it with the sku named, and the authorization is voided
    assert response.status_code == 409, response.text
    assert "NOT-STOCKED-1" in response.json()["detail"]
    assert [(k, s) for k, s, _ in ledger_rows(ledger, body["order_id"])] == [
        ("authorize", "succeeded"),
        ("void", "succeeded"),
    ]


def test_a_flaky_gateway_is_retried_into_one_authorization(stack: RunningStack, ledger: Engine) -> None:
    body = checkout_body(payment={"method": "card", "token": "tok_flaky"})
    with stack.http() as storefront:
        response = storefront.post("/v1/orders", json=body)
    assert response.status_code == 201, response.text
    assert ledger_rows(ledger, body["order_id"]) == [("authorize", "succeeded", Decimal(24980))]


async def test_a_sku_the_catalog_does_not_know_gets_422_and_starts_nothing(
    stack: RunningStack, temporal: Client
) -> None:
    # given a checkout of a sku the catalog has never had
    body = checkout_body(lines=[{"sku": "NOT-IN-CATALOG-1", "quantity": 1, "unit_price": "100"}])
    # when it is ordered
    with stack.http() as storefront, stack.http("dev-agent") as agent:
        response = storefront.post("/v1/orders", json=body)
        # then it is refused naming the sku, and there is no order
        assert response.status_code == 422 and "NOT-IN-CATALOG-1" in response.json()["detail"]
        assert agent.get(f"/v1/orders/{body['order_id']}").status_code == 404
    with pytest.raises(RPCError, match="not found"):
        await temporal.get_workflow_handle(workflow_id_for(body["order_id"])).describe()


async def test_an_invalid_body_gets_422_and_starts_nothing(stack: RunningStack, temporal: Client) -> None:
    body = checkout_body(lines=[{"sku": "LEGO-76419", "quantity": 0, "unit_price": "24980"}])
    with stack.http() as storefront, stack.http("dev-agent") as agent:
        response = storefront.post("/v1/orders", json=body)
        assert response.status_code == 422
        assert "quantity" in response.text
        assert agent.get(f"/v1/orders/{body['order_id']}").status_code == 404
    with pytest.raises(RPCError, match="not found"):
        await temporal.get_workflow_handle(workflow_id_for(body["order_id"])).describe()


def test_tokens_and_roles_are_enforced(stack: RunningStack) -> None:
    body = checkout_body()
    assert httpx.post(f"{stack.api_url}/v1/orders", json=body).status_code == 401
    with stack.http("not-a-token") as stranger:
        assert stranger.post("/v1/orders", json=body).status_code == 401
    with stack.http("dev-partner") as partner:
        refused = partner.post("/v1/orders", json=body)
        assert refused.status_code == 403
        assert "partner" in refused.json()["detail"]


async def test_operators_and_agents_find_orders_by_customer_status_and_channel(
    stack: RunningStack, temporal: Client
) -> None:
    # given an order of a new customer through the app channel
    customer = new_customer()
    body = checkout_body(customer=customer, channel="app")
    with stack.http() as storefront, stack.http("dev-agent") as agent:
        assert storefront.post("/v1/orders", json=body).status_code == 201
        wait_for_status(agent, body["order_id"], "completed")
        # when an agent searches the read model
        found = agent.get("/v1/orders", params={"customer_id": customer["id"], "channel": "app"}).json()
    # then it is there
    assert [o["order_id"] for o in found] == [body["order_id"]]

    # and operators find it in Temporal by its search attributes
    query = f"CustomerId='{customer['id']}' AND Channel='app' AND OrderStatus='completed'"
    ids = [wf.id async for wf in temporal.list_workflows(query)]
    assert ids == [f"order-{body['order_id']}"]
    described = await temporal.get_workflow_handle(ids[0]).describe()
    summary = await described.static_summary()
    assert summary is not None and body["order_id"] in summary


def test_a_customer_sees_only_their_own_orders(stack: RunningStack) -> None:
    with stack.http("dev-customer") as customer:
        assert customer.get("/v1/orders", params={"customer_id": "C-someone-else"}).status_code == 403
        mine = customer.get("/v1/orders")
    assert mine.status_code == 200
    assert all(o["customer_id"] == "C-1" for o in mine.json())


def test_an_engineer_replays_a_live_order_against_the_working_tree(stack: RunningStack) -> None:
    # given an order that ran its whole life
    body = checkout_body()
    with stack.http() as storefront, stack.http("dev-agent") as agent:
        assert storefront.post("/v1/orders", json=body).status_code == 201
        wait_for_status(agent, body["order_id"], "completed")
    # when an engineer replays it with the oms command
    env = {**os.environ, "OMS_TEMPORAL_ADDRESS": stack.temporal_address}
    done = subprocess.run(
        [str(Path(sys.executable).parent / "oms"), "replay", body["order_id"]],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    # then the current code makes the same decisions
    assert done.returncode == 0, done.stderr
    assert "replays cleanly" in done.stdout
