"""The one place that wires dependencies and runs the order worker."""

import asyncio
import gc
import os
import signal
import sys
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any

import structlog
from sqlalchemy import Engine
from temporalio.client import Client
from temporalio.worker import UnsandboxedWorkflowRunner, Worker, WorkflowRunner
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions

from activities.allocation import AllocationActivities
from activities.logging_interceptor import LogContextInterceptor
from activities.payments import PaymentActivities
from activities.projection import ProjectionActivities
from activities.returns import ReturnActivities
from activities.shipment import ShipmentActivities
from activities.tracking import TrackingActivities
from domain.routing import RoutingPolicy
from integrations.carrier import HttpCarrierClient
from integrations.warehouse import HttpWarehouseClient
from starter.logs import configure_logging
from starter.partners import payment_gateway
from starter.settings import Settings, get_settings
from starter.supervision import join_running_stack
from starter.temporal import connect
from store.db import make_engine
from store.inventory import InventoryRepository
from store.order_projection import OrderProjection
from workflows.reference import FloorWorkflow, NaiveWorkflow
from workflows.registry import ORDER_WORKFLOWS

# Our own packages and heavy libraries are loaded once, outside the sandbox: re-importing them
# for every workflow run costs memory and time, and they hold no workflow state.
PASSTHROUGH = ("domain", "activities", "integrations", "store", "workflows.messages", "workflows.search_attributes")
PASSTHROUGH_LIBRARIES = ("pydantic", "pydantic_core", "sqlalchemy", "structlog", "httpx", "annotated_types")

ACTIVITY_THREADS = 64
HOLD_SWEEP_SECONDS = 60.0


def sandbox_runner() -> SandboxedWorkflowRunner:
    restrictions = SandboxRestrictions.default.with_passthrough_modules(*PASSTHROUGH, *PASSTHROUGH_LIBRARIES)
    return SandboxedWorkflowRunner(restrictions=restrictions)


def workflow_runner(settings: Settings) -> WorkflowRunner:
    """The sandbox re-imports the workflow module and proxies every call for each run: a third of the
    worker's CPU per order in the benchmark's profile. Tests and replays always run sandboxed, so a
    non-deterministic call fails the suite; production workers may skip it (OMS_WORKFLOW_SANDBOX=false)."""
    return sandbox_runner() if settings.workflow_sandbox else UnsandboxedWorkflowRunner()


def build_activities(settings: Settings, engine: Engine) -> list[Callable[..., Any]]:
    inventory = InventoryRepository(engine)
    payments = PaymentActivities(payment_gateway(settings, engine))
    policy = RoutingPolicy(
        split_penalty_km=settings.routing_split_penalty_km,
        same_day_radius_km=settings.routing_same_day_radius_km,
        max_fulfillment_orders=settings.routing_max_fulfillment_orders,
    )
    allocation = AllocationActivities(inventory, HttpWarehouseClient(settings.warehouse_target), policy)
    shipment = ShipmentActivities(inventory, payments)
    projection = ProjectionActivities(OrderProjection(engine))
    returns = ReturnActivities(inventory)
    tracking = TrackingActivities(HttpCarrierClient(settings.carrier_target))
    return [
        payments.authorize,
        payments.void,
        payments.refund,
        allocation.allocate,
        allocation.release,
        allocation.cancel_fulfillment,
        allocation.hand_off,
        allocation.amend_fulfillment,
        tracking.track,
        shipment.settle,
        shipment.ship_reship,
        projection.project,
        returns.restock,
    ]


def build_worker(client: Client, settings: Settings, engine: Engine, executor: ThreadPoolExecutor) -> Worker:
    return Worker(
        client,
        task_queue=settings.task_queue,
        workflows=ORDER_WORKFLOWS,
        activities=build_activities(settings, engine),
        activity_executor=executor,
        max_concurrent_activities=ACTIVITY_THREADS,
        max_concurrent_local_activities=ACTIVITY_THREADS,
        interceptors=[LogContextInterceptor()],
        workflow_runner=workflow_runner(settings),
    )


