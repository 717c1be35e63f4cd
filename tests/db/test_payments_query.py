"""An order's payment transactions, read from the simulated gateway's ledger in a real PostgreSQL."""

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from domain.ids import idempotency_key, workflow_id_for
from integrations.payments import CardDeclined, GatewayTransaction, SimulatedGateway
from starter.api import orders
from starter.api.auth import parse_tokens
from store.read_model import OrderSummary

pytestmark = pytest.mark.db


@pytest.fixture
def gateway(engine: Engine) -> SimulatedGateway:
    return SimulatedGateway(engine, latency_ms=0)


def new_order_id() -> str:
    return f"W-{uuid.uuid4().hex[:10]}"


def key(order_id: str, step: str, n: object) -> str:
    return idempotency_key(workflow_id_for(order_id), step, n)


@dataclass
class PaidOrder:
    order_id: str
    auth: GatewayTransaction
    capture: GatewayTransaction
    refund: GatewayTransaction


def authorize_capture_refund(gateway: SimulatedGateway, order_id: str) -> PaidOrder:
    """What the order workflow does for a shipped order with a partial refund, in the workflow's key shape."""
    auth = gateway.authorize(key(order_id, "authorize", 1), order_id, "tok_visa", Decimal("24980"), "JPY")
    capture = gateway.capture(key(order_id, "capture", f"{order_id}-F1"), auth.id, Decimal("20000"))
    refund = gateway.refund(key(order_id, "refund", 1), capture.id, Decimal("500"))
    return PaidOrder(order_id, auth, capture, refund)


def test_an_orders_transactions_are_listed_oldest_first_with_their_keys(gateway: SimulatedGateway) -> None:
    # given an order authorized, captured and partly refunded
    paid = authorize_capture_refund(gateway, new_order_id())
    # when its transactions are read
    ledger = gateway.transactions(paid.order_id)
    # then they come in the order they happened, each with its kind, amount and idempotency key
    assert [(t.kind, t.amount, t.idempotency_key) for t in ledger] == [
        ("authorize", Decimal("24980"), key(paid.order_id, "authorize", 1)),
        ("capture", Decimal("20000"), key(paid.order_id, "capture", f"{paid.order_id}-F1")),
        ("refund", Decimal("500"), key(paid.order_id, "refund", 1)),
    ]
    # and each movement points at the transaction it moved money against
    assert [t.parent_id for t in ledger] == [None, paid.auth.id, paid.capture.id]
    assert [t.id for t in ledger] == [paid.auth.id, paid.capture.id, paid.refund.id]


def test_another_orders_transactions_are_not_mixed_in(gateway: SimulatedGateway) -> None:
    # given two orders whose ids share a prefix (W-1 and W-10), both paid
    base = new_order_id()
    first, second = authorize_capture_refund(gateway, base), authorize_capture_refund(gateway, f"{base}0")
    # when each order's transactions are read
    # then each sees its own three and none of the other's
    assert [t.id for t in gateway.transactions(first.order_id)] == [
        first.auth.id,
        first.capture.id,
        first.refund.id,
    ]
    assert {t.id for t in gateway.transactions(second.order_id)} == {
        second.auth.id,
        second.capture.id,
        second.refund.id,
    }


def test_a_replayed_request_shows_once_and_a_decline_shows_with_its_reason(gateway: SimulatedGateway) -> None:
    # given an order whose capture was retried with the same key, and another whose card was declined
    paid = authorize_capture_refund(gateway, new_order_id())
    gateway.capture(paid.capture.idempotency_key, paid.auth.id, Decimal("20000"))
    declined_order = new_order_id()
    with pytest.raises(CardDeclined):
        gateway.authorize(key(declined_order, "authorize", 1), declined_order, "tok_decline", Decimal("100"), "JPY")
    # when their transactions are read
    # then the retried capture is one transaction, as the customer was charged once
    assert [t.kind for t in gateway.transactions(paid.order_id)] == ["authorize", "capture", "refund"]
    # and the declined authorization is there, with the issuer's reason
    [declined] = gateway.transactions(declined_order)
    assert (declined.kind, declined.status, declined.decline_reason) == (
        "authorize",
        "declined",
        "card declined by the issuer",
    )


