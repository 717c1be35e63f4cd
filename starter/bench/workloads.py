"""The workloads, driven at the same concurrency: the OMS through its HTTP API, floor and naive through the
Temporal client; and the bench's orders, which name the bench's own skus."""

import asyncio
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import httpx
from temporalio.client import Client

from domain.ids import fulfillment_order_id, workflow_id_for
from domain.models import PlaceOrder
from starter.bench.metrics import OrderTiming, WorkloadResult
from starter.bench.ui import workload_progress
from workflows.messages import CARRIER_SIGNAL, WAREHOUSE_SIGNAL, CarrierEvent, WarehouseEvent
from workflows.reference import NaiveInput

STOREFRONT = {"Authorization": "Bearer dev-storefront"}
PARTNER = {"Authorization": "Bearer dev-partner"}
AGENT = {"Authorization": "Bearer dev-agent"}

# runs order n (to completion, or as far as its workload goes) and returns its checkout ms
OrderDriver = Callable[[int], Awaitable[float]]


async def drive(name: str, orders: int, concurrency: int, rate: float | None, one_order: OrderDriver) -> WorkloadResult:
    """Run `orders` orders, at most `concurrency` in flight, started at `rate` per second if given."""
    gate = asyncio.Semaphore(concurrency)
    timings: list[OrderTiming] = []
    failures = 0
    first_error: str | None = None
    t0 = time.monotonic()
    with workload_progress() as progress:
        task = progress.add_task(name, total=orders, failed=0)

        async def run(n: int) -> None:
            nonlocal failures, first_error
            if rate:
                await asyncio.sleep(max(0.0, t0 + n / rate - time.monotonic()))
            async with gate:
                started = time.monotonic() - t0
                try:
                    checkout_ms = await one_order(n)
                except Exception as err:
                    failures += 1
                    first_error = first_error or f"{type(err).__name__}: {err}"
                    progress.update(task, advance=1, failed=failures)
                    return
                timings.append(OrderTiming(started, time.monotonic() - t0, checkout_ms))
                progress.update(task, advance=1)

        await asyncio.gather(*(run(n) for n in range(orders)))
    return WorkloadResult(name, orders, concurrency, time.monotonic() - t0, timings, failures, first_error=first_error)


def oms_order_driver(http: httpx.AsyncClient, temporal: Client, run_id: str, skus: Sequence[str]) -> OrderDriver:
    """The whole lifecycle through the API: checkout, the warehouse's and the carrier's webhooks, the window."""

    async def one_order(n: int) -> float:
        order_id = f"B{run_id}-{n}"
        started = time.perf_counter()
        response = await http.post("/v1/orders", json=bench_order(order_id, skus), headers=STOREFRONT)
        checkout_ms = (time.perf_counter() - started) * 1000
        response.raise_for_status()
        tracking = f"BENCH{run_id}{n:07d}"
        for fo_id in response.json()["fulfillment_order_ids"]:
            shipped = {"fulfillment_order_id": fo_id, "event": "shipped", "tracking_number": tracking}
            shipped["carrier"] = "bench"
            (await http.post("/v1/webhooks/warehouse", json=shipped, headers=PARTNER)).raise_for_status()
        await _until_accepted(http, "/v1/webhooks/carrier", {"tracking_number": tracking, "event": "delivered"})
        await temporal.get_workflow_handle(workflow_id_for(order_id)).result()
        return checkout_ms

    return one_order


async def _until_accepted(http: httpx.AsyncClient, path: str, body: dict[str, Any]) -> None:
    """A shipment's news is taken once the OMS has recorded the shipment: until then it answers 503 (send it
    again), which the bench's carrier does sooner than `Retry-After` says, for up to a minute."""
    for _ in range(1200):
        response = await http.post(path, json=body, headers=PARTNER)
        if response.status_code != 503:
            response.raise_for_status()
            return
        await asyncio.sleep(0.05)
    response.raise_for_status()


