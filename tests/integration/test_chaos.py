"""Chaos: a batch of orders runs to its end while the worker, the API and the Temporal dev server are killed
under it, and the partners (warehouse, carrier, payment gateway) fail at random; then the books agree.

The stack is this module's own, with the simulators failing transiently at OMS_SIMULATOR_FAILURE_RATE (503s,
lost answers, slow answers, webhooks twice or out of order) and a short return window, so orders complete.
The storefront retries a checkout it got no answer for with the same order id, as a real one would.
"""

import asyncio
import json
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine
from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.service import RPCError

from domain.ids import workflow_id_for
from domain.order import FINAL_STATUSES, Order
from starter.temporal import connect
from store.db import make_engine
from tests.integration.chaos_books import StockSnapshot, gateway_problems, stock_problems, stock_snapshot
from tests.integration.conftest import RunningStack, new_customer, running_stack
from tests.orders import checkout_body
from workflows.messages import SUMMARY_QUERY

pytestmark = pytest.mark.integration

ORDERS = 24
PLACING_GAP = 1.0  # seconds between one checkout and the next: the batch is placed over ~24 s
# (seconds after the first checkout, part): the kills, spaced so each lands on orders in flight; each waits until
# supervisord has the part back (~5 s), so the API and the server die while checkouts are still coming in
KILLS = [(2.0, "worker"), (7.0, "temporal"), (12.0, "worker"), (17.0, "api"), (22.0, "worker"), (28.0, "worker")]
CHECKOUT_DEADLINE = 90  # seconds a storefront keeps retrying one checkout
END_DEADLINE = 120  # seconds after the last kill by which every order has reached its end
POLL = 0.5

# what each kind of order ends as
EXPECTED = {"ships": "completed", "split": "completed", "declined": "payment_declined", "unstocked": "unavailable"}


@dataclass
class Placed:
    body: dict[str, Any]
    kind: str
    attempts: int = 0
    answers: list[str] = field(default_factory=list)  # every answer the storefront got, in order
    status_code: int | None = None

    @property
    def order_id(self) -> str:
        order_id: str = self.body["order_id"]
        return order_id


def batch() -> list[Placed]:
    """Single lines, two-line orders that split across locations, a few flaky cards, one declined card and one
    sku no location stocks."""
    placed: list[Placed] = []
    for i in range(ORDERS):
        token = "tok_flaky" if i % 5 == 2 else "tok_visa"
        kind = "ships"
        lines: list[dict[str, Any]] = [{"sku": "LEGO-76419", "quantity": 1, "unit_price": "24980"}]
        if i % 3 == 1:
            # the engraved mug is stocked only at the drop-ship atelier, the matcha elsewhere: two fulfillment orders
            kind = "split"
            lines = [
                {"sku": "MUG-ENGRAVED", "quantity": 1, "unit_price": "3200"},
                {"sku": "TEA-MATCHA-100", "quantity": 2, "unit_price": "2400"},
            ]
        elif i % 3 == 2:
            lines = [{"sku": "TOWEL-IMABARI", "quantity": 2, "unit_price": "5500"}]
        if i == 7:
            kind, token = "declined", "tok_decline"
        if i == 11:
            kind, lines = "unstocked", [{"sku": "NOT-STOCKED-1", "quantity": 1, "unit_price": "1000"}]
        body = checkout_body(
            order_id=f"X-{i:02d}-{time.time_ns() % 10**8:08d}",
            customer=new_customer(),
            lines=lines,
            payment={"method": "card", "token": token},
        )
        placed.append(Placed(body=body, kind=kind))
    return placed


@pytest.fixture(scope="module")
def chaos_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningStack]:
    with running_stack(
        tmp_path_factory.mktemp("oms-chaos"),
        OMS_SIMULATOR_FAILURE_RATE="0.2",
        OMS_SIMULATE="auto",
        OMS_SIMULATE_DELAY="0.2",
        OMS_RETURN_WINDOW="PT2S",
    ) as running:
        yield running