def build_reference_worker(
    client: Client, settings: Settings, engine: Engine, task_queue: str, executor: ThreadPoolExecutor
) -> Worker:
    """The benchmark's floor and naive workloads, on the same worker settings as the order worker; the naive
    workflow runs the order worker's own activities (same gateway, database, warehouse client and projection)."""
    return Worker(
        client,
        task_queue=task_queue,
        workflows=[FloorWorkflow, NaiveWorkflow],
        activities=build_activities(settings, engine),
        activity_executor=executor,
        max_concurrent_activities=ACTIVITY_THREADS,
        max_concurrent_local_activities=ACTIVITY_THREADS,
        interceptors=[LogContextInterceptor()],
        workflow_runner=workflow_runner(settings),
    )


async def run_worker(settings: Settings) -> None:
    log = structlog.get_logger()
    engine = make_engine(settings.require_database_url(), pool_size=ACTIVITY_THREADS // 2)
    client = await connect(settings.temporal_target, settings.temporal_namespace)
    with ThreadPoolExecutor(max_workers=ACTIVITY_THREADS) as executor:
        worker = build_worker(client, settings, engine, executor)
        log.info("worker started", task_queue=settings.task_queue, temporal=settings.temporal_target)
        sweeper = asyncio.create_task(sweep_expired_holds(InventoryRepository(engine)))
        try:
            await run_until_stopped(worker)
        finally:
            sweeper.cancel()
    engine.dispose()


async def run_until_stopped(worker: Worker) -> None:
    """Poll until SIGTERM or SIGINT, then shut down gracefully: in-flight tasks finish first.

    Raising from a signal handler instead would cancel the SDK's own tasks mid-flight and leave the
    worker waiting on them forever.
    """
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    async with worker:
        await stop.wait()


async def sweep_expired_holds(inventory: InventoryRepository, every_s: float = HOLD_SWEEP_SECONDS) -> None:
    """Holds of orders in review that outlived their TTL go back to stock even if their order never
    comes back for them (the order's own deadline normally releases them first)."""
    log = structlog.get_logger()
    while True:
        await asyncio.sleep(every_s)
        try:
            released = await asyncio.to_thread(inventory.expire_reservations, datetime.now(UTC))
        except Exception:
            log.exception("expiring held reservations failed; will retry")
            continue
        if released:
            log.info("expired held reservations", units=released)


async def run_reference_worker(settings: Settings, task_queue: str) -> None:
    engine = make_engine(settings.require_database_url(), pool_size=ACTIVITY_THREADS // 2)
    client = await connect(settings.temporal_target, settings.temporal_namespace)
    with ThreadPoolExecutor(max_workers=ACTIVITY_THREADS) as executor:
        await run_until_stopped(build_reference_worker(client, settings, engine, task_queue, executor))
    engine.dispose()


def main(reference_task_queue: str | None = None) -> None:
    """Run the order worker, or with a task queue the benchmark's reference worker, until stopped.

    Started by hand next to `oms up`, without OMS_DATABASE_URL or OMS_TEMPORAL_ADDRESS, it joins the stack
    running under OMS_DATA_DIR (its `stack.json`) as extra capacity on the same task queue."""
    settings, joined = join_running_stack(get_settings())
    configure_logging(settings.log_json, settings.log_level)
    if joined is not None:
        structlog.get_logger().info("joining the running stack", addresses=str(joined))
    rc = 0
    try:
        if reference_task_queue:
            asyncio.run(run_reference_worker(settings, reference_task_queue))
        else:
            asyncio.run(run_worker(settings))
    except KeyboardInterrupt:
        pass
    except Exception:
        structlog.get_logger().exception("worker failed")
        rc = 1
    gc.collect()  # the SDK's runtime must be dropped before interpreter shutdown (sdk-python #300)
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(rc)


if __name__ == "__main__":
    main()