def test_an_order_that_never_paid_has_no_transactions(gateway: SimulatedGateway) -> None:
    assert gateway.transactions(new_order_id()) == []


# ---------------------------------------------------------------- the same, through GET /v1/orders/{id}/payments


@dataclass
class KnownOrders:
    """The read model reduced to what the route asks of it: does the order exist, and whose is it."""

    known: dict[str, OrderSummary]

    def get(self, order_id: str) -> OrderSummary | None:
        return self.known.get(order_id)


@dataclass
class LedgerServices:
    gateway: SimulatedGateway
    queries: KnownOrders
    client: Any = None


def order_summary(order_id: str) -> OrderSummary:
    # Only the existence and owner of the order matter to this route; the rest is a valid placeholder.
    placeholder: dict[str, Any] = {
        "order_id": order_id,
        "workflow_id": workflow_id_for(order_id),
        "status": "delivered",
        "channel": "web",
        "customer": {"id": "C-1"},
        "currency": "JPY",
        "total": "24980",
        "delivery_method": "standard",
        "shipping_address": {},
        "fraud_score": None,
        "lines": [],
        "fulfillment_orders": [],
        "shipments": [],
        "payment": {"authorized": "24980", "captured": "20000", "refunded": "500", "voided": "0"},
        "payments": [],
        "invoices": [],
        "returns": [],
        "timeline": [],
        "placed_at": "2025-01-01T00:00:00Z",
        "updated_at": "2025-01-01T00:00:00Z",
    }
    return OrderSummary.model_validate(placeholder)


@pytest.fixture
def paid(gateway: SimulatedGateway) -> PaidOrder:
    return authorize_capture_refund(gateway, new_order_id())


@pytest.fixture
def http(engine: Engine, paid: PaidOrder) -> Iterator[TestClient]:
    app = FastAPI()
    app.include_router(orders.router)
    app.state.tokens = parse_tokens("t-operator:operator,t-agent:agent", production=False)
    app.state.services = LedgerServices(
        SimulatedGateway(engine, latency_ms=0), KnownOrders({paid.order_id: order_summary(paid.order_id)})
    )
    with TestClient(app) as client:
        yield client


def test_an_operator_reads_the_orders_transactions_over_http(http: TestClient, paid: PaidOrder) -> None:
    # given the paid order
    # when an operator asks the API for its payments
    response = http.get(f"/v1/orders/{paid.order_id}/payments", headers={"Authorization": "Bearer t-operator"})
    # then the ledger comes back oldest first, money as decimal strings in yen (no ledger decimals)
    assert response.status_code == 200, response.text
    rows = response.json()
    assert [(r["type"], r["amount"], r["currency"], r["status"]) for r in rows] == [
        ("authorize", "24980", "JPY", "succeeded"),
        ("capture", "20000", "JPY", "succeeded"),
        ("refund", "500", "JPY", "succeeded"),
    ]
    assert [r["transaction_id"] for r in rows] == [paid.auth.id, paid.capture.id, paid.refund.id]
    assert [r["parent_id"] for r in rows] == [None, paid.auth.id, paid.capture.id]
    assert rows[2]["idempotency_key"] == key(paid.order_id, "refund", 1)
    assert all(r["created_at"] for r in rows)


def test_payments_of_an_order_the_read_model_does_not_know_are_404(http: TestClient, gateway: SimulatedGateway) -> None:
    # given a ledger entry for an order the read model never heard of
    stray = new_order_id()
    gateway.authorize(key(stray, "authorize", 1), stray, "tok_visa", Decimal("100"), "JPY")
    # when an agent asks for its payments, then the order is unknown
    response = http.get(f"/v1/orders/{stray}/payments", headers={"Authorization": "Bearer t-agent"})
    assert response.status_code == 404
