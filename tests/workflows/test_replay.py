"""Saved histories replay against the working tree: a non-deterministic change to the workflow fails here.

Histories are named `<path>@<version>.json`: the path of tests/workflows/paths.py they took, and the version
of the workflow that recorded them (`python -m tests.workflows.record_histories` writes HISTORY_VERSION).
Every version's histories stay and keep replaying, so a change behind `workflow.patched()` is checked
against orders already running.
"""

import json
from pathlib import Path

import pytest
from temporalio.client import WorkflowHistory
from temporalio.worker import Replayer

from domain.ids import workflow_id_for
from starter.temporal import oms_data_converter
from tests.workflows.paths import HISTORY_VERSION, PATHS
from worker import sandbox_runner
from workflows.messages import ORDER_WORKFLOW
from workflows.registry import ORDER_WORKFLOWS

HISTORIES = {p.stem: p.read_text() for p in sorted((Path(__file__).parent / "histories").glob("*.json"))}


def path_and_version(stem: str) -> tuple[str, str]:
    path, _, version = stem.partition("@")
    return path, version


@pytest.mark.parametrize("name", sorted(HISTORIES))
async def test_saved_history_replays_without_nondeterminism(name: str) -> None:
    # given a history recorded by an earlier version of the workflow
    history = WorkflowHistory.from_json(workflow_id_for(name), HISTORIES[name])
    # when the current code replays it, with the codec (which passes the payloads of histories saved before it)
    replayer = Replayer(
        workflows=ORDER_WORKFLOWS, data_converter=oms_data_converter(), workflow_runner=sandbox_runner()
    )
    result = await replayer.replay_workflow(history, raise_on_replay_failure=False)
    # then it makes the same decisions
    assert result.replay_failure is None, f"{name}: {result.replay_failure}"


def test_every_path_of_the_order_has_a_saved_history() -> None:
    # given the paths the recorder knows and the histories saved
    recorded = {path_and_version(stem)[0] for stem in HISTORIES}
    # then each path has at least one history to replay
    missing = sorted(set(PATHS) - recorded)
    assert not missing, f"no saved history of {missing}: run python -m tests.workflows.record_histories"


def test_every_saved_history_is_named_for_a_known_path_and_a_version() -> None:
    # given the saved histories' names
    names = [path_and_version(stem) for stem in HISTORIES]
    # then each names a path of the registry (a renamed path keeps its old histories covered) and a version
    unknown = sorted(f"{path}@{version}" for path, version in names if path not in PATHS)
    assert not unknown, f"histories of no known path (renamed? add it to paths.py): {unknown}"
    unversioned = sorted(f"{p}@{v}" for p, v in names if not (v[:1] == "v" and v[1:].isdigit()))
    assert not unversioned, f"histories named without <path>@v<n>: {unversioned}"


def test_every_path_has_a_history_of_the_workflow_new_orders_run() -> None:
    # given the histories of the version the recorder writes now
    current = {
        path_and_version(stem)[0]: json.loads(text)["events"][0]["workflowExecutionStartedEventAttributes"]
        for stem, text in HISTORIES.items()
        if path_and_version(stem)[1] == HISTORY_VERSION
    }
    types = {started["workflowType"]["name"] for started in current.values()}
    # then every path was recorded on the type the API starts, so a change to it that breaks them fails here
    assert sorted(current) == sorted(PATHS)
    assert types == {ORDER_WORKFLOW}
