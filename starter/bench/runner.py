"""Orchestrate a benchmark run on an isolated stack started for it (free ports, temporary data)."""

import asyncio
import contextlib
import os
import tempfile
import uuid
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx

from starter.bench import report, workloads
from starter.bench.metrics import RssSampler, WorkloadResult, percentiles
from starter.bench.profile import WorkerProfile
from starter.bench.workloads import BENCH_PRICE
from starter.settings import get_settings
from starter.stack import BIN, Stack, free_port
from starter.temporal import connect
from store.catalog import ProductCatalog, ProductDetails
from store.db import make_engine
from store.inventory import InventoryRepository

REFERENCE_QUEUE = "bench-reference"
BENCH_LOCATION = "DC-TOKYO"


@dataclass
class BenchOptions:
    orders: int
    concurrency: int
    rate: float | None
    out: Path
    window_s: float
    scale: list[int]
    cancels: int
    profile: bool = False


def start_stack(window_s: float, data_dir: Path) -> Stack:
    """Everything the bench needs, isolated from any `oms up` already running on the default ports."""
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
    stack = Stack(get_settings())
    stack.up()
    stack.spawn("reference-worker", [str(BIN / "oms"), "worker", "--reference-task-queue", REFERENCE_QUEUE])
    return stack


async def run(options: BenchOptions, stack: Stack) -> dict[str, Any]:
    settings = stack.settings
    assert stack.database_url
    run_id = uuid.uuid4().hex[:6]
    sku = f"BENCH-{run_id}"
    engine = make_engine(stack.database_url, pool_size=1)
    total_units = options.orders * (2 + len(options.scale)) + options.cancels + 100
    # checkout takes only skus the catalog knows: the bench's own is listed at the price its orders name
    ProductCatalog(engine).put(sku, ProductDetails(name="Benchmark item", prices={"JPY": Decimal(BENCH_PRICE)}))
    InventoryRepository(engine).set_on_hand(BENCH_LOCATION, sku, total_units)
    engine.dispose()

    temporal = await connect(settings.temporal_target)
    limits = httpx.Limits(max_connections=options.concurrency * 2, max_keepalive_connections=options.concurrency * 2)
    pids = {name: stack.pid(name) for name in ("worker", "api", "temporal", "simulators")}
    postmaster = stack.postgres_pid()
    if postmaster is not None:
        pids["postgres"] = postmaster
    async with httpx.AsyncClient(base_url=settings.own_api_url, timeout=60, limits=limits) as http:
        oms_driver = workloads.oms_order_driver(http, temporal, run_id, sku)
        await workloads.drive("warm-up", min(20, options.orders), options.concurrency, None, oms_driver)

        profiler = WorkerProfile(pids["worker"], options.out) if options.profile else None
        with RssSampler(pids) as rss, profiler or contextlib.nullcontext():
            oms = await workloads.drive(
                "oms",
                options.orders,
                options.concurrency,
                options.rate,
                workloads.oms_order_driver(http, temporal, run_id + "a", sku),
            )
        floor = await workloads.drive(
            "floor",
            options.orders,
            options.concurrency,
            options.rate,
            workloads.reference_order_driver(temporal, "BenchFloor", REFERENCE_QUEUE, run_id, options.window_s),
        )
        naive = await workloads.drive(
            "naive",
            options.orders,
            options.concurrency,
            options.rate,
            workloads.reference_order_driver(temporal, "BenchNaive", REFERENCE_QUEUE, run_id, options.window_s),
        )
        half_rate = oms.orders_per_s / 2
        half = await workloads.drive(
            "oms@½",
            max(options.orders // 2, 10),
            options.concurrency,
            half_rate,
            workloads.oms_order_driver(http, temporal, run_id + "h", sku),
        )
        cancel_ms = None
        if options.cancels:
            cancel_ms = percentiles(
                await workloads.cancel_latencies(http, run_id, sku, options.cancels, options.concurrency)
            )
        scaling = []
        for level in options.scale:
            step = await workloads.drive(
                f"oms@{level}",
                options.orders,
                level,
                None,
                workloads.oms_order_driver(http, temporal, f"{run_id}s{level}", sku),
            )
            scaling.append(
                {"concurrency": level, "orders_per_s": round(step.orders_per_s, 2), **_p(step.checkout_percentiles())}
            )

    oms.events_per_order = await workloads.events_per_order(temporal, [f"order-B{run_id}a-{n}" for n in range(3)])
    floor.events_per_order = await workloads.events_per_order(
        temporal, [f"bench-BenchFloor-{run_id}-{n}" for n in range(3)]
    )
    naive.events_per_order = await workloads.events_per_order(
        temporal, [f"bench-BenchNaive-{run_id}-{n}" for n in range(3)]
    )
    result = report.figures(oms, floor, naive, cancel_ms, rss.peaks_mib, scaling, half.checkout_percentiles()["p99"])
    result["half_rate_orders_per_s"] = round(half_rate, 2)
    result["window_s"] = options.window_s
    result["cpu_ms_per_order"] = {name: round(1000 * s / max(len(oms.timings), 1), 1) for name, s in rss.cpu_s.items()}
    if profiler:
        result["worker_profile"] = profiler.summary()
    report.write(options.out, result, [oms, floor, naive])
    return result


def _p(p: dict[str, float]) -> dict[str, float]:
    return {"checkout_p50_ms": p["p50"], "checkout_p99_ms": p["p99"]}


def bench(options: BenchOptions) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="oms-bench-") as tmp:
        stack = start_stack(options.window_s, Path(tmp))
        try:
            return asyncio.run(run(options, stack))
        finally:
            stack.down()


__all__ = ["BenchOptions", "WorkloadResult", "bench"]
