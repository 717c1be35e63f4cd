"""`oms bench` itself works end to end: a tiny run on its own stack finishes every order of every workload."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

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
