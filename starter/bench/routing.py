"""How long `domain.routing.route` takes for one checkout, on synthetic networks; `python -m starter.bench.routing`.

Two stock layouts, both deterministic (seeded by their shape):
- everywhere: every location stocks every SKU, so one location can fill the order;
- sparse: each location stocks one third of the catalogue plus a few other SKUs, so an order of many lines
  needs three fulfillment orders.
"""

import argparse
import random
import statistics
import time
from datetime import datetime
from typing import Any, Literal

from domain.routing import Candidate, LocationKind, RouteLine, route

Layout = Literal["everywhere", "sparse"]
LAYOUTS: tuple[Layout, ...] = ("everywhere", "sparse")

CUSTOMER = (35.681, 139.767)  # Tokyo
NOW = datetime(2024, 6, 3, 10, 0)
SPARSE_GROUPS = 3
SPARSE_EXTRA_SKU_SHARE = 0.15  # chance a sparse location also stocks a SKU outside its third
KINDS: tuple[LocationKind, ...] = ("warehouse", "distribution_center", "store")


def order_lines(count: int) -> list[RouteLine]:
    return [RouteLine(sku=_sku(i), quantity=1 + i % 3) for i in range(count)]


def network(lines: int, locations: int, layout: Layout) -> list[Candidate]:
    """`locations` spread over Japan, stocking the order's `lines` SKUs as `layout` says."""
    rng = random.Random(f"{layout}-{lines}-{locations}")
    return [_location(rng, n, lines, layout) for n in range(locations)]


def routing_times(
    line_counts: tuple[int, ...] = (1, 10, 50), location_counts: tuple[int, ...] = (10, 200), repeats: int = 50
) -> list[dict[str, Any]]:
    """One row per layout and shape: the fulfillment orders planned and the median and p99 time of `route`."""
    rows: list[dict[str, Any]] = []
    for layout in LAYOUTS:
        for locations in location_counts:
            for lines in line_counts:
                rows.append(_time_one(lines, locations, layout, repeats))
    return rows


def render(rows: list[dict[str, Any]]) -> str:
    header = f"{'stock':<11}{'lines':>6}{'locations':>10}{'FOs':>5}{'median ms':>11}{'p99 ms':>9}"
    body = [
        f"{r['layout']:<11}{r['lines']:>6}{r['locations']:>10}{r['fulfillment_orders']:>5}"
        f"{r['median_ms']:>11.2f}{r['p99_ms']:>9.2f}"
        for r in rows
    ]
    return "\n".join([header, *body])


def _sku(i: int) -> str:
    return f"SKU-{i:03d}"


def _location(rng: random.Random, n: int, lines: int, layout: Layout) -> Candidate:
    group = n % SPARSE_GROUPS

    def stocks(i: int) -> bool:
        return layout == "everywhere" or i % SPARSE_GROUPS == group or rng.random() < SPARSE_EXTRA_SKU_SHARE

    return Candidate(
        location_id=f"LOC-{n:04d}",
        kind=KINDS[n % len(KINDS)],
        latitude=rng.uniform(31.0, 43.5),
        longitude=rng.uniform(130.0, 145.5),
        capabilities=["ship"],
        daily_capacity=500,
        capacity_used=rng.randint(0, 100),
        available={_sku(i): rng.randint(3, 40) for i in range(lines) if stocks(i)},
    )


def _time_one(lines: int, locations: int, layout: Layout, repeats: int) -> dict[str, Any]:
    order, candidates = order_lines(lines), network(lines, locations, layout)
    lat, lon = CUSTOMER
    samples: list[float] = []
    plan = None
    for _ in range(max(1, repeats)):
        started = time.perf_counter()
        plan = route(order, candidates, delivery_method="standard", now=NOW, latitude=lat, longitude=lon)
        samples.append((time.perf_counter() - started) * 1000)
    assert plan is not None
    return {
        "layout": layout,
        "lines": lines,
        "locations": locations,
        "fulfillment_orders": len(plan.fulfillments),
        "fully_routed": plan.fully_routed,
        "median_ms": statistics.median(samples),
        "p99_ms": _p99(samples),
    }


def _p99(samples: list[float]) -> float:
    if len(samples) == 1:
        return samples[0]
    return statistics.quantiles(samples, n=100, method="inclusive")[98]


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--repeats", type=int, default=50, help="routes timed per row")
    print(render(routing_times(repeats=parser.parse_args().repeats)))