@pytest.fixture(scope="module")
def books(chaos_stack: RunningStack) -> Iterator[Engine]:
    engine = make_engine(chaos_stack.database_url(), pool_size=2)
    yield engine
    engine.dispose()


async def test_orders_reach_their_end_and_the_books_agree_through_crashes_and_faulty_partners(
    chaos_stack: RunningStack, books: Engine
) -> None:
    started = time.monotonic()
    # given the stock before the run, and a batch of orders a storefront is about to place
    before = await asyncio.to_thread(stock_snapshot, books)
    placed = batch()
    with chaos_stack.http("dev-operator") as operator:  # the unstocked sku is one the catalog sells
        listed = operator.put("/v1/products/NOT-STOCKED-1", json={"name": "Never stocked", "prices": {"JPY": "1000"}})
        assert listed.status_code == 200, listed.text

    # when the orders are placed while the worker, the API and the Temporal server are killed under them
    kills = asyncio.create_task(chaos(chaos_stack))
    async with httpx.AsyncClient(
        base_url=chaos_stack.api_url, headers={"Authorization": "Bearer dev-storefront"}, timeout=30
    ) as storefront:
        checkouts = []
        for order in placed:
            checkouts.append(asyncio.create_task(checkout(storefront, order)))
            await asyncio.sleep(PLACING_GAP)
        await asyncio.gather(*checkouts)
    killed = await kills
    placed_in = time.monotonic() - started

    # then each checkout got its answer: accepted, declined or unavailable, never a server error
    answers = {p.order_id: (p.kind, p.status_code, p.answers) for p in placed}
    wanted = {"ships": 201, "split": 201, "declined": 402, "unstocked": 409}
    wrong = {oid: a for oid, a in answers.items() if a[1] != wanted[a[0]]}
    assert not wrong, f"checkouts answered other than expected: {json.dumps(wrong, indent=1)}"

    # and every order reaches its end within the bound, and stays out of attention
    temporal = await connect(chaos_stack.temporal_address)
    ended, summaries = await wait_until_all_end(chaos_stack, temporal, placed)
    ended_in = time.monotonic() - started
    outcome = {p.order_id: summaries[p.order_id]["status"] for p in placed}
    unexpected = {p.order_id: (p.kind, outcome[p.order_id]) for p in placed if outcome[p.order_id] != EXPECTED[p.kind]}
    assert not unexpected, f"orders that ended other than expected (kind, status): {unexpected}"
    attention = [
        f"{oid}: attention {order.attention.reason if order.attention else None}; timeline:\n{timeline(summaries[oid])}"
        for oid, order in ended.items()
        if order.attention is not None or any(t["type"] == "AttentionNeeded" for t in summaries[oid]["timeline"])
    ]
    assert not attention, "orders that needed a person during the run:\n" + "\n".join(attention)

    # and the read model says what each workflow says
    disagreements = [d for oid, order in ended.items() for d in read_model_disagreements(order, summaries[oid])]
    assert not disagreements, "read model and workflow disagree:\n" + "\n".join(disagreements)

    # and the gateway authorized each order once and captured each shipped fulfillment order once
    money = await asyncio.to_thread(gateway_problems, books, ended)
    assert not money, "the gateway's ledger disagrees with the orders:\n" + "\n".join(money)

    # and stock adds up: what left is what shipped, and nothing is left reserved
    stock = await asyncio.to_thread(stock_problems, books, before, ended)
    assert not stock, "the inventory disagrees with the orders:\n" + "\n".join(stock)

    print(report(placed, killed, outcome, ended, placed_in, ended_in, before))


