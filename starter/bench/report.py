"""The figures a person reads at the end of a run (rich tables), bench.json, and a plot to look at."""

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from rich.console import RenderableType
from rich.text import Text

from starter.bench.metrics import WorkloadResult
from starter.bench.ui import table, to_text

TARGETS = {
    "oms_over_floor": 0.8,
    "oms_over_naive": 2.5,
    "events_per_order": 20,
    "checkout_p99_ms": 200,
    "routing_ms": 20,
}
# the routing target's order: 50 lines over 200 locations, in every stock layout the scaling mode times
ROUTING_TARGET = (50, 200)


def figures(
    oms: WorkloadResult,
    floor: WorkloadResult,
    naive: WorkloadResult,
    cancel_ms: dict[str, float] | None,
    rss_mib: dict[str, float],
    scaling: list[dict[str, Any]],
    half_rate_p99_ms: float | None,
) -> dict[str, Any]:
    checkout = oms.checkout_percentiles()
    return {
        "orders": oms.orders,
        "concurrency": oms.concurrency,
        "oms_orders_per_s": round(oms.orders_per_s, 2),
        "floor_orders_per_s": round(floor.orders_per_s, 2),
        "naive_orders_per_s": round(naive.orders_per_s, 2),
        "oms_over_floor": round(oms.orders_per_s / floor.orders_per_s, 3) if floor.orders_per_s else None,
        "oms_over_naive": round(oms.orders_per_s / naive.orders_per_s, 3) if naive.orders_per_s else None,
        "events_per_order": oms.events_per_order,
        "floor_events_per_order": floor.events_per_order,
        "naive_events_per_order": naive.events_per_order,
        "checkout_p50_ms": checkout["p50"],
        "checkout_p95_ms": checkout["p95"],
        "checkout_p99_ms": checkout["p99"],
        "floor_start_p50_ms": floor.checkout_percentiles()["p50"],
        "floor_start_p99_ms": floor.checkout_percentiles()["p99"],
        "naive_start_p50_ms": naive.checkout_percentiles()["p50"],
        "naive_start_p99_ms": naive.checkout_percentiles()["p99"],
        "checkout_p99_at_half_rate_ms": half_rate_p99_ms,
        "cancel_p50_ms": cancel_ms["p50"] if cancel_ms else None,
        "cancel_p99_ms": cancel_ms["p99"] if cancel_ms else None,
        "failures": {"oms": oms.failures, "floor": floor.failures, "naive": naive.failures},
        "peak_rss_mib": rss_mib,
        "scaling": scaling,
    }


def scaling_step(key: str, level: int, step: WorkloadResult) -> dict[str, Any]:
    """One row of a scaling table: the level it ran at, its rate and checkout latency."""
    checkout = step.checkout_percentiles()
    return {
        key: level,
        "orders_per_s": round(step.orders_per_s, 2),
        "checkout_p50_ms": checkout["p50"],
        "checkout_p99_ms": checkout["p99"],
        "failures": step.failures,
        **({"events_per_order": step.events_per_order} if step.events_per_order is not None else {}),
    }


# (name shown, key in the result, comparison, target key, unit)
_CHECKS = (
    ("oms / floor", "oms_over_floor", ">=", "oms_over_floor", ""),
    ("oms / naive", "oms_over_naive", ">=", "oms_over_naive", ""),
    ("events per order", "events_per_order", "<=", "events_per_order", ""),
    ("checkout p99 at half rate", "checkout_p99_at_half_rate_ms", "<=", "checkout_p99_ms", " ms"),
    ("routing p99, 50 lines / 200 locations", "routing_p99_ms", "<=", "routing_ms", " ms"),
)


def verdicts(result: dict[str, Any]) -> list[tuple[str, Any, str, bool]]:
    """Each target: what it is called, the run's value, the bound, and whether the value meets it."""
    rows = []
    derived = {**result, "routing_p99_ms": routing_p99_ms(result)}
    for name, key, op, target, unit in _CHECKS:
        if key == "routing_p99_ms" and derived[key] is None:
            continue  # the scaling mode did not run
        value, bound = derived.get(key), TARGETS[target]
        ok = value is not None and (value >= bound if op == ">=" else value <= bound)
        rows.append((name, value, f"{op} {bound}{unit}", ok))
    return rows


