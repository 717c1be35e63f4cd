"""Saved histories replay against the working tree: a non-deterministic change to the workflow fails here."""

from pathlib import Path

import pytest
from temporalio.client import WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Replayer

from worker import sandbox_runner
from workflows.order import OrderWorkflow

HISTORIES = {p.stem: p.read_text() for p in sorted((Path(__file__).parent / "histories").glob("*.json"))}


@pytest.mark.parametrize("name", sorted(HISTORIES))
async def test_saved_history_replays_without_nondeterminism(name: str) -> None:
    # given a history recorded by an earlier version of the workflow
    history = WorkflowHistory.from_json(f"order-{name}", HISTORIES[name])
    # when the current code replays it
    replayer = Replayer(
        workflows=[OrderWorkflow], data_converter=pydantic_data_converter, workflow_runner=sandbox_runner()
    )
    result = await replayer.replay_workflow(history, raise_on_replay_failure=False)
    # then it makes the same decisions
    assert result.replay_failure is None, f"{name}: {result.replay_failure}"


def test_every_path_of_the_order_has_a_saved_history() -> None:
    paths = {"happy_path", "payment_declined", "unavailable", "canceled", "partially_canceled"}
    paths |= {"split", "reroute", "pickup", "returned"}
    assert paths <= set(HISTORIES), f"missing: {sorted(paths - set(HISTORIES))}"
