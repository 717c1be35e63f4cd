"""Where the worker spends its CPU during the OMS workload: py-spy samples it from outside.

Sampling from outside costs the worker nothing to instrument. Only the thread holding the GIL is
sampled (`--gil`): threads waiting on the database or the network are not CPU, and 64 parked
activity threads would otherwise drown the picture. Two samplers run side by side: one writes the
collapsed stacks summarized into bench.json, the other py-spy's own flame graph (SVG). Both read the
worker without pausing it (`--nonblocking`): pausing it 200 times a second slowed the very workload
being measured until its checkouts timed out.
"""

import shutil
import signal
import subprocess
import sys
from collections import Counter
from pathlib import Path
from types import TracebackType
from typing import Any

# Who a frame belongs to, by the file it runs in; first match wins.
_OWNERS = (
    ("temporalio", "temporal sdk"),
    ("sqlalchemy", "sqlalchemy"),
    ("psycopg", "psycopg"),
    ("pydantic", "pydantic"),
    ("httpx", "http client"),
    ("httpcore", "http client"),
    ("structlog", "logging"),
    ("asyncio", "asyncio"),
    ("concurrent/futures", "thread pool"),
    ("threading.py", "thread pool"),
    ("/activities/", "oms activities"),
    ("/workflows/", "oms workflows"),
    ("/domain/", "oms domain"),
    ("/store/", "oms store"),
    ("/integrations/", "oms integrations"),
)


class WorkerProfile:
    """Record the process while the block runs; `summary()` afterwards. Does nothing if py-spy is missing."""

    def __init__(self, pid: int, out: Path) -> None:
        self._pid = pid
        self.path = out / "worker-profile.txt"
        self.flame_graph = out / "worker-flamegraph.svg"
        self._procs: list[subprocess.Popen[bytes]] = []

    def __enter__(self) -> "WorkerProfile":
        # the venv's bin need not be on PATH when `oms` is run by its full path
        exe = shutil.which("py-spy", path=str(Path(sys.executable).parent)) or shutil.which("py-spy")
        if exe is not None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            for fmt, path in (("raw", self.path), ("flamegraph", self.flame_graph)):
                command = [exe, "record", "--pid", str(self._pid), "--gil", "--nonblocking", "--format", fmt]
                command += ["--output", str(path)]
                self._procs.append(subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        for proc in self._procs:
            proc.send_signal(signal.SIGINT)  # py-spy writes its file on SIGINT
        for proc in self._procs:
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()

    def summary(self, top: int = 12) -> dict[str, Any]:
        if not self.path.exists():
            return {}
        return summarize(self.path.read_text().splitlines(), top)


def summarize(collapsed: list[str], top: int = 12) -> dict[str, Any]:
    """Shares of the samples (taken only from the thread holding the GIL: Python's CPU time) by owner and leaf.

    Owner shares are inclusive: a sample counts once for every owner on its stack, so they overlap.
    """
    owners: Counter[str] = Counter()
    leaves: Counter[str] = Counter()
    total = 0
    for line in collapsed:
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = stack.split(";")
        total += count
        leaves[frames[-1]] += count
        for owner in {_owner(frame) for frame in frames} - {None}:
            owners[str(owner)] += count
    if total == 0:
        return {}

    def share(n: int) -> float:
        return round(100 * n / total, 1)

    return {
        "samples": total,
        "by_owner_pct": {owner: share(n) for owner, n in owners.most_common()},
        "top_frames_pct": {leaf: share(n) for leaf, n in leaves.most_common(top)},
    }


def _owner(frame: str) -> str | None:
    return next((name for needle, name in _OWNERS if needle in frame), None)