def routing_p99_ms(result: dict[str, Any]) -> float | None:
    """The slowest p99 of the target's order over the layouts timed (stock everywhere, sparse)."""
    rows = result.get("scaling_by_locations")
    if not isinstance(rows, list):
        return None
    lines, locations = ROUTING_TARGET
    times = [r["p99_ms"] for r in rows if r.get("lines") == lines and r.get("locations") == locations and "p99_ms" in r]
    return max(times) if times else None


def _verdict(ok: bool) -> Text:
    return Text("met", style="green") if ok else Text("MISSED", style="bold red")


def tables(result: dict[str, Any]) -> list[RenderableType]:
    """The throughput run: workloads, the system under them, targets, and the scaling mode if it ran."""
    failures = result["failures"]
    workloads = table(
        f"Workloads: {result['orders']} orders each at concurrency {result['concurrency']}",
        ["workload", "orders/s", "events/order", "start p50 ms", "start p99 ms", "failures"],
        [
            ["oms", result["oms_orders_per_s"], result["events_per_order"], result["checkout_p50_ms"],
             result["checkout_p99_ms"], failures["oms"]],
            ["floor", result["floor_orders_per_s"], result["floor_events_per_order"], result.get("floor_start_p50_ms"),
             result.get("floor_start_p99_ms"), failures["floor"]],
            ["naive", result["naive_orders_per_s"], result["naive_events_per_order"], result.get("naive_start_p50_ms"),
             result.get("naive_start_p99_ms"), failures["naive"]],
        ],
    )  # fmt: skip
    workloads.caption = "start: the checkout through the API for oms, the workflow's start for floor and naive"
    cpu = result.get("cpu_ms_per_order", {})
    rss = result["peak_rss_mib"]
    system = table(
        "Processes during the oms workload",
        ["process", "peak RSS MiB", "CPU ms per oms order"],
        [[name, rss.get(name), cpu.get(name)] for name in sorted(set(rss) | set(cpu))],
    )
    latency = table(
        "Latency (oms, through the API)",
        ["figure", "p50 ms", "p95 ms", "p99 ms"],
        [
            ["checkout at full load", result["checkout_p50_ms"], result["checkout_p95_ms"], result["checkout_p99_ms"]],
            [f"checkout at half rate ({result.get('half_rate_orders_per_s')}/s)", None, None,
             result["checkout_p99_at_half_rate_ms"]],
            ["cancel update", result["cancel_p50_ms"], None, result["cancel_p99_ms"]],
        ],
    )  # fmt: skip
    judged = [[name, value, bound, _verdict(ok)] for name, value, bound, ok in verdicts(result)]
    targets = table("Targets", ["target", "value", "bound", "verdict"], judged)
    out: list[RenderableType] = [workloads, latency, system, targets]
    out += scaling_tables(result)
    profile = result.get("worker_profile")
    if profile:
        owners = list(profile["by_owner_pct"].items())[:8]
        out.append(table("Worker busy samples by owner (inclusive %)", ["owner", "%"], owners))
    return out


def scaling_tables(result: dict[str, Any]) -> list[RenderableType]:
    out: list[RenderableType] = []
    columns = ["orders/s", "checkout p50 ms", "checkout p99 ms", "failures"]
    keys = ["orders_per_s", "checkout_p50_ms", "checkout_p99_ms", "failures"]
    if result.get("scaling"):
        rows = [[s["concurrency"], *(s.get(k) for k in keys)] for s in result["scaling"]]
        out.append(table("Scaling by concurrency (1-line orders)", ["concurrency", *columns], rows))
    if result.get("scaling_by_lines"):
        rows = [[s["lines"], *(s.get(k) for k in keys), s.get("events_per_order")] for s in result["scaling_by_lines"]]
        title = f"Scaling by order size (concurrency {result['concurrency']})"
        out.append(table(title, ["lines", *columns, "events/order"], rows))
    routing = result.get("scaling_by_locations")
    if isinstance(routing, list) and routing:
        names = list(dict.fromkeys(key for row in routing for key in row))
        out.append(table("Scaling by network size: routing time", names, [[r.get(k) for k in names] for r in routing]))
    elif isinstance(routing, dict):
        out.append(Text(f"Scaling by network size: not measured ({routing.get('error')})", style="yellow"))
    return out


