"""Where `oms order reset` goes back to, found on saved order histories, and the reset request it sends.

split.json is an order of two fulfillment orders: checkout's task completes at event 4 and records
authorize_payment (5), allocate_order (6) and project_order (7); the first shipment's task completes at 17
and records settle_shipment (18); the second shipment's task completes at 32 and records settle_shipment
(33). Its history has events 1 to 52; the checkout update is accepted at event 12.
"""

import json
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from temporalio.api.enums.v1 import EventType, ResetReapplyType
from temporalio.api.history.v1 import HistoryEvent
from temporalio.api.workflowservice.v1 import ResetWorkflowExecutionRequest, ResetWorkflowExecutionResponse
from temporalio.client import WorkflowHistory
from temporalio.service import RPCError, RPCStatusCode

from domain.ids import workflow_id_for
from starter.reset import ResetRefused, find_reset_point, reset_order, steps_run, temporal_address
from starter.settings import Settings

HISTORIES = Path(__file__).parents[1] / "workflows" / "histories"


def history(name: str) -> WorkflowHistory:
    return WorkflowHistory.from_json(workflow_id_for(name), (HISTORIES / f"{name}@v0.json").read_text())


@pytest.fixture(scope="module")
def split() -> list[HistoryEvent]:
    return list(history("split").events)


def event(events: list[HistoryEvent], event_id: int) -> HistoryEvent:
    return next(e for e in events if e.event_id == event_id)


# -- to a step ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("step", "task_completed"),
    [("authorize_payment", 4), ("allocate_order", 4), ("settle_shipment", 17)],
)
def test_a_step_resets_to_the_workflow_task_completed_just_before_its_first_marker(
    split: list[HistoryEvent], step: str, task_completed: int
) -> None:
    # given an order that ran the step (settle_shipment twice, one per fulfillment order)
    # when the engineer resets to the step by name
    point = find_reset_point(split, step)
    # then the point is the completed workflow task just before the step first ran, so the step runs again
    assert point.event_id == task_completed
    assert event(split, point.event_id).event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED
    assert step in point.description


def test_a_step_the_history_never_ran_is_refused_with_the_steps_it_did_run(split: list[HistoryEvent]) -> None:
    # given an order that was never refunded
    # when the engineer resets to refund_payment
    with pytest.raises(ResetRefused) as refused:
        find_reset_point(split, "refund_payment")
    # then they are told so, and shown the steps there are to choose from
    message = str(refused.value)
    assert "refund_payment" in message
    assert "authorize_payment, allocate_order, project_order, settle_shipment" in message


def test_the_steps_run_are_listed_once_each_in_the_order_they_first_ran(split: list[HistoryEvent]) -> None:
    assert steps_run(split) == ["authorize_payment", "allocate_order", "project_order", "settle_shipment"]


def test_a_step_recorded_after_others_in_one_task_resets_to_that_task() -> None:
    # given a returned order: the task completed at event 40 restocked (42) and then refunded (43)
    events = list(history("returned").events)
    # when the engineer resets to the refund
    point = find_reset_point(events, "refund_payment")
    # then the point is that task, so the restock (keyed, applied once) and the refund both run again
    assert point.event_id == 40
    assert "event 43" in point.description


# -- to an event id ----------------------------------------------------------------------------------------
@pytest.mark.parametrize(("to", "task_completed"), [("17", 17), ("18", 17), ("31", 28), ("52", 49), ("4", 4)])
def test_an_event_id_resets_to_the_workflow_task_completed_at_or_before_it(
    split: list[HistoryEvent], to: str, task_completed: int
) -> None:
    # given an event id taken from the UI
    # when the engineer resets to it
    point = find_reset_point(split, to)
    # then the point is that event when it is a completed workflow task, else the last one before it
    assert point.event_id == task_completed


@pytest.mark.parametrize("to", ["0", "53", "999"])
def test_an_event_id_outside_the_history_is_refused_with_the_range(split: list[HistoryEvent], to: str) -> None:
    with pytest.raises(ResetRefused, match=f"event {to} is out of range.*1 to 52"):
        find_reset_point(split, to)


def test_an_event_before_the_first_completed_workflow_task_is_refused(split: list[HistoryEvent]) -> None:
    # given event 3, the first workflow task's start: nothing has completed yet to go back to
    with pytest.raises(ResetRefused, match="before the run's first completed workflow task"):
        find_reset_point(split, "3")


def test_updates_after_the_point_are_named_since_the_new_run_does_not_receive_them(split: list[HistoryEvent]) -> None:
    # given the checkout update accepted at event 12
    # then a reset before it warns that the new run does not see it again, and a reset after it does not
    assert find_reset_point(split, "authorize_payment").updates_after == ["checkout"]
    assert find_reset_point(split, "settle_shipment").updates_after == []


