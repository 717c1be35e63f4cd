"""`oms up` stopped by Ctrl-C or SIGTERM leaves no process behind. Runs last in the tier: it stops the stack."""

import signal
import uuid
from pathlib import Path

import psutil
import pytest

from tests.integration.conftest import RunningStack, descendants, running_stack

pytestmark = pytest.mark.integration


def assert_stopped_in_order(log: str, parts: list[psutil.Process]) -> None:
    """Every part stopped on its own (none had to be killed), and none remain."""
    assert "did not stop in time" not in log, log[-4000:]
    assert "with SIGKILL" not in log, log[-4000:]  # supervisord's word for a part it had to kill
    alive = [p for p in parts if p.is_running() and p.status() != "zombie"]
    assert alive == [], [p.name() for p in alive]


def test_sigterm_stops_every_part(stack: RunningStack, tmp_path: Path) -> None:
    # given a second oms up on the session's database and Temporal server (its own task queue), and its processes
    with running_stack(
        tmp_path,
        OMS_DATABASE_URL=stack.database_url(),
        OMS_TEMPORAL_ADDRESS=stack.temporal_address,
        OMS_TASK_QUEUE=f"sigterm-{uuid.uuid4().hex[:6]}",
    ) as other:
        children = descendants(other.process.pid)
        assert {"supervisord", "oms"} <= {p.name() for p in children}
        # when it is sent SIGTERM (as a service manager or `kill` would)
        other.process.send_signal(signal.SIGTERM)
        code = other.process.wait(timeout=60)
        log = other.log_tail(chars=100_000)
    # then it exits cleanly and every part is gone, its addresses with them
    assert code == 0, log[-4000:]
    assert_stopped_in_order(log, children)
    assert not (tmp_path / "stack.json").exists()


def test_ctrl_c_stops_every_part(stack: RunningStack) -> None:
    # given the running stack and every process it started
    children = descendants(stack.process.pid)
    assert {"supervisord", "temporal", "oms"} <= {p.name() for p in children}
    postgres = psutil.Process(stack.postgres_pid())  # pg_ctl starts it detached, so it is no child
    assert postgres.name() == "postgres"
    # when the user presses Ctrl-C
    stack.process.send_signal(signal.SIGINT)
    code = stack.process.wait(timeout=60)
    # then it exits cleanly, every part stopped on its own (none had to be killed), and none remain
    assert code == 0
    assert_stopped_in_order(stack.log_tail(chars=1_000_000), [*children, postgres])
    assert not (stack.data_dir / "stack.json").exists()
