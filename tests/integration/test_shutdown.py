"""`oms up` stopped by Ctrl-C leaves no process behind. Runs last in the tier: it stops the stack."""

import signal

import psutil
import pytest

from tests.integration.conftest import RunningStack, descendants

pytestmark = pytest.mark.integration


def test_ctrl_c_stops_every_part(stack: RunningStack) -> None:
    # given the running stack and every process it started
    children = descendants(stack.process.pid)
    assert {"temporal", "oms"} <= {p.name() for p in children}
    postgres = psutil.Process(stack.postgres_pid())  # pg_ctl starts it detached, so it is no child
    assert postgres.name() == "postgres"
    # when the user presses Ctrl-C
    stack.process.send_signal(signal.SIGINT)
    code = stack.process.wait(timeout=60)
    # then it exits cleanly, every part stopped on its own (none had to be killed), and none remain
    assert code == 0
    assert "did not stop in time" not in stack.log_tail(chars=100_000), stack.log_tail()
    alive = [p for p in [*children, postgres] if p.is_running() and p.status() != "zombie"]
    assert alive == [], [p.name() for p in alive]
