"""Many open orders at once: what holding them costs the order worker and Temporal, and what a million would.

Orders are placed as the API's checkout places them (starter/api/orders.py: the card saved at the gateway,
then update-with-start), but straight through the Temporal client, and then left waiting for their
shipment: each stays open in Temporal, and the worker keeps the most recent in its sticky cache, up to
`max_cached_workflows`.
"""

import math
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from temporalio.client import Client

from domain.models import PlaceOrder
from integrations.payments import PaymentGateway
from starter.api.checkout import start_operation, with_saved_payment_method
from starter.bench.histories import OrderHistory
from starter.bench.workloads import OrderDriver, bench_order
from starter.settings import Settings
from workflows.messages import (
    CHECKOUT_UPDATE,
    CheckoutResult,
)

CLUSTER_ORDERS = 1_000_000
REFUSED = ("payment_declined", "unavailable", "canceled")


def open_order_id(run_id: str, n: int) -> str:
    return f"O{run_id}-{n}"


def open_order_driver(
    temporal: Client, gateway: PaymentGateway, settings: Settings, run_id: str, skus: Sequence[str]
) -> OrderDriver:
    """Checkout only: the order is accepted (authorized, reserved, handed to its location) and stays open."""

    async def one_order(n: int) -> float:
        started = time.perf_counter()
        order = PlaceOrder.model_validate(bench_order(open_order_id(run_id, n), skus))
        order = await with_saved_payment_method(gateway, order)  # as the API's checkout does
        start = start_operation(order, settings)
        result = await temporal.execute_update_with_start_workflow(
            CHECKOUT_UPDATE, start_workflow_operation=start, result_type=CheckoutResult
        )
        if result.status in REFUSED:
            raise RuntimeError(f"{order.order_id} was refused: {result.reason or result.status}")
        return (time.perf_counter() - started) * 1000

    return one_order


def sticky_cache_size(temporal: Client, settings: Settings, database_url: str) -> int:
    """`max_cached_workflows` of the order worker as worker.py builds it (built here, never run)."""
    import worker
    from store.db import make_engine

    engine = make_engine(database_url, pool_size=1)
    try:
        with ThreadPoolExecutor(max_workers=worker.ACTIVITY_THREADS) as executor:  # no thread starts unused
            built = worker.build_worker(temporal, settings, engine, executor)
            return int(built.config()["max_cached_workflows"])
    finally:
        engine.dispose()


def open_order_figures(
    *,
    orders: int,
    placed: int,
    elapsed_s: float,
    cache_size: int,
    rss_before_mib: float,
    rss_held_mib: float,
    history: OrderHistory | None,
) -> dict[str, Any]:
    """Per open order: history (Temporal) and sticky-cache memory (worker), from the measured totals."""
    cached = min(placed, cache_size)
    grown = max(rss_held_mib - rss_before_mib, 0.0)
    return {
        "open_orders": orders,
        "placed": placed,
        "failures": orders - placed,
        "place_orders_per_s": round(placed / elapsed_s, 2) if elapsed_s else None,
        "max_cached_workflows": cache_size,
        "cached_orders": cached,
        "worker_rss_before_mib": rss_before_mib,
        "worker_rss_held_mib": rss_held_mib,
        "worker_kib_per_cached_order": round(grown * 1024 / cached, 1) if cached else None,
        "history_events_per_order": history.events if history else None,
        "history_bytes_per_order": history.bytes if history else None,
        "histories_per_order": history.histories if history else None,
        "open_timers_per_order": history.open_timers if history else None,
    }


def cluster_estimate(figures: dict[str, Any], orders: int = CLUSTER_ORDERS) -> dict[str, Any]:
    """What `orders` open orders would hold on a cluster at the measured per-order figures: each row says what,
    the arithmetic, and the total."""
    events, size = figures["history_events_per_order"], figures["history_bytes_per_order"]
    timers, kib = figures["open_timers_per_order"], figures["worker_kib_per_cached_order"]
    cache, base = figures["max_cached_workflows"], figures["worker_rss_before_mib"]
    rows: list[dict[str, str]] = []
    estimate: dict[str, Any] = {"orders": orders, "rows": rows}

    def row(figure: str, arithmetic: str, total: str) -> None:
        rows.append({"figure": figure, "arithmetic": arithmetic, "total": total})

    if events is not None and size is not None:
        estimate["history_gib"] = round(orders * size / 2**30, 2)
        estimate["history_events"] = orders * events
        row("history events in Temporal", f"{orders:,} x {events} events", f"{orders * events:,} events")
        row("history size in Temporal", f"{orders:,} x {size:,} B", f"{estimate['history_gib']:,} GiB")
    if timers is not None:
        estimate["timers"] = orders * timers
        row("durable timers pending", f"{orders:,} x {timers}", f"{orders * timers:,} timers")
    if kib is not None and cache:
        estimate["cache_all_gib"] = round(orders * kib / 2**20, 2)
        estimate["worker_full_cache_mib"] = round(base + cache * kib / 1024)
        estimate["workers_to_cache_all"] = math.ceil(orders / cache)
        row("worker memory to cache them all", f"{orders:,} x {kib:,} KiB", f"{estimate['cache_all_gib']:,} GiB")
        row(
            "one worker with a full cache",
            f"{base:,} MiB + {cache:,} (max_cached_workflows) x {kib:,} KiB",
            f"{estimate['worker_full_cache_mib']:,} MiB",
        )
        row("workers to cache them all", f"{orders:,} / {cache:,}", f"{estimate['workers_to_cache_all']:,} workers")
        if events is not None:
            # fewer workers hold the most recent orders; the others are out of every cache and cost no worker memory
            row("an order out of the cache, at its next signal", f"replays its {events} events", "on any worker")
    return estimate
