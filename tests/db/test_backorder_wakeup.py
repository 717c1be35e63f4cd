"""A receipt of stock wakes the orders waiting for it: the read model finds them, the API signals their workflows.

The read model is real (PostgreSQL, projected from real events); the Temporal client is a fake recording signals.
"""

import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, cast

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import Engine
from structlog.testing import capture_logs
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

from domain import events as ev
from domain.ids import workflow_id_for
from domain.models import SkuQuantity
from domain.order import Order
from integrations.payments import SimulatedGateway
from starter.api import inventory
from starter.api.auth import parse_tokens
from starter.api.deps import Services
from starter.settings import DEV_TOKENS, Settings
from store.accounts import AccountStore
from store.inventory import AdjustedLevel
from store.order_projection import OrderProjection
from store.order_queries import OrderQueries
from tests.db.test_inventory import add_location
from tests.db.test_read_model import batch_of, clock
from tests.orders import place_order
from workflows.messages import STOCK_RECEIVED_SIGNAL, StockReceived

pytestmark = pytest.mark.db

UNTIL = datetime(2026, 12, 1, tzinfo=UTC)
LATER = datetime(2026, 11, 20, tzinfo=UTC)  # what happens to an order after it was placed
LOC = "WAKE-1"
OPERATOR = {"Authorization": "Bearer dev-operator"}
TIMES: Iterator[datetime] = clock()  # when each order is placed, one after the other


@dataclass
class FakeHandle:
    workflow_id: str
    temporal: "FakeTemporal"

    async def signal(self, name: str, arg: Any) -> None:
        if self.workflow_id in self.temporal.closed:
            raise RPCError("workflow execution already completed", RPCStatusCode.NOT_FOUND, b"")
        if self.workflow_id in self.temporal.unreachable:
            raise RPCError("deadline exceeded", RPCStatusCode.DEADLINE_EXCEEDED, b"")
        self.temporal.signals.append((self.workflow_id, name, arg))


@dataclass
class FakeTemporal:
    """The Temporal client as the wake-up uses it: signals recorded; some workflows closed or unreachable."""

    closed: set[str] = field(default_factory=set)
    unreachable: set[str] = field(default_factory=set)
    signals: list[tuple[str, str, Any]] = field(default_factory=list)

    def get_workflow_handle(self, workflow_id: str) -> FakeHandle:
        return FakeHandle(workflow_id, self)


@dataclass
class Waiting:
    """Orders around one SKU, each projected to the read model, oldest first."""

    sku: str
    backordered: str  # waits for 2 units
    partially_shipped: str  # its other line shipped; waits for 1 unit
    allocated: str  # has all it needs
    other_sku: str  # waits, but for another SKU
    rerouting: str  # unallocated after a rejection, not backordered (routing is on it)
    canceled: str  # was backordered, then canceled


def new_id(label: str) -> str:
    return f"WK-{label}-{uuid.uuid4().hex[:6]}"


def project(engine: Engine, order_id: str, lines: dict[str, int], steps: list[list[ev.OrderEvent]]) -> None:
    at = next(TIMES)
    order = Order(order_id=order_id)
    body = place_order(order_id, lines=[{"sku": s, "quantity": q, "unit_price": "1000"} for s, q in lines.items()])
    total = Decimal(1000 * sum(lines.values()))
    projection = OrderProjection(engine)
    projection.project(
        batch_of(
            order,
            [
                ev.OrderPlaced(at=at, order=body),
                ev.PaymentAuthorized(at=at, authorization_id=f"auth_{order_id}", amount=total),
            ],
        )
    )
    for step in steps:
        projection.project(batch_of(order, step))


@pytest.fixture
def waiting(engine: Engine) -> Waiting:
    sku, other, shipped = (f"SKU-{uuid.uuid4().hex[:8]}" for _ in range(3))
    ids = Waiting(
        sku=sku,
        backordered=new_id("bo"),
        partially_shipped=new_id("ps"),
        allocated=new_id("al"),
        other_sku=new_id("ot"),
        rerouting=new_id("rr"),
        canceled=new_id("cx"),
    )

    def q(s: str, n: int) -> list[SkuQuantity]:
        return [SkuQuantity(sku=s, quantity=n)]

    def fo(order_id: str, n: int, lines: list[SkuQuantity]) -> ev.FulfillmentOrderCreated:
        return ev.FulfillmentOrderCreated(
            at=LATER, fulfillment_order_id=f"{order_id}-F{n}", location_id=LOC, lines=lines
        )

    project(engine, ids.backordered, {sku: 2}, [[ev.LinesBackordered(at=LATER, lines=q(sku, 2), until=UNTIL)]])
    project(
        engine,
        ids.partially_shipped,
        {shipped: 1, sku: 1},
        [
            [
                ev.InventoryReserved(at=LATER, location_id=LOC, lines=q(shipped, 1)),
                fo(ids.partially_shipped, 1, q(shipped, 1)),
            ],
            [
                ev.ShipmentShipped(
                    at=LATER,
                    fulfillment_order_id=f"{ids.partially_shipped}-F1",
                    carrier="yamato",
                    tracking_number=f"T-{ids.partially_shipped}",
                ),
                ev.LinesBackordered(at=LATER, lines=q(sku, 1), until=UNTIL),
            ],
        ],
    )
    project(
        engine,
        ids.allocated,
        {sku: 3},
        [[ev.InventoryReserved(at=LATER, location_id=LOC, lines=q(sku, 3)), fo(ids.allocated, 1, q(sku, 3))]],
    )
    project(engine, ids.other_sku, {other: 1}, [[ev.LinesBackordered(at=LATER, lines=q(other, 1), until=UNTIL)]])
    project(
        engine,
        ids.rerouting,
        {sku: 1},
        [
            [ev.InventoryReserved(at=LATER, location_id=LOC, lines=q(sku, 1)), fo(ids.rerouting, 1, q(sku, 1))],
            [ev.FulfillmentOrderRejected(at=LATER, fulfillment_order_id=f"{ids.rerouting}-F1", reason="no stock")],
        ],
    )
    project(
        engine,
        ids.canceled,
        {sku: 1},
        [
            [ev.LinesBackordered(at=LATER, lines=q(sku, 1), until=UNTIL)],
            [ev.ItemsCanceled(at=LATER, actor="customer:C-1", lines=q(sku, 1), reason="too long a wait")],
        ],
    )
    return ids


