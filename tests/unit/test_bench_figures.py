"""The benchmark's arithmetic: percentiles, verdicts against the targets, and the profile summary."""

from starter.bench.metrics import percentiles
from starter.bench.profile import summarize
from starter.bench.report import verdicts


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
        "events_per_order": 25,
        "checkout_p99_at_half_rate_ms": 301.0,
    }
    # when judged
    lines = verdicts(result)
    # then each target has its own verdict
    assert [line.split()[-1] for line in lines] == ["met", "MISSED", "met", "MISSED"]


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