def open_order_tables(result: dict[str, Any]) -> list[RenderableType]:
    held = result["open_orders"]
    title = f"{held['placed']:,} open orders held, placed at {held['place_orders_per_s']}/s via {result['placed_via']}"
    rss = f"{held['worker_rss_before_mib']} / {held['worker_rss_held_mib']} / {held.get('worker_rss_peak_mib')}"
    cpu = result.get("cpu_ms_per_order", {})
    figures_table = table(
        title,
        ["figure", "value"],
        [
            ["order worker RSS before / held / peak (MiB)", rss],
            ["sticky cache (max_cached_workflows)", held["max_cached_workflows"]],
            ["orders in the cache", held["cached_orders"]],
            ["worker memory per cached order (KiB)", held["worker_kib_per_cached_order"]],
            ["Temporal server peak RSS (MiB)", result.get("peak_rss_mib", {}).get("temporal")],
            ["history events per open order", held["history_events_per_order"]],
            ["history bytes per open order", held["history_bytes_per_order"]],
            ["histories per order (runs and children)", held["histories_per_order"]],
            ["timers pending per open order", held["open_timers_per_order"]],
            ["checkout p50 / p99 (ms)", f"{result.get('checkout_p50_ms')} / {result.get('checkout_p99_ms')}"],
            ["CPU ms per order placed", ", ".join(f"{name} {ms}" for name, ms in cpu.items())],
            ["failures", held["failures"]],
        ],
        left=2,
    )
    estimate = result["cluster_estimate"]
    rows = [[r["figure"], r["arithmetic"], r["total"]] for r in estimate["rows"]]
    if not rows:
        return [figures_table, Text("not enough figures to estimate open orders on a cluster", style="yellow")]
    title = f"{estimate['orders']:,} open orders on a cluster, at these per-order figures"
    return [figures_table, table(title, ["figure", "arithmetic", "total"], rows, left=2)]


def error_table(result: dict[str, Any]) -> list[RenderableType]:
    errors = result.get("first_errors") or {}
    if not errors:
        return []
    return [
        table("Why orders failed (the first failure of each workload)", ["workload", "error"], list(errors.items()))
    ]


def render(result: dict[str, Any]) -> str:
    if "open_orders" in result:
        return to_text([*open_order_tables(result), *error_table(result)])
    return to_text([*tables(result), *error_table(result)])


def write(out: Path, result: dict[str, Any], workloads: Sequence[WorkloadResult]) -> Path:
    out.mkdir(parents=True, exist_ok=True)
    (out / "bench.json").write_text(json.dumps(result, indent=2))
    return plot(out / "bench.png", workloads)


def plot(path: Path, workloads: Sequence[WorkloadResult]) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (throughput, latency) = plt.subplots(2, 1, figsize=(10, 7), constrained_layout=True)
    for w in workloads:
        if not w.timings:
            continue
        seconds = int(max(t.finished for t in w.timings)) + 1
        per_second = [0] * seconds
        for t in w.timings:
            per_second[int(t.finished)] += 1
        throughput.plot(range(seconds), per_second, label=f"{w.name} ({w.orders_per_s:.1f}/s)")
        ordered = sorted(w.timings, key=lambda t: t.started)
        latency.plot([t.started for t in ordered], [t.checkout_ms for t in ordered], ".", ms=3, label=w.name)
    throughput.set(title="Orders completed per second", xlabel="seconds into the workload", ylabel="orders/s")
    latency.set(title="Checkout (oms) / start (floor, naive) latency", xlabel="order start (s)", ylabel="ms")
    throughput.legend()
    latency.legend()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