def floor_order_driver(temporal: Client, task_queue: str, run_id: str, window_s: float) -> OrderDriver:
    """The lifecycle's waits only: start, the two partner signals, the window."""

    async def one_order(n: int) -> float:
        started = time.perf_counter()
        handle = await temporal.start_workflow(
            "BenchFloor", window_s, id=f"bench-BenchFloor-{run_id}-{n}", task_queue=task_queue, result_type=str
        )
        checkout_ms = (time.perf_counter() - started) * 1000
        shipped = WarehouseEvent(fulfillment_order_id="F1", event="shipped", tracking_number="T", carrier="bench")
        await handle.signal(WAREHOUSE_SIGNAL, shipped)
        await handle.signal(CARRIER_SIGNAL, CarrierEvent(tracking_number="T", event="delivered"))
        await handle.result()
        return checkout_ms

    return one_order


def naive_order_driver(
    temporal: Client, task_queue: str, run_id: str, skus: Sequence[str], window_s: float
) -> OrderDriver:
    """The naive design's lifecycle, started like the floor; its orders (N...) are its own in the read model."""

    async def one_order(n: int) -> float:
        order_id = f"N{run_id}-{n}"
        order = PlaceOrder.model_validate(bench_order(order_id, skus))
        started = time.perf_counter()
        handle = await temporal.start_workflow(
            "BenchNaive",
            NaiveInput(order=order, window_seconds=window_s),
            id=naive_workflow_id(run_id, n),
            task_queue=task_queue,
            result_type=str,
        )
        checkout_ms = (time.perf_counter() - started) * 1000
        tracking = f"NAIVE{run_id}{n:07d}"
        shipped = WarehouseEvent(
            fulfillment_order_id=fulfillment_order_id(order_id, 1),
            event="shipped",
            tracking_number=tracking,
            carrier="bench",
        )
        await handle.signal(WAREHOUSE_SIGNAL, shipped)
        await handle.signal(CARRIER_SIGNAL, CarrierEvent(tracking_number=tracking, event="delivered"))
        await handle.result()
        return checkout_ms

    return one_order


def oms_workflow_id(run_id: str, n: int) -> str:
    return workflow_id_for(f"B{run_id}-{n}")


def floor_workflow_id(run_id: str, n: int) -> str:
    return f"bench-BenchFloor-{run_id}-{n}"


def naive_workflow_id(run_id: str, n: int) -> str:
    return f"bench-BenchNaive-{run_id}-{n}"


async def cancel_latencies(
    http: httpx.AsyncClient, run_id: str, skus: Sequence[str], count: int, concurrency: int
) -> list[float]:
    """Place orders and cancel each at once: the latency of the cancel update, through the API."""
    gate = asyncio.Semaphore(concurrency)
    latencies: list[float] = []

    async def one(n: int) -> None:
        async with gate:
            order_id = f"X{run_id}-{n}"
            placed = await http.post("/v1/orders", json=bench_order(order_id, skus), headers=STOREFRONT)
            placed.raise_for_status()
            started = time.perf_counter()
            canceled = await http.post(f"/v1/orders/{order_id}/cancel", json={"reason": "bench"}, headers=AGENT)
            canceled.raise_for_status()
            latencies.append((time.perf_counter() - started) * 1000)

    await asyncio.gather(*(one(n) for n in range(count)))
    return latencies


BENCH_PRICE = "1000"  # yen: the catalog lists each of the bench's skus at this price


def bench_skus(run_id: str, count: int) -> list[str]:
    """The skus this run lists in the catalog and stocks: an order of k lines names the first k."""
    return [f"BENCH-{run_id}-{n:02d}" for n in range(count)]


def bench_order(order_id: str, skus: Sequence[str]) -> dict[str, Any]:
    """A checkout of one unit of each sku."""
    return {
        "order_id": order_id,
        "channel": "web",
        "customer": {"id": "C-BENCH", "email": "bench@example.com", "name": "Bench Shopper"},
        "currency": "JPY",
        "lines": [{"sku": sku, "quantity": 1, "unit_price": BENCH_PRICE} for sku in skus],
        "shipping_address": {
            "name": "Bench Shopper",
            "line1": "1-1 Marunouchi",
            "city": "Chiyoda",
            "postal_code": "100-0005",
            "country": "JP",
            "latitude": 35.681,
            "longitude": 139.767,
        },
        "delivery_method": "standard",
        "payment": {"method": "card", "token": "tok_visa"},
    }
