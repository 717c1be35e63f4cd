"""The three workloads, driven at the same concurrency: the OMS through its HTTP API, floor and naive
through the Temporal client."""

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
from temporalio.client import Client

from starter.bench.metrics import OrderTiming, Progress, WorkloadResult
from workflows.messages import CARRIER_SIGNAL, WAREHOUSE_SIGNAL, CarrierEvent, WarehouseEvent

STOREFRONT = {"Authorization": "Bearer dev-storefront"}
PARTNER = {"Authorization": "Bearer dev-partner"}
AGENT = {"Authorization": "Bearer dev-agent"}

OrderDriver = Callable[[int], Awaitable[float]]  # runs order n to completion, returns its checkout ms


async def drive(name: str, orders: int, concurrency: int, rate: float | None, one_order: OrderDriver) -> WorkloadResult:
    """Run `orders` orders, at most `concurrency` in flight, started at `rate` per second if given."""
    gate = asyncio.Semaphore(concurrency)
    progress = Progress(name, orders)
    timings: list[OrderTiming] = []
    failures = 0
    t0 = time.monotonic()

    async def run(n: int) -> None:
        nonlocal failures
        if rate:
            await asyncio.sleep(max(0.0, t0 + n / rate - time.monotonic()))
        async with gate:
            started = time.monotonic() - t0
            try:
                checkout_ms = await one_order(n)
            except Exception:
                failures += 1
                progress.advance(ok=False)
                return
            timings.append(OrderTiming(started, time.monotonic() - t0, checkout_ms))
            progress.advance()

    await asyncio.gather(*(run(n) for n in range(orders)))
    return WorkloadResult(name, orders, concurrency, time.monotonic() - t0, timings, failures)


def oms_order_driver(http: httpx.AsyncClient, temporal: Client, run_id: str, sku: str) -> OrderDriver:
    async def one_order(n: int) -> float:
        order_id = f"B{run_id}-{n}"
        started = time.perf_counter()
        response = await http.post("/v1/orders", json=bench_order(order_id, sku), headers=STOREFRONT)
        checkout_ms = (time.perf_counter() - started) * 1000
        response.raise_for_status()
        fo_id = response.json()["fulfillment_order_ids"][0]
        tracking = f"BENCH{run_id}{n:07d}"
        shipped = {"fulfillment_order_id": fo_id, "event": "shipped", "tracking_number": tracking, "carrier": "bench"}
        (await http.post("/v1/webhooks/warehouse", json=shipped, headers=PARTNER)).raise_for_status()
        await _until_accepted(http, "/v1/webhooks/carrier", {"tracking_number": tracking, "event": "delivered"})
        await temporal.get_workflow_handle(f"order-{order_id}").result()
        return checkout_ms

    return one_order


async def _until_accepted(http: httpx.AsyncClient, path: str, body: dict[str, Any]) -> None:
    """A carrier learns of a shipment only once the OMS has recorded it: retry a 404 briefly, as a partner does."""
    for _ in range(200):
        response = await http.post(path, json=body, headers=PARTNER)
        if response.status_code != 404:
            response.raise_for_status()
            return
        await asyncio.sleep(0.05)
    response.raise_for_status()


def reference_order_driver(
    temporal: Client, workflow: str, task_queue: str, run_id: str, window_s: float
) -> OrderDriver:
    async def one_order(n: int) -> float:
        started = time.perf_counter()
        handle = await temporal.start_workflow(
            workflow, window_s, id=f"bench-{workflow}-{run_id}-{n}", task_queue=task_queue, result_type=str
        )
        checkout_ms = (time.perf_counter() - started) * 1000
        shipped = WarehouseEvent(fulfillment_order_id="F1", event="shipped", tracking_number="T", carrier="bench")
        await handle.signal(WAREHOUSE_SIGNAL, shipped)
        await handle.signal(CARRIER_SIGNAL, CarrierEvent(tracking_number="T", event="delivered"))
        await handle.result()
        return checkout_ms

    return one_order


async def cancel_latencies(http: httpx.AsyncClient, run_id: str, sku: str, count: int, concurrency: int) -> list[float]:
    """Place orders and cancel each at once: the latency of the cancel update, through the API."""
    gate = asyncio.Semaphore(concurrency)
    latencies: list[float] = []

    async def one(n: int) -> None:
        async with gate:
            order_id = f"X{run_id}-{n}"
            placed = await http.post("/v1/orders", json=bench_order(order_id, sku), headers=STOREFRONT)
            placed.raise_for_status()
            started = time.perf_counter()
            canceled = await http.post(f"/v1/orders/{order_id}/cancel", json={"reason": "bench"}, headers=AGENT)
            canceled.raise_for_status()
            latencies.append((time.perf_counter() - started) * 1000)

    await asyncio.gather(*(one(n) for n in range(count)))
    return latencies


async def events_per_order(temporal: Client, workflow_ids: list[str]) -> float:
    counts = []
    for wid in workflow_ids:
        counts.append(len([e async for e in temporal.get_workflow_handle(wid).fetch_history_events()]))
    return sum(counts) / len(counts) if counts else 0.0


BENCH_PRICE = "1000"  # yen: the catalog lists the bench's sku at this price


def bench_order(order_id: str, sku: str) -> dict[str, Any]:
    return {
        "order_id": order_id,
        "channel": "web",
        "customer": {"id": "C-BENCH", "email": "bench@example.com", "name": "Bench Shopper"},
        "currency": "JPY",
        "lines": [{"sku": sku, "quantity": 1, "unit_price": BENCH_PRICE}],
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
