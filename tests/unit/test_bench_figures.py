"""The benchmark's arithmetic and report: percentiles, verdicts against the targets, the profile summary, the
scaling rows, the open-order figures and their million-order estimate, and the tables printed."""

from typing import Any

from starter.bench.histories import OrderHistory
from starter.bench.metrics import OrderTiming, WorkloadResult, percentiles
from starter.bench.open_orders import cluster_estimate, open_order_figures
from starter.bench.profile import summarize
from starter.bench.report import figures, render, scaling_step, verdicts


def test_percentiles_of_a_known_spread() -> None:
    # given latencies 1..100 ms
    values = [float(v) for v in range(1, 101)]
    # then the cuts sit where a person expects
    assert percentiles(values) == {"p50": 50.5, "p95": 95.0, "p99": 99.0}


def test_verdicts_mark_missed_and_met_targets() -> None:
    # given a run that is fast enough against the floor but too slow against the naive design
    result = {
        "oms_over_floor": 0.8,
        "oms_over_naive": 1.5,
        "events_per_order": 20,
        "checkout_p99_at_half_rate_ms": 201.0,
        "scaling_by_locations": [
            {"layout": "everywhere", "lines": 50, "locations": 200, "p99_ms": 9.0},
            {"layout": "sparse", "lines": 50, "locations": 200, "p99_ms": 21.0},
            {"layout": "sparse", "lines": 10, "locations": 200, "p99_ms": 90.0},
        ],
    }
    # when judged
    lines = verdicts(result)
    # then each target has its own verdict, next to its value and bound; routing by its slowest layout
    assert [ok for *_, ok in lines] == [True, False, True, False, False]
    assert lines[1] == ("oms / naive", 1.5, ">= 2.5", False)
    assert lines[3][2] == "<= 200 ms"
    assert lines[4][1:3] == (21.0, "<= 20 ms")


def test_without_the_scaling_mode_routing_is_not_judged() -> None:
    # given a run without the scaling mode, when judged, then no routing verdict is made up
    result = {"oms_over_floor": 0.9, "oms_over_naive": 2.6, "events_per_order": 19, "checkout_p99_at_half_rate_ms": 1}
    assert [name for name, *_ in verdicts(result)] == [
        "oms / floor",
        "oms / naive",
        "events per order",
        "checkout p99 at half rate",
    ]


def test_profile_summary_attributes_samples_to_their_owners() -> None:
    # given three busy stacks from py-spy's raw format
    collapsed = [
        "main (worker.py:1);run (temporalio/worker/_workflow.py:10);activate (temporalio/bridge/x.py:5) 6",
        "main (worker.py:1);allocate (/work/activities/allocation.py:40);execute (sqlalchemy/engine/base.py:9) 3",
        "main (worker.py:1);execute (psycopg/cursor.py:9) 1",
    ]
    # when summarized
    summary = summarize(collapsed)
    # then shares are of all busy samples, inclusive per owner, and the hottest leaf leads
    assert summary["samples"] == 10
    assert summary["by_owner_pct"] == {
        "temporal sdk": 60.0,
        "oms activities": 30.0,
        "sqlalchemy": 30.0,
        "psycopg": 10.0,
    }
    assert next(iter(summary["top_frames_pct"])) == "activate (temporalio/bridge/x.py:5)"


def test_an_empty_profile_summarizes_to_nothing() -> None:
    assert summarize(["", "garbage"]) == {}


def test_a_missing_value_misses_its_target() -> None:
    # given a run whose ratio against the naive design could not be computed (naive finished no order)
    result = {
        "oms_over_floor": 0.9,
        "oms_over_naive": None,
        "events_per_order": None,
        "checkout_p99_at_half_rate_ms": 1,
    }
    # when judged, then nothing missing counts as met
    assert [ok for *_, ok in verdicts(result)][:4] == [True, False, False, True]


def _workload(name: str, checkouts: list[float], elapsed_s: float, failures: int = 0) -> WorkloadResult:
    timings = [OrderTiming(started=0.0, finished=elapsed_s, checkout_ms=ms) for ms in checkouts]
    return WorkloadResult(name, len(checkouts) + failures, 5, elapsed_s, timings, failures)


def test_a_scaling_step_reports_its_level_rate_and_checkout_latency() -> None:
    # given ten 50-line orders done in 4 s, one failed, with 120 events each
    step = _workload("50 lines", [100.0 + n for n in range(10)], elapsed_s=4.0, failures=1)
    step.events_per_order = 120.0
    # when it becomes a row of the order-size table
    row = scaling_step("lines", 50, step)
    # then the rate counts finished orders only, and the row keeps its events
    assert row == {
        "lines": 50,
        "orders_per_s": 2.5,
        "checkout_p50_ms": 104.5,
        "checkout_p99_ms": 108.9,
        "failures": 1,
        "events_per_order": 120.0,
    }


def _throughput_result() -> dict[str, Any]:
    oms, floor, naive = (_workload(n, [200.0, 300.0], 1.0) for n in ("oms", "floor", "naive"))
    oms.events_per_order, floor.events_per_order, naive.events_per_order = 33.0, 13.0, 40.0
    result = figures(oms, floor, naive, {"p50": 20.0, "p95": 30.0, "p99": 40.0}, {"worker": 120.5}, [], 150.0)
    result["cpu_ms_per_order"] = {"worker": 88.0}
    result["scaling"] = [scaling_step("concurrency", 5, oms)]
    result["scaling_by_lines"] = [scaling_step("lines", 10, oms)]
    result["scaling_by_locations"] = [{"layout": "sparse", "lines": 50, "locations": 200, "median_ms": 0.0123}]
    return result


