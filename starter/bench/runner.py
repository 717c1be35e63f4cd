"""Orchestrate a benchmark run on an isolated stack started for it (free ports, temporary data)."""

import asyncio
import contextlib
import os
import tempfile
import uuid
from collections.abc import Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import update
from temporalio.client import Client
from temporalio.service import RPCError

from domain.ids import workflow_id_for
from starter.bench import report, workloads
from starter.bench.histories import OrderHistory, events_per_order, fetcher, mean_history
from starter.bench.metrics import RssSampler, WorkloadResult, percentiles, rss_mib
from starter.bench.open_orders import (
    cluster_estimate,
    open_order_driver,
    open_order_figures,
    open_order_id,
    sticky_cache_size,
)
from starter.bench.options import BenchOptions
from starter.bench.ui import progress_console
from starter.bench.workloads import BENCH_PRICE, OrderDriver, bench_skus, drive, oms_workflow_id
from starter.partners import payment_gateway
from starter.ports import free_port
from starter.settings import get_settings
from starter.stack import BIN, Stack
from starter.temporal import connect
from store.catalog import ProductCatalog, ProductDetails
from store.db import make_engine
from store.inventory import InventoryRepository
from store.tables import locations

REFERENCE_QUEUE = "bench-reference"
BENCH_LOCATION = "DC-TOKYO"
# the bench's location may commit every unit it is asked for in a day: its daily capacity never limits a run
BENCH_DAILY_CAPACITY = 1_000_000_000
ROUTING_REPEATS = 20  # routes timed per network and order size
HISTORY_SAMPLE = 3  # orders whose histories are counted per workload


def bench_stack(window_s: float, data_dir: Path, without_relay: bool = False) -> Stack:
    """Everything the bench needs, isolated from any `oms up` already running on the default ports; not yet up."""
    os.environ.update(
        {
            "OMS_DATA_DIR": str(data_dir),
            "OMS_API_PORT": str(free_port()),
            "OMS_TEMPORAL_PORT": str(free_port()),
            "OMS_UI_PORT": str(free_port()),
            "OMS_SIMULATOR_PORT": str(free_port()),
            "OMS_SIMULATE": "off",  # the bench plays warehouse and carrier itself
            "OMS_RETURN_WINDOW": f"PT{window_s}S",
            "OMS_LOG_LEVEL": "WARNING",  # per-order log lines would cost more than the orders
        }
    )
    for key in ("OMS_DATABASE_URL", "OMS_TEMPORAL_ADDRESS"):
        os.environ.pop(key, None)
    get_settings.cache_clear()
    return Stack(get_settings(), left_out=frozenset({"relay"}) if without_relay else frozenset())


def start(stack: Stack, *, reference_worker: bool) -> None:
    stack.up()
    if reference_worker:
        stack.spawn("reference-worker", [str(BIN / "oms"), "worker", "--reference-task-queue", REFERENCE_QUEUE])


def seed(database_url: str, skus: Sequence[str], units: int) -> None:
    """List the bench's skus in the catalog at the price its orders name, stock each at the bench's location, and
    lift that location's daily capacity so a long run is never refused for it."""
    engine = make_engine(database_url, pool_size=1)
    catalog, inventory = ProductCatalog(engine), InventoryRepository(engine)
    for sku in skus:
        catalog.put(sku, ProductDetails(name="Benchmark item", prices={"JPY": Decimal(BENCH_PRICE)}))
        inventory.set_on_hand(BENCH_LOCATION, sku, units)
    with engine.begin() as conn:
        conn.execute(
            update(locations).where(locations.c.id == BENCH_LOCATION).values(daily_capacity=BENCH_DAILY_CAPACITY)
        )
    engine.dispose()


def _pids(stack: Stack) -> dict[str, int]:
    # every part the stack runs: the relay's work (outbox to notifications and subscribers) is per order too
    pids = {program.name: stack.pid(program.name) for program in stack.programs()}
    if "reference-worker" in stack.procs:
        pids["reference-worker"] = stack.pid("reference-worker")
    postmaster = stack.postgres_pid()
    if postmaster is not None:
        pids["postgres"] = postmaster
    return pids


def _http(stack: Stack, concurrency: int) -> httpx.AsyncClient:
    limits = httpx.Limits(max_connections=concurrency * 2, max_keepalive_connections=concurrency * 2)
    return httpx.AsyncClient(base_url=stack.settings.own_api_url, timeout=60, limits=limits)