def services(engine: Engine, temporal: FakeTemporal) -> Services:
    return Services(
        settings=Settings(database_url=None),
        client=cast(Client, temporal),
        engine=engine,
        queries=OrderQueries(engine),
        gateway=SimulatedGateway(engine, latency_ms=0),
        accounts=AccountStore(engine),
    )


def level(sku: str, received: int) -> AdjustedLevel:
    return AdjustedLevel(location_id=LOC, sku=sku, on_hand=received, reserved=0, safety_stock=0, on_hand_delta=received)


def test_the_read_model_finds_the_orders_waiting_for_a_sku_oldest_first(engine: Engine, waiting: Waiting) -> None:
    # given orders around one SKU: waiting for it, fully allocated, waiting for another, rerouting, canceled
    queries = OrderQueries(engine)
    # when asked which orders need the SKU
    needing = queries.backordered_orders_needing(waiting.sku)
    # then the backordered one and the partially shipped one with a backorder, in the order they were placed
    assert needing == [waiting.backordered, waiting.partially_shipped]
    summary = queries.get(waiting.partially_shipped)
    assert summary is not None and summary.status == "partially_shipped" and summary.backordered_until == UNTIL
    # and a SKU nobody waits for wakes nobody
    assert queries.backordered_orders_needing("SKU-nobody-waits-for") == []


async def test_a_receipt_signals_each_waiting_order_and_skips_a_closed_one(engine: Engine, waiting: Waiting) -> None:
    # given the backordered order's workflow has closed meanwhile
    temporal = FakeTemporal(closed={workflow_id_for(waiting.backordered)})
    # when 5 units of the SKU are received
    with capture_logs() as logs:
        await services(engine, temporal).on_stock_received(level(waiting.sku, 5))
    # then the other waiting order's workflow gets the stock-received signal with the receipt
    assert temporal.signals == [
        (
            workflow_id_for(waiting.partially_shipped),
            STOCK_RECEIVED_SIGNAL,
            StockReceived(location_id=LOC, sku=waiting.sku, quantity=5),
        )
    ]
    # and the closed one is logged and skipped
    skipped = [entry for entry in logs if entry.get("order_id") == waiting.backordered]
    assert [(e["log_level"], e["workflow_id"]) for e in skipped] == [("warning", workflow_id_for(waiting.backordered))]


async def test_one_unreachable_workflow_does_not_keep_the_others_waiting(engine: Engine, waiting: Waiting) -> None:
    # given Temporal times out on the backordered order's workflow
    temporal = FakeTemporal(unreachable={workflow_id_for(waiting.backordered)})
    # when stock is received, then the failure is raised for the caller to log
    with pytest.raises(RuntimeError, match="1 of 2 backordered order"):
        await services(engine, temporal).on_stock_received(level(waiting.sku, 1))
    # and the other waiting order was signaled all the same
    assert [wid for wid, _, _ in temporal.signals] == [workflow_id_for(waiting.partially_shipped)]


@pytest.fixture
async def api(engine: Engine) -> AsyncIterator[tuple[httpx.AsyncClient, FakeTemporal]]:
    add_location(engine, LOC)
    temporal = FakeTemporal()
    app = FastAPI()
    app.state.tokens = parse_tokens(DEV_TOKENS, production=False)
    app.state.services = services(engine, temporal)
    app.include_router(inventory.router)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://oms.test") as client:
        yield client, temporal


async def test_a_receipt_posted_to_the_inventory_api_wakes_the_waiting_orders_once(
    api: tuple[httpx.AsyncClient, FakeTemporal], waiting: Waiting
) -> None:
    client, temporal = api
    receipt = {"location_id": LOC, "sku": waiting.sku, "delta": 4, "adjustment_id": f"rcpt-{waiting.sku}"}
    # when an operator posts a receipt of 4 units, and the same receipt again
    first = await client.post("/v1/inventory/adjustments", json=receipt, headers=OPERATOR)
    again = await client.post("/v1/inventory/adjustments", json=receipt, headers=OPERATOR)
    # and then a count that removes stock
    count = await client.post(
        "/v1/inventory/adjustments", json={"location_id": LOC, "sku": waiting.sku, "on_hand": 1}, headers=OPERATOR
    )
    # then the stock is counted
    assert [r.status_code for r in (first, again, count)] == [200, 200, 200]
    assert first.json()["on_hand"] == 4 and count.json()["on_hand"] == 1
    # and each waiting order was woken once, by the first receipt only
    payload = StockReceived(location_id=LOC, sku=waiting.sku, quantity=4)
    assert sorted(temporal.signals, key=lambda s: s[0]) == sorted(
        [
            (workflow_id_for(waiting.backordered), STOCK_RECEIVED_SIGNAL, payload),
            (workflow_id_for(waiting.partially_shipped), STOCK_RECEIVED_SIGNAL, payload),
        ],
        key=lambda s: s[0],
    )