def test_the_report_shows_every_workload_target_and_scaling_table() -> None:
    # given a run in the scaling mode
    result = _throughput_result()
    # when rendered for a log (no terminal)
    text = render(result)
    # then each table is there, with the naive design's figures and the routing rows as measured
    for title in (
        "Workloads",
        "Targets",
        "Scaling by concurrency",
        "Scaling by order size",
        "Scaling by network size: routing time",
    ):
        assert title in text
    assert "naive" in text and "MISSED" in text
    assert "0.0123" in text  # routing times in ms keep their significant digits
    assert "\x1b[" not in text  # plain text when stdout is not a terminal


def test_a_missing_routing_module_is_said_not_hidden() -> None:
    # given the network sizes could not be timed
    result = _throughput_result()
    result["scaling_by_locations"] = {"error": "starter.bench.routing cannot be imported: no module"}
    # when rendered, then the report says why
    assert "not measured (starter.bench.routing cannot be imported" in render(result)


def test_open_order_figures_divide_growth_by_the_orders_the_cache_holds() -> None:
    # given 2,500 open orders, a cache of 1,000 and a worker grown from 120 to 170 MiB
    history = OrderHistory(events=17, bytes=9_000, histories=1, open_timers=1)
    held = open_order_figures(
        orders=2_500,
        placed=2_500,
        elapsed_s=100.0,
        cache_size=1_000,
        rss_before_mib=120.0,
        rss_held_mib=170.0,
        history=history,
    )
    # then only the cached orders cost worker memory: 50 MiB over 1,000 of them
    assert held["cached_orders"] == 1_000
    assert held["worker_kib_per_cached_order"] == 51.2
    assert held["place_orders_per_s"] == 25.0
    assert held["history_bytes_per_order"] == 9_000 and held["failures"] == 0


def test_a_million_open_orders_are_estimated_with_the_arithmetic_shown() -> None:
    # given the per-order figures of a run
    held = open_order_figures(
        orders=200,
        placed=200,
        elapsed_s=10.0,
        cache_size=1_000,
        rss_before_mib=100.0,
        rss_held_mib=110.0,
        history=OrderHistory(events=20, bytes=10_240, histories=1, open_timers=1),
    )
    # when scaled to a million open orders
    estimate = cluster_estimate(held)
    # then each total is the per-order figure times a million, and the cache needs a worker per thousand orders
    assert estimate["history_gib"] == round(1_000_000 * 10_240 / 2**30, 2) == 9.54
    assert estimate["history_events"] == 20_000_000
    assert estimate["timers"] == 1_000_000
    assert held["worker_kib_per_cached_order"] == 51.2
    assert estimate["cache_all_gib"] == 48.83
    assert estimate["workers_to_cache_all"] == 1_000
    assert estimate["worker_full_cache_mib"] == 150  # 100 MiB + 1,000 x 51.2 KiB
    arithmetic = {r["figure"]: (r["arithmetic"], r["total"]) for r in estimate["rows"]}
    assert arithmetic["history size in Temporal"] == ("1,000,000 x 10,240 B", "9.54 GiB")
    assert arithmetic["one worker with a full cache"] == (
        "100.0 MiB + 1,000 (max_cached_workflows) x 51.2 KiB",
        "150 MiB",
    )
    assert arithmetic["workers to cache them all"] == ("1,000,000 / 1,000", "1,000 workers")


def test_without_histories_the_estimate_says_only_what_it_can() -> None:
    # given the histories could not be read
    held = open_order_figures(
        orders=10, placed=0, elapsed_s=1.0, cache_size=1_000, rss_before_mib=1.0, rss_held_mib=1.0, history=None
    )
    # then nothing is made up
    assert held["worker_kib_per_cached_order"] is None and held["failures"] == 10
    assert cluster_estimate(held)["rows"] == []
    result = {"placed_via": "the Temporal client", "open_orders": held, "cluster_estimate": cluster_estimate(held)}
    assert "not enough figures to estimate" in render(result)


def test_open_orders_render_their_figures_and_the_estimate() -> None:
    # given an open-orders run
    held = open_order_figures(
        orders=200,
        placed=200,
        elapsed_s=10.0,
        cache_size=1_000,
        rss_before_mib=100.0,
        rss_held_mib=110.0,
        history=OrderHistory(events=20, bytes=10_240, histories=1, open_timers=1),
    )
    result = {"placed_via": "the Temporal client", "open_orders": held, "cluster_estimate": cluster_estimate(held)}
    # when rendered
    text = render(result)
    # then the cache size, the per-order memory and the million-order arithmetic are printed
    assert "sticky cache (max_cached_workflows)" in text and "1,000" in text
    assert "51.2" in text
    assert "1,000,000 open orders on a cluster" in text
    assert "1,000,000 x 10,240 B" in text and "9.54 GiB" in text


def test_the_first_failure_of_each_workload_is_reported() -> None:
    # given a run where one naive order failed
    result = _throughput_result()
    result["first_errors"] = {"naive": "WorkflowFailureError: Workflow execution failed"}
    # when rendered, then the reason is printed beside its workload
    text = render(result)
    assert "Why orders failed" in text and "WorkflowFailureError" in text
