"""`oms bench` itself works end to end: a tiny run on its own stack finishes every order of every workload."""

import contextlib
import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from tests.integration.conftest import descendants

pytestmark = pytest.mark.integration
OMS = Path(sys.executable).parent / "oms"


def test_a_tiny_benchmark_run_completes_every_workload(tmp_path: Path) -> None:
    # given the benchmark at its smallest: a few orders, a one-second window, a cancel, no scaling
    command = [str(OMS), "bench", "--orders", "3", "--concurrency", "3", "--cancels", "1", "--window", "1"]
    # when it runs on a stack of its own
    done = subprocess.run([*command, "--out", str(tmp_path)], capture_output=True, text=True, timeout=600)
    # then it exits 0, every workload finished its orders, and the figures it prints are the ones it saved
    assert done.returncode == 0, done.stderr[-3000:]
    figures = json.loads((tmp_path / "bench.json").read_text())
    assert figures["failures"] == {"oms": 0, "floor": 0, "naive": 0}
    assert figures["oms_orders_per_s"] > 0 and figures["floor_orders_per_s"] > 0 and figures["naive_orders_per_s"] > 0
    assert figures["events_per_order"] > 0
    assert "Targets" in done.stdout


def test_a_benchmark_stopped_with_sigterm_leaves_nothing_behind(tmp_path: Path) -> None:
    # given a benchmark run whose stack is up, its reference worker included
    command = [str(OMS), "bench", "--orders", "200", "--concurrency", "2", "--out", str(tmp_path)]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    seen: dict[int, psutil.Process] = {}
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and not any(_is_reference_worker(p) for p in seen.values()):
        for p in descendants(process.pid):
            seen.setdefault(p.pid, p)
        time.sleep(0.2)
    assert any(_is_reference_worker(p) for p in seen.values()), "the stack never came up"
    # when it is stopped as a service manager stops it
    process.send_signal(signal.SIGTERM)
    process.wait(timeout=120)
    # then every process it started is gone: the stack, PostgreSQL and the reference worker
    alive = [p for p in seen.values() if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]
    assert alive == [], [" ".join(p.cmdline()[:3]) for p in alive]


def _is_reference_worker(p: psutil.Process) -> bool:
    with contextlib.suppress(psutil.Error):
        return "--reference-task-queue" in p.cmdline()
    return False