# -- the storefront ------------------------------------------------------------------------------------------
async def checkout(storefront: httpx.AsyncClient, order: Placed) -> None:
    """POST the checkout until it is answered (201, 402, 409); an API that is down, or a 5xx while Temporal is,
    is tried again with the same order id after a pause."""
    deadline = time.monotonic() + CHECKOUT_DEADLINE
    pause = 0.2
    while True:
        order.attempts += 1
        try:
            response = await storefront.post("/v1/orders", json=order.body)
        except httpx.TransportError as err:
            order.answers.append(type(err).__name__)
        else:
            order.answers.append(str(response.status_code))
            if response.status_code < 500:
                order.status_code = response.status_code
                return
        if time.monotonic() > deadline:
            return
        await asyncio.sleep(pause)
        pause = min(pause * 2, 2.0)


# -- the chaos -----------------------------------------------------------------------------------------------
async def chaos(stack: RunningStack) -> list[tuple[float, str, int, float]]:
    """SIGKILL each part at its time and wait until supervisord has it running again;
    returns (at, part, pid killed, seconds until back)."""
    started = time.monotonic()
    done: list[tuple[float, str, int, float]] = []
    for at, part in KILLS:
        await asyncio.sleep(max(0.0, started + at - time.monotonic()))
        killed_at = time.monotonic()
        pid = await asyncio.to_thread(stack.kill, part)
        await asyncio.to_thread(stack.wait_until_back, part, pid, 60)
        done.append((round(killed_at - started, 1), part, pid, round(time.monotonic() - killed_at, 1)))
    return done


# -- waiting for the end -------------------------------------------------------------------------------------
async def wait_until_all_end(
    stack: RunningStack, temporal: Client, placed: list[Placed]
) -> tuple[dict[str, Order], dict[str, dict[str, Any]]]:
    """Poll the read model and each workflow until the order is final in the read model and its workflow has
    completed; then query the workflow's summary. Fails naming the orders still going, with their last summary
    and what their workflow says (status, attention)."""
    deadline = time.monotonic() + END_DEADLINE
    summaries: dict[str, dict[str, Any]] = {}
    closed: dict[str, WorkflowExecutionStatus | None] = {}
    pending = {p.order_id for p in placed}
    async with httpx.AsyncClient(
        base_url=stack.api_url, headers={"Authorization": "Bearer dev-agent"}, timeout=10
    ) as agent:
        while pending and time.monotonic() < deadline:
            for order_id in sorted(pending):
                summary = await read_model(agent, order_id)
                if summary is not None:
                    summaries[order_id] = summary
                closed[order_id] = await workflow_status(temporal, order_id)
                if (
                    summary is not None
                    and summary["status"] in FINAL_STATUSES
                    and closed[order_id] not in (None, WorkflowExecutionStatus.RUNNING)
                ):
                    pending.discard(order_id)
            if pending:
                await asyncio.sleep(POLL)
    if pending:
        stuck = [await stuck_report(temporal, oid, summaries.get(oid), closed.get(oid)) for oid in sorted(pending)]
        pytest.fail(
            f"{len(pending)} of {len(placed)} orders did not reach their end within {END_DEADLINE}s:\n"
            + "\n".join(stuck)
            + f"\n--- oms up log ---\n{stack.log_tail(3000)}"
        )
    failed = {oid: status for oid, status in closed.items() if status != WorkflowExecutionStatus.COMPLETED}
    assert not failed, f"workflows that closed without completing: {failed}"
    ended = {p.order_id: await query_summary(temporal, p.order_id) for p in placed}
    return ended, summaries


async def read_model(agent: httpx.AsyncClient, order_id: str) -> dict[str, Any] | None:
    try:
        response = await agent.get(f"/v1/orders/{order_id}")
    except httpx.TransportError:
        return None
    return dict(response.json()) if response.status_code == 200 else None


async def workflow_status(temporal: Client, order_id: str) -> WorkflowExecutionStatus | None:
    try:
        return (await temporal.get_workflow_handle(workflow_id_for(order_id)).describe()).status
    except RPCError:
        return None


