"""Every history an order creates: each run of its workflow (a run that continued as new, and those before
it) and each child workflow it started, with their own runs. An order's events are the sum of them all."""

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

from temporalio.api.enums.v1 import EventType
from temporalio.api.history.v1 import HistoryEvent
from temporalio.client import Client

# (workflow id, run id or None for the latest run) -> that run's events
FetchHistory = Callable[[str, str | None], Awaitable[Sequence[HistoryEvent]]]

_OPENS_TIMER = EventType.EVENT_TYPE_TIMER_STARTED
_CLOSES_TIMER = (EventType.EVENT_TYPE_TIMER_FIRED, EventType.EVENT_TYPE_TIMER_CANCELED)


@dataclass(frozen=True)
class OrderHistory:
    """What one order left in Temporal: events and bytes over all its histories, how many there are, and the
    timers its open run still holds."""

    events: int
    bytes: int
    histories: int
    open_timers: int


def fetcher(temporal: Client) -> FetchHistory:
    async def fetch(workflow_id: str, run_id: str | None) -> Sequence[HistoryEvent]:
        history = await temporal.get_workflow_handle(workflow_id, run_id=run_id).fetch_history()
        return history.events

    return fetch


async def order_history(fetch: FetchHistory, workflow_id: str) -> OrderHistory:
    """Walk back from the latest run along `continued_execution_run_id`, and into every child each run started."""
    events = size = histories = 0
    open_timers: int | None = None
    pending = [workflow_id]
    seen_workflows: set[str] = set()
    while pending:
        wid = pending.pop()
        if wid in seen_workflows:
            continue
        seen_workflows.add(wid)
        run_id: str | None = None
        seen_runs: set[str] = set()
        while True:
            run = await fetch(wid, run_id)
            histories += 1
            events += len(run)
            size += sum(e.ByteSize() for e in run)
            if wid == workflow_id and open_timers is None:  # the latest run of the order's own workflow
                open_timers = timers_left(run)
            pending += child_workflows(run)
            run_id = previous_run(run)
            if not run_id or run_id in seen_runs:
                break
            seen_runs.add(run_id)
    return OrderHistory(events=events, bytes=size, histories=histories, open_timers=open_timers or 0)


def previous_run(run: Sequence[HistoryEvent]) -> str:
    """The run this one continued from ('' for the first run)."""
    if not run or run[0].event_type != EventType.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED:
        return ""
    return run[0].workflow_execution_started_event_attributes.continued_execution_run_id


def child_workflows(run: Sequence[HistoryEvent]) -> list[str]:
    return [
        e.child_workflow_execution_started_event_attributes.workflow_execution.workflow_id
        for e in run
        if e.event_type == EventType.EVENT_TYPE_CHILD_WORKFLOW_EXECUTION_STARTED
    ]


def timers_left(run: Sequence[HistoryEvent]) -> int:
    started = sum(1 for e in run if e.event_type == _OPENS_TIMER)
    return started - sum(1 for e in run if e.event_type in _CLOSES_TIMER)


async def mean_history(fetch: FetchHistory, workflow_ids: Sequence[str]) -> OrderHistory | None:
    """The average order among these (rounded to whole events, bytes and timers); None without any."""
    found = [await order_history(fetch, wid) for wid in workflow_ids]
    if not found:
        return None
    n = len(found)
    return OrderHistory(
        events=round(sum(h.events for h in found) / n),
        bytes=round(sum(h.bytes for h in found) / n),
        histories=round(sum(h.histories for h in found) / n),
        open_timers=round(sum(h.open_timers for h in found) / n),
    )


async def events_per_order(temporal: Client, workflow_ids: Sequence[str]) -> float:
    """Events per order over every history each created, averaged (one decimal)."""
    fetch = fetcher(temporal)
    counts = [(await order_history(fetch, wid)).events for wid in workflow_ids]
    return round(sum(counts) / len(counts), 1) if counts else 0.0