class _Workloads:
    """Drives workloads and keeps each result, so the report can say why any of their orders failed."""

    def __init__(self) -> None:
        self.ran: list[WorkloadResult] = []

    async def drive(
        self, name: str, orders: int, concurrency: int, rate: float | None, one_order: OrderDriver
    ) -> WorkloadResult:
        result = await drive(name, orders, concurrency, rate, one_order)
        self.ran.append(result)
        return result

    def first_errors(self) -> dict[str, str]:
        return {w.name: w.first_error for w in self.ran if w.first_error}


async def run(options: BenchOptions, stack: Stack) -> dict[str, Any]:
    settings = stack.settings
    assert stack.database_url
    run_id = uuid.uuid4().hex[:6]
    lines = options.scale_lines if options.scaling else []
    skus = bench_skus(run_id, max([1, *lines]))
    one_line = skus[:1]
    workload_count = 4 + len(options.scale) + len(lines)  # warm-up, oms, naive, half rate, then the scaling mode
    seed(stack.database_url, skus, options.orders * workload_count + options.cancels + 100)

    temporal = await connect(settings.temporal_target)
    pids = _pids(stack)
    rq = REFERENCE_QUEUE
    ran = _Workloads()
    async with _http(stack, max([options.concurrency, *options.scale])) as http:
        oms_driver = workloads.oms_order_driver(http, temporal, run_id, one_line)
        await ran.drive("warm-up", min(20, options.orders), options.concurrency, None, oms_driver)

        oms_pids = {k: v for k, v in pids.items() if k != "reference-worker"}
        profiler = None
        if options.profile:
            from starter.bench.profile import WorkerProfile

            profiler = WorkerProfile(pids["worker"], options.out)
        with RssSampler(oms_pids) as rss, profiler or contextlib.nullcontext():
            oms = await ran.drive(
                "oms",
                options.orders,
                options.concurrency,
                options.rate,
                workloads.oms_order_driver(http, temporal, run_id + "a", one_line),
            )
        floor = await ran.drive(
            "floor",
            options.orders,
            options.concurrency,
            options.rate,
            workloads.floor_order_driver(temporal, rq, run_id, options.window_s),
        )
        naive = await ran.drive(
            "naive",
            options.orders,
            options.concurrency,
            options.rate,
            workloads.naive_order_driver(temporal, rq, run_id, one_line, options.window_s),
        )
        half_rate = oms.orders_per_s / 2
        half = await ran.drive(
            "oms@½",
            max(options.orders // 2, 10),
            options.concurrency,
            half_rate,
            workloads.oms_order_driver(http, temporal, run_id + "h", one_line),
        )
        cancel_ms = None
        if options.cancels:
            latencies = await workloads.cancel_latencies(http, run_id, one_line, options.cancels, options.concurrency)
            cancel_ms = percentiles(latencies)
        scaling = []
        for level in options.scale:
            step = await ran.drive(
                f"oms@{level}",
                options.orders,
                level,
                None,
                workloads.oms_order_driver(http, temporal, f"{run_id}s{level}", one_line),
            )
            scaling.append(report.scaling_step("concurrency", level, step))
        by_lines = []
        for count in lines:
            step_id = f"{run_id}l{count}"
            step = await ran.drive(
                f"{count} lines",
                options.orders,
                options.concurrency,
                None,
                workloads.oms_order_driver(http, temporal, step_id, skus[:count]),
            )
            step.events_per_order = await _events(temporal, [oms_workflow_id(step_id, n) for n in range(3)])
            by_lines.append(report.scaling_step("lines", count, step))

    oms.events_per_order = await _events(temporal, [oms_workflow_id(run_id + "a", n) for n in range(3)])
    floor.events_per_order = await _events(temporal, [workloads.floor_workflow_id(run_id, n) for n in range(3)])
    naive.events_per_order = await _events(temporal, [workloads.naive_workflow_id(run_id, n) for n in range(3)])
    result = report.figures(oms, floor, naive, cancel_ms, rss.peaks_mib, scaling, half.checkout_percentiles()["p99"])
    result["half_rate_orders_per_s"] = round(half_rate, 2)
    result["window_s"] = options.window_s
    result["cpu_ms_per_order"] = {name: round(1000 * s / max(len(oms.timings), 1), 1) for name, s in rss.cpu_s.items()}
    if options.scaling:
        result["scaling_by_lines"] = by_lines
        result["scaling_by_locations"] = await _routing(lines or [1], options.scale_locations)
    if profiler:
        result["worker_profile"] = profiler.summary()
    result["first_errors"] = ran.first_errors()
    report.write(options.out, result, [oms, floor, naive])
    return result


async def _events(temporal: Client, workflow_ids: list[str]) -> float | None:
    """Events per order over every history each order created; None when they cannot be read."""
    try:
        return await events_per_order(temporal, workflow_ids[:HISTORY_SAMPLE])
    except RPCError:
        return None


async def _routing(line_counts: Sequence[int], location_counts: Sequence[int]) -> list[dict[str, Any]] | dict[str, str]:
    """Routing time alone, on synthetic networks of each size, while the stack is idle."""
    if not location_counts:
        return []
    try:
        from starter.bench.routing import routing_times
    except ImportError as err:
        return {"error": f"starter.bench.routing cannot be imported: {err}"}
    with progress_console.status("timing routing on synthetic networks"):
        return await asyncio.to_thread(
            routing_times,
            line_counts=tuple(line_counts),
            location_counts=tuple(location_counts),
            repeats=ROUTING_REPEATS,
        )


async def run_open_orders(options: BenchOptions, stack: Stack) -> dict[str, Any]:
    """Place `open_orders` orders that stay open; then what the order worker and Temporal hold for them."""
    settings = stack.settings
    assert stack.database_url
    run_id = uuid.uuid4().hex[:6]
    skus = bench_skus(run_id, 1)
    warm_up = min(20, options.open_orders)
    seed(stack.database_url, skus, options.open_orders + warm_up + 100)
    temporal = await connect(settings.temporal_target)
    ran = _Workloads()
    cache_size = sticky_cache_size(temporal, settings, stack.database_url)
    pids = _pids(stack)
    async with _http(stack, options.concurrency) as http:
        oms_driver = workloads.oms_order_driver(http, temporal, run_id, skus)
        await ran.drive("warm-up", warm_up, options.concurrency, None, oms_driver)
    await asyncio.sleep(1)  # the warm-up's last orders leave the cache as they complete
    before = rss_mib(pids["worker"])
    engine = make_engine(stack.database_url, pool_size=8)
    with RssSampler(pids) as rss:
        placed = await ran.drive(
            "open",
            options.open_orders,
            options.concurrency,
            options.rate,
            open_order_driver(temporal, payment_gateway(settings, engine), settings, run_id, skus),
        )
        await asyncio.sleep(2)  # the last checkouts' workflow tasks finish after their answers
    engine.dispose()
    held = rss_mib(pids["worker"])
    sample = [workflow_id_for(open_order_id(run_id, n)) for n in range(min(HISTORY_SAMPLE, options.open_orders))]
    figures = open_order_figures(
        orders=options.open_orders,
        placed=len(placed.timings),
        elapsed_s=placed.elapsed_s,
        cache_size=cache_size,
        rss_before_mib=before,
        rss_held_mib=held,
        history=await _history(temporal, sample),
    )
    figures["worker_rss_peak_mib"] = rss.peaks_mib.get("worker")
    checkout = placed.checkout_percentiles()
    result: dict[str, Any] = {
        "mode": "open_orders",
        "placed_via": "the Temporal client (update-with-start)",
        "concurrency": options.concurrency,
        "open_orders": figures,
        "checkout_p50_ms": checkout["p50"],
        "checkout_p99_ms": checkout["p99"],
        "peak_rss_mib": rss.peaks_mib,
        "cpu_ms_per_order": {name: round(1000 * s / max(len(placed.timings), 1), 1) for name, s in rss.cpu_s.items()},
        "cluster_estimate": cluster_estimate(figures),
        "first_errors": ran.first_errors(),
    }
    report.write(options.out, result, [placed])
    return result


async def _history(temporal: Client, workflow_ids: list[str]) -> OrderHistory | None:
    try:
        return await mean_history(fetcher(temporal), workflow_ids)
    except RPCError:
        return None


def bench(options: BenchOptions) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="oms-bench-") as tmp:
        open_mode = options.open_orders > 0
        stack = bench_stack(options.window_s, Path(tmp), options.without_relay)
        stack.handle_stop_signals()  # SIGTERM stops the run as Ctrl-C does: its whole stack goes down with it
        try:
            start(stack, reference_worker=not open_mode)
            stack.raise_if_stop_requested()
            work = run_open_orders(options, stack) if open_mode else run(options, stack)
            return asyncio.run(stack.until_stopped(work))
        finally:
            stack.down()


__all__ = ["BenchOptions", "WorkloadResult", "bench"]
