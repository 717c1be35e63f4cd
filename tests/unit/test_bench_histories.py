"""Events per order count every history the order created: each run of a chain continued as new, and children."""

from collections.abc import Sequence

from temporalio.api.enums.v1 import EventType
from temporalio.api.history.v1 import HistoryEvent

from starter.bench.histories import order_history, previous_run, timers_left

E = EventType


def _event(kind: int, **attrs: str) -> HistoryEvent:
    event = HistoryEvent(event_type=kind)  # type: ignore[arg-type]
    if kind == E.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED and "continued_from" in attrs:
        event.workflow_execution_started_event_attributes.continued_execution_run_id = attrs["continued_from"]
    if kind == E.EVENT_TYPE_CHILD_WORKFLOW_EXECUTION_STARTED:
        event.child_workflow_execution_started_event_attributes.workflow_execution.workflow_id = attrs["child"]
    return event


def _run(length: int, *, continued_from: str = "", child: str | None = None) -> list[HistoryEvent]:
    start = _event(E.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED, continued_from=continued_from)
    rest = [_event(E.EVENT_TYPE_WORKFLOW_TASK_COMPLETED) for _ in range(length - 1)]
    if child is not None:
        rest[-1] = _event(E.EVENT_TYPE_CHILD_WORKFLOW_EXECUTION_STARTED, child=child)
    return [start, *rest]


class FakeTemporal:
    """Histories by (workflow id, run id); None is the latest run."""

    def __init__(self, runs: dict[tuple[str, str | None], list[HistoryEvent]]) -> None:
        self.runs = runs
        self.asked: list[tuple[str, str | None]] = []

    async def __call__(self, workflow_id: str, run_id: str | None) -> Sequence[HistoryEvent]:
        self.asked.append((workflow_id, run_id))
        return self.runs[(workflow_id, run_id)]


async def test_a_single_run_counts_its_own_events() -> None:
    # given an order that never continued as new nor started a child
    temporal = FakeTemporal({("order-1", None): _run(31)})
    # when counted
    history = await order_history(temporal, "order-1")
    # then it is that run's events, in one history
    assert (history.events, history.histories) == (31, 1)
    assert history.bytes == sum(e.ByteSize() for e in temporal.runs[("order-1", None)])


async def test_runs_continued_as_new_and_children_add_up() -> None:
    # given an order whose first run (20 events) started a child (12 events) and continued as new into a
    # second run (15 events), which continued into the latest (9 events)
    temporal = FakeTemporal(
        {
            ("order-1", None): _run(9, continued_from="run-2"),
            ("order-1", "run-2"): _run(15, continued_from="run-1"),
            ("order-1", "run-1"): _run(20, child="order-1-fo-1"),
            ("order-1-fo-1", None): _run(12),
        }
    )
    # when counted
    history = await order_history(temporal, "order-1")
    # then every history of the order is in the count
    assert (history.events, history.histories) == (9 + 15 + 20 + 12, 4)
    assert ("order-1-fo-1", None) in temporal.asked


async def test_a_child_that_continued_as_new_counts_all_its_runs() -> None:
    # given an order whose child continued as new once
    temporal = FakeTemporal(
        {
            ("order-1", None): _run(10, child="kid"),
            ("kid", None): _run(4, continued_from="kid-1"),
            ("kid", "kid-1"): _run(6),
        }
    )
    # when counted, then the child's two runs are both in it
    assert (await order_history(temporal, "order-1")).events == 20


def test_the_first_run_has_no_previous_run_and_timers_left_are_those_not_fired_nor_canceled() -> None:
    run = [
        _event(E.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED),
        _event(E.EVENT_TYPE_TIMER_STARTED),
        _event(E.EVENT_TYPE_TIMER_STARTED),
        _event(E.EVENT_TYPE_TIMER_STARTED),
        _event(E.EVENT_TYPE_TIMER_FIRED),
        _event(E.EVENT_TYPE_TIMER_CANCELED),
    ]
    assert previous_run(run) == ""
    assert previous_run([]) == ""
    assert timers_left(run) == 1