async def query_summary(temporal: Client, order_id: str) -> Order:
    deadline = time.monotonic() + 30
    while True:
        try:
            order: Order = await temporal.get_workflow_handle(workflow_id_for(order_id)).query(
                SUMMARY_QUERY, result_type=Order
            )
            return order
        except RPCError:
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(POLL)


async def stuck_report(
    temporal: Client, order_id: str, summary: dict[str, Any] | None, status: WorkflowExecutionStatus | None
) -> str:
    try:
        order: Order | None = await asyncio.wait_for(query_summary(temporal, order_id), timeout=10)
    except (RPCError, TimeoutError):
        order = None
    said = (
        "workflow not answering"
        if order is None
        else f"workflow says {order.status}, attention {order.attention.reason if order.attention else None}"
    )
    seen = "never in the read model" if summary is None else brief(summary)
    return f"- {order_id} ({status.name if status else 'not found'}; {said}): {seen}"


# -- comparing -----------------------------------------------------------------------------------------------
def read_model_disagreements(order: Order, summary: dict[str, Any]) -> list[str]:
    oid = order.order_id
    found: list[str] = []
    if summary["status"] != order.status:
        found.append(f"{oid}: read model {summary['status']}, workflow {order.status}")
    workflow_payment = {
        "authorized": order.payment.authorized,
        "captured": order.payment.captured,
        "refunded": order.payment.refunded,
        "voided": order.payment.voided,
    }
    read_payment = {k: Decimal(v) for k, v in summary["payment"].items()}
    if read_payment != workflow_payment:
        found.append(f"{oid}: read model payment {read_payment}, workflow {workflow_payment}")
    counts = ("ordered", "allocated", "shipped", "delivered", "canceled", "returned")
    read_lines = {ln["sku"]: {k: ln[k] for k in counts} for ln in summary["lines"]}
    workflow_lines = {ln.sku: {k: getattr(ln, k) for k in counts} for ln in order.lines}
    if read_lines != workflow_lines:
        found.append(f"{oid}: read model lines {read_lines}, workflow {workflow_lines}")
    if summary.get("projection_error"):
        found.append(f"{oid}: the read model could not record part of it: {summary['projection_error']}")
    return found


def brief(summary: dict[str, Any]) -> str:
    return json.dumps(
        {
            "status": summary.get("status"),
            "attention": summary.get("attention"),
            "lines": [
                {k: ln.get(k) for k in ("sku", "ordered", "allocated", "shipped", "delivered")}
                for ln in summary.get("lines", [])
            ],
            "fulfillment_orders": [
                {k: fo.get(k) for k in ("id", "location_id", "status")} for fo in summary.get("fulfillment_orders", [])
            ],
            "payment": summary.get("payment"),
            "last_events": [f"{t['type']}: {t['summary']}" for t in summary.get("timeline", [])][-6:],
        },
        default=str,
    )


def timeline(summary: dict[str, Any]) -> str:
    return "\n".join(f"    {t['seq']:>3} {t['at']} {t['type']}: {t['summary']}" for t in summary["timeline"])


def report(
    placed: list[Placed],
    killed: list[tuple[float, str, int, float]],
    outcome: dict[str, str],
    ended: dict[str, Order],
    placed_in: float,
    ended_in: float,
    before: StockSnapshot,
) -> str:
    fulfillment_orders = sum(len(o.fulfillment_orders) for o in ended.values())
    retried = {p.order_id: p.answers for p in placed if p.attempts > 1}
    statuses: dict[str, int] = {}
    for status in outcome.values():
        statuses[status] = statuses.get(status, 0) + 1
    return (
        f"\nchaos: {len(placed)} orders, {fulfillment_orders} fulfillment orders, outcome {statuses}; "
        f"placed in {placed_in:.0f}s, all ended {ended_in:.0f}s after the first checkout\n"
        f"kills (at s, part, pid, back after s): {killed}\n"
        f"checkouts retried by the storefront: {retried}\n"
        f"stock levels checked: {len(before.on_hand)}"
    )
