"""Reset an order's workflow to a step, or to an event of its history, for an engineer (`oms order reset`).

A reset starts a new run of the order's workflow from a point in the current run's history: everything
up to the point is kept, the workflow task there is run again on today's code, and the signals that
arrived after it (partner webhooks) are delivered to the new run. Steps are local activities, so each one
is a `MarkerRecorded` event naming its activity type; resetting "to a step" goes back to the workflow task
completed just before that step's first marker, so the step runs again. Money does not move twice: every
payment call carries an idempotency key derived from the order and the step, so the gateway answers a
repeated capture with the original transaction.
"""

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from temporalio.api.common.v1 import WorkflowExecution
from temporalio.api.enums.v1 import EventType, ResetReapplyType
from temporalio.api.history.v1 import HistoryEvent
from temporalio.api.workflowservice.v1 import ResetWorkflowExecutionRequest
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

from domain.ids import reset_request_id, workflow_id_for
from starter.settings import Settings
from starter.temporal import connect

LOCAL_ACTIVITY_MARKER = "core_local_activity"
WORKFLOW_TASK_COMPLETED = EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED
MARKER_RECORDED = EventType.EVENT_TYPE_MARKER_RECORDED
UPDATE_ACCEPTED = EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED


class ResetRefused(Exception):
    """The reset cannot be made as asked (unknown order, a step never run, an event out of range); nothing changed."""


@dataclass(frozen=True)
class ResetPoint:
    """Where a reset goes back to: `event_id` is the workflow task completed event the new run starts after."""

    event_id: int
    description: str
    # updates the workflow accepted after the point: the new run does not receive them again
    updates_after: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class ResetOutcome:
    order_id: str
    workflow_id: str
    old_run_id: str
    new_run_id: str
    point: ResetPoint


def step_of(event: HistoryEvent) -> str | None:
    """The activity type a local activity marker records, or None for any other event."""
    if event.event_type != MARKER_RECORDED:
        return None
    marker = event.marker_recorded_event_attributes
    if marker.marker_name != LOCAL_ACTIVITY_MARKER or "data" not in marker.details:
        return None
    payloads = marker.details["data"].payloads
    if not payloads:
        return None
    try:
        details = json.loads(payloads[0].data)
    except ValueError:
        return None
    activity_type = details.get("activity_type") if isinstance(details, dict) else None
    return activity_type if isinstance(activity_type, str) else None


def steps_run(events: Sequence[HistoryEvent]) -> list[str]:
    """Each step the history ran, once, in the order it first ran."""
    seen: dict[str, None] = {}
    for event in events:
        step = step_of(event)
        if step is not None:
            seen.setdefault(step)
    return list(seen)


def find_reset_point(events: Sequence[HistoryEvent], to: str) -> ResetPoint:
    """The point `to` names: an event id (the workflow task completed at or before it) or a step name (the
    workflow task completed just before that step's first marker). Refused with a reason otherwise."""
    target = to.strip()
    if not events:
        raise ResetRefused("the order's history is empty")
    if target.isdigit():
        return _at_event(events, int(target))
    return _before_step(events, target)


def _at_event(events: Sequence[HistoryEvent], event_id: int) -> ResetPoint:
    first, last = events[0].event_id, events[-1].event_id
    if not first <= event_id <= last:
        raise ResetRefused(f"event {event_id} is out of range: this run's history has events {first} to {last}")
    completed = _last_task_completed(events, lambda e: e.event_id <= event_id)
    if completed is None:
        raise ResetRefused(f"event {event_id} comes before the run's first completed workflow task; nothing to keep")
    where = f"event {event_id}" if completed == event_id else f"event {event_id} (its workflow task: event {completed})"
    return ResetPoint(
        completed, f"workflow task completed at event {completed}, for {where}", _updates_after(events, completed)
    )


def _before_step(events: Sequence[HistoryEvent], step: str) -> ResetPoint:
    marker = next((e.event_id for e in events if step_of(e) == step), None)
    if marker is None:
        ran = ", ".join(steps_run(events)) or "none"
        raise ResetRefused(f"this run never ran the step {step!r}; the steps it ran: {ran}")
    completed = _last_task_completed(events, lambda e: e.event_id < marker)
    if completed is None:  # a marker is always recorded by a completed workflow task; a truncated history is not
        raise ResetRefused(f"no completed workflow task before {step} (event {marker})")
    return ResetPoint(
        completed,
        f"workflow task completed at event {completed}, before {step} first ran (event {marker})",
        _updates_after(events, completed),
    )


def _last_task_completed(events: Sequence[HistoryEvent], keep: Callable[[HistoryEvent], bool]) -> int | None:
    found = [e.event_id for e in events if e.event_type == WORKFLOW_TASK_COMPLETED and keep(e)]
    return found[-1] if found else None


def _updates_after(events: Sequence[HistoryEvent], event_id: int) -> list[str]:
    return [
        e.workflow_execution_update_accepted_event_attributes.accepted_request.input.name
        for e in events
        if e.event_type == UPDATE_ACCEPTED and e.event_id > event_id
    ]


async def reset_order(
    client: Client, order_id: str, to: str, reason: str, identity: str = "oms order reset"
) -> ResetOutcome:
    """Reset the order's current run to the point `to` names; its signals after the point are reapplied."""
    workflow_id = workflow_id_for(order_id)
    try:
        run_id = (await client.get_workflow_handle(workflow_id).describe()).run_id
        history = await client.get_workflow_handle(workflow_id, run_id=run_id).fetch_history()
    except RPCError as err:
        if err.status == RPCStatusCode.NOT_FOUND:
            raise ResetRefused(f"no order {order_id} (no workflow {workflow_id})") from err
        raise
    point = find_reset_point(history.events, to)
    response = await client.workflow_service.reset_workflow_execution(
        ResetWorkflowExecutionRequest(
            namespace=client.namespace,
            workflow_execution=WorkflowExecution(workflow_id=workflow_id, run_id=run_id),
            reason=reason,
            workflow_task_finish_event_id=point.event_id,
            request_id=reset_request_id(run_id, point.event_id, reason),
            reset_reapply_type=ResetReapplyType.RESET_REAPPLY_TYPE_SIGNAL,
            identity=identity,
        )
    )
    return ResetOutcome(order_id, workflow_id, run_id, response.run_id, point)


async def reset_with_settings(settings: Settings, order_id: str, to: str, reason: str) -> ResetOutcome:
    """`reset_order` on the server the settings (or the local stack) name."""
    client = await connect(temporal_address(settings), settings.temporal_namespace)
    return await reset_order(client, order_id, to, reason)


def temporal_address(settings: Settings) -> str:
    """OMS_TEMPORAL_ADDRESS when set; otherwise the server the local stack (`oms up`) wrote to stack.json."""
    if settings.temporal_address:
        return settings.temporal_address
    written = Path(settings.data_dir) / "stack.json"
    try:
        address = json.loads(written.read_text()).get("temporal")
    except (OSError, ValueError, AttributeError):
        address = None
    return address if isinstance(address, str) and address else settings.temporal_target
