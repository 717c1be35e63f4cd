"""What a benchmark run records: per-order timings, and the memory and CPU of each process."""

import statistics
import threading
from dataclasses import dataclass, field

import psutil


@dataclass
class OrderTiming:
    started: float  # seconds since the run began
    finished: float
    checkout_ms: float


@dataclass
class WorkloadResult:
    name: str
    orders: int
    concurrency: int
    elapsed_s: float
    timings: list[OrderTiming]
    failures: int = 0
    events_per_order: float | None = None
    first_error: str | None = None  # why the first failed order failed

    @property
    def orders_per_s(self) -> float:
        return len(self.timings) / self.elapsed_s if self.elapsed_s else 0.0

    def checkout_percentiles(self) -> dict[str, float]:
        return percentiles([t.checkout_ms for t in self.timings])


def percentiles(values: list[float]) -> dict[str, float]:
    if not values:
        return {"p50": 0.0, "p95": 0.0, "p99": 0.0}
    if len(values) == 1:
        return {"p50": values[0], "p95": values[0], "p99": values[0]}
    cuts = statistics.quantiles(values, n=100, method="inclusive")
    return {"p50": round(cuts[49], 1), "p95": round(cuts[94], 1), "p99": round(cuts[98], 1)}


def cpu_seconds(pid: int) -> float:
    """User + system CPU of a process and its children (PostgreSQL's backends, say); 0 once it is gone."""
    try:
        root = psutil.Process(pid)
        total = 0.0
        for proc in [root, *root.children(recursive=True)]:
            times = proc.cpu_times()
            total += times.user + times.system
        return total
    except psutil.Error:
        return 0.0


def own_cpu_seconds() -> float:
    """User + system CPU of this process alone (the load generator), without the stack it started."""
    times = psutil.Process().cpu_times()
    return times.user + times.system


@dataclass
class RssSampler:
    """Peak resident memory of named processes, sampled in a thread while the run goes on, and the CPU
    each spent in that time (`cpu_s`, with the bench's own as "bench"): on a shared machine this says who
    the throughput is waiting for."""

    pids: dict[str, int]
    interval_s: float = 0.25
    peaks_mib: dict[str, float] = field(default_factory=dict)
    cpu_s: dict[str, float] = field(default_factory=dict)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def __enter__(self) -> "RssSampler":
        self.cpu_s = {name: -cpu_seconds(pid) for name, pid in self.pids.items()}
        self.cpu_s["bench"] = -own_cpu_seconds()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread:
            self._thread.join()
        own = self.cpu_s.pop("bench") + own_cpu_seconds()
        self.cpu_s = {name: round(spent + cpu_seconds(self.pids[name]), 2) for name, spent in self.cpu_s.items()}
        self.cpu_s["bench"] = round(own, 2)

    def _sample(self) -> None:
        procs = {}
        for name, pid in self.pids.items():
            try:
                procs[name] = psutil.Process(pid)
            except psutil.NoSuchProcess:
                continue
        while not self._stop.is_set():
            for name, proc in procs.items():
                try:
                    rss = proc.memory_info().rss / 2**20
                except psutil.Error:
                    continue
                self.peaks_mib[name] = round(max(self.peaks_mib.get(name, 0.0), rss), 1)
            self._stop.wait(self.interval_s)


def rss_mib(pid: int) -> float:
    """Resident memory of one process now, in MiB; 0 once it is gone."""
    try:
        return round(psutil.Process(pid).memory_info().rss / 2**20, 1)
    except psutil.Error:
        return 0.0
