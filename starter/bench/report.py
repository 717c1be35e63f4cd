"""The figures a person reads at the end of a run, bench.json, and a plot to look at."""

import json
from pathlib import Path
from typing import Any

from starter.bench.metrics import WorkloadResult

TARGETS = {"oms_over_floor": 0.7, "oms_over_naive": 2.0, "events_per_order": 25, "checkout_p99_ms": 300}


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
        "checkout_p99_at_half_rate_ms": half_rate_p99_ms,
        "cancel_p50_ms": cancel_ms["p50"] if cancel_ms else None,
        "cancel_p99_ms": cancel_ms["p99"] if cancel_ms else None,
        "failures": {"oms": oms.failures, "floor": floor.failures, "naive": naive.failures},
        "peak_rss_mib": rss_mib,
        "scaling": scaling,
    }


def verdicts(result: dict[str, Any]) -> list[str]:
    def mark(ok: bool) -> str:
        return "met" if ok else "MISSED"

    lines = []
    for key, bound in (("oms_over_floor", TARGETS["oms_over_floor"]), ("oms_over_naive", TARGETS["oms_over_naive"])):
        value = result.get(key)
        lines.append(f"  {key:<28} {value!s:>8}   target >= {bound}   {mark(value is not None and value >= bound)}")
    events = result["events_per_order"]
    lines.append(
        f"  {'events_per_order':<28} {events!s:>8}   target <= 25    {mark(events is not None and events <= 25)}"
    )
    p99 = result["checkout_p99_at_half_rate_ms"]
    lines.append(
        f"  {'checkout p99 at half rate':<28} {p99!s:>8}   target <= 300   {mark(p99 is not None and p99 <= 300)}"
    )
    return lines


def render(result: dict[str, Any]) -> str:
    rss = ", ".join(f"{k} {v} MiB" for k, v in result["peak_rss_mib"].items())
    lines = [
        "",
        f"orders per workload {result['orders']}, concurrency {result['concurrency']}",
        f"  oms    {result['oms_orders_per_s']:>8} orders/s   {result['events_per_order']} events/order",
        f"  floor  {result['floor_orders_per_s']:>8} orders/s   {result['floor_events_per_order']} events/order",
        f"  naive  {result['naive_orders_per_s']:>8} orders/s   {result['naive_events_per_order']} events/order",
        f"  checkout p50/p95/p99  {result['checkout_p50_ms']} / {result['checkout_p95_ms']} / "
        f"{result['checkout_p99_ms']} ms",
        f"  cancel p50/p99        {result['cancel_p50_ms']} / {result['cancel_p99_ms']} ms",
        f"  peak RSS              {rss}",
        "  CPU ms per oms order  " + ", ".join(f"{k} {v}" for k, v in result.get("cpu_ms_per_order", {}).items()),
        f"  failures              {result['failures']}",
    ]
    if result["scaling"]:
        lines.append("  scaling (concurrency → orders/s, checkout p99 ms):")
        lines += [
            f"    {s['concurrency']:>5} → {s['orders_per_s']:>8}  {s['checkout_p99_ms']:>8}" for s in result["scaling"]
        ]
    profile = result.get("worker_profile")
    if profile:
        owners = ", ".join(f"{k} {v}%" for k, v in list(profile["by_owner_pct"].items())[:8])
        lines.append(f"  worker busy samples by owner (inclusive): {owners}")
    lines += ["targets:", *verdicts(result), ""]
    return "\n".join(lines)


def write(out: Path, result: dict[str, Any], workloads: list[WorkloadResult]) -> Path:
    out.mkdir(parents=True, exist_ok=True)
    (out / "bench.json").write_text(json.dumps(result, indent=2))
    return plot(out / "bench.png", workloads)


def plot(path: Path, workloads: list[WorkloadResult]) -> Path:
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