# -- the request sent --------------------------------------------------------------------------------------
@dataclass
class FakeWorkflowService:
    requests: list[ResetWorkflowExecutionRequest] = field(default_factory=list)

    async def reset_workflow_execution(self, request: ResetWorkflowExecutionRequest) -> ResetWorkflowExecutionResponse:
        self.requests.append(request)
        return ResetWorkflowExecutionResponse(run_id="run-2")


@dataclass
class FakeDescription:
    run_id: str


@dataclass
class FakeHandle:
    client: "FakeTemporal"
    workflow_id: str
    run_id: str | None

    async def describe(self) -> FakeDescription:
        if self.workflow_id not in self.client.histories:
            raise RPCError(f"workflow not found for ID: {self.workflow_id}", RPCStatusCode.NOT_FOUND, b"")
        return FakeDescription("run-1")

    async def fetch_history(self) -> WorkflowHistory:
        self.client.fetched.append((self.workflow_id, self.run_id))
        return self.client.histories[self.workflow_id]


@dataclass
class FakeTemporal:
    histories: dict[str, WorkflowHistory]
    namespace: str = "default"
    workflow_service: FakeWorkflowService = field(default_factory=FakeWorkflowService)
    fetched: list[tuple[str, str | None]] = field(default_factory=list)

    def get_workflow_handle(self, workflow_id: str, *, run_id: str | None = None) -> FakeHandle:
        return FakeHandle(self, workflow_id, run_id)


async def test_a_reset_names_the_run_the_point_and_reapplies_signals() -> None:
    # given order T-1 on its first run, with the split history
    temporal = FakeTemporal({"order-T-1": history("split")})
    # when it is reset to settle_shipment
    outcome = await reset_order(temporal, "T-1", "settle_shipment", "capture rerun after gateway fix")  # type: ignore[arg-type]
    # then the server is asked to reset exactly that run at the task before the step, with the reason
    [request] = temporal.workflow_service.requests
    assert temporal.fetched == [("order-T-1", "run-1")]
    assert (request.namespace, request.workflow_execution.workflow_id, request.workflow_execution.run_id) == (
        "default",
        "order-T-1",
        "run-1",
    )
    assert request.workflow_task_finish_event_id == 17
    assert request.reason == "capture rerun after gateway fix"
    # and the shipped and delivered webhooks after the point are delivered to the new run
    assert request.reset_reapply_type == ResetReapplyType.RESET_REAPPLY_TYPE_SIGNAL
    assert request.request_id
    # and the caller learns the new run
    assert (outcome.old_run_id, outcome.new_run_id, outcome.point.event_id) == ("run-1", "run-2", 17)


async def test_asking_twice_for_the_same_reset_is_one_request_id() -> None:
    # given a reset call that is repeated after a lost answer
    temporal = FakeTemporal({"order-T-1": history("split")})
    await reset_order(temporal, "T-1", "settle_shipment", "rerun")  # type: ignore[arg-type]
    await reset_order(temporal, "T-1", "settle_shipment", "rerun")  # type: ignore[arg-type]
    await reset_order(temporal, "T-1", "allocate_order", "rerun")  # type: ignore[arg-type]
    first, again, other = temporal.workflow_service.requests
    # then the server can tell the repeat from a new reset
    assert first.request_id == again.request_id != other.request_id


async def test_an_unknown_order_is_refused_and_nothing_is_reset() -> None:
    temporal = FakeTemporal({})
    with pytest.raises(ResetRefused, match="no order T-404"):
        await reset_order(temporal, "T-404", "settle_shipment", "rerun")  # type: ignore[arg-type]
    assert temporal.workflow_service.requests == []


async def test_a_step_never_run_sends_no_reset() -> None:
    temporal = FakeTemporal({"order-T-1": history("payment_declined")})
    with pytest.raises(ResetRefused, match="never ran the step 'settle_shipment'"):
        await reset_order(temporal, "T-1", "settle_shipment", "rerun")  # type: ignore[arg-type]
    assert temporal.workflow_service.requests == []


# -- which server ------------------------------------------------------------------------------------------
def test_the_server_is_the_settings_address_when_one_is_set(tmp_path: Path) -> None:
    (tmp_path / "stack.json").write_text(json.dumps({"temporal": "127.0.0.1:9999"}))
    assert temporal_address(Settings(temporal_address="temporal.prod:7233", data_dir=tmp_path)) == "temporal.prod:7233"


def test_without_an_address_the_server_is_the_local_stacks(tmp_path: Path) -> None:
    # given `oms up` running on other ports, as its stack.json says
    (tmp_path / "stack.json").write_text(json.dumps({"temporal": "127.0.0.1:9999"}))
    # then the reset goes to that server
    assert temporal_address(Settings(temporal_address=None, data_dir=tmp_path)) == "127.0.0.1:9999"
    # and with no stack running, to the default port
    assert temporal_address(Settings(temporal_address=None, data_dir=tmp_path / "none", temporal_port=7234)) == (
        "127.0.0.1:7234"
    )
