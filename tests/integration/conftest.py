"""Integration tier: `oms up` as a user runs it (real dev server, embedded PostgreSQL, worker, API and
simulators as separate processes), on free ports and a temporary data folder.

`running_stack` starts one such system with the settings a module needs; the session-wide `stack` runs
with the partner simulators on, and a module can start its own (for example with `OMS_SIMULATE=off`).
The polling helpers wait on the read model, which follows each order's workflow a little behind.
`RunningStack.pid`, `kill` and `wait_until_back` act on the parts supervisord runs (temporal, worker,
simulators, api) by their current pids, which change as supervisord starts a part again.
"""

import json
import os
import re
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import psutil
import pytest
from sqlalchemy import Engine
from temporalio.client import Client

from starter import supervision
from starter.ports import free_port
from starter.supervision import PartState
from starter.temporal import connect
from store.db import make_engine

STARTUP_TIMEOUT = 120
POLL_INTERVAL = 0.1
OMS = str(Path(sys.executable).parent / "oms")


@dataclass
class RunningStack:
    api_url: str
    temporal_address: str
    data_dir: Path
    process: subprocess.Popen[bytes]

    def http(self, token: str = "dev-storefront") -> httpx.Client:
        return httpx.Client(base_url=self.api_url, headers={"Authorization": f"Bearer {token}"}, timeout=30)

    def database_url(self) -> str:
        url: str = json.loads((self.data_dir / "stack.json").read_text())["database"]
        return url

    def postgres_pid(self) -> int:
        return int((self.data_dir / "postgres" / "postmaster.pid").read_text().split()[0])

    def log_tail(self, chars: int = 4000) -> str:
        return (self.data_dir / "oms-up.log").read_text(errors="replace")[-chars:]

    # -- the supervised parts: temporal, worker, simulators, api --------------------------------------
    def supervisor(self) -> Any:
        """supervisord's XML-RPC interface (`supervisor.*` methods); it knows each part's pid across restarts."""
        return supervision.connect(json.loads((self.data_dir / "stack.json").read_text())["supervisor"])

    def part(self, part: str) -> PartState:
        return PartState.from_info(self.supervisor().supervisor.getProcessInfo(part))

    def pid(self, part: str) -> int:
        """The pid of the part's current run; fails if it is not running now (starting again, stopped)."""
        state = self.part(part)
        if not state.pid:
            raise LookupError(f"{part} has no process now: {state.state} {state.description}")
        return state.pid

    def kill(self, part: str) -> int:
        """SIGKILL the part's current process, as a crash would end it; returns the pid killed."""
        pid = self.pid(part)
        os.kill(pid, signal.SIGKILL)
        return pid

    def wait_until_back(self, part: str, after: int, timeout: float = 30) -> int:
        """Wait until a new run of the part (not pid `after`) is RUNNING, past supervisord's start window;
        returns its pid. Fails at once if supervisord gave up on the part."""
        deadline = time.monotonic() + timeout
        while True:
            state = self.part(part)
            if state.state == "RUNNING" and state.pid not in (0, after):
                return state.pid
            if state.state == "FATAL" or time.monotonic() > deadline:
                pytest.fail(f"{part} not back within {timeout}s: {state}\n{self.log_tail()}")
            time.sleep(POLL_INTERVAL)

    def stop(self, part: str) -> None:
        """Stop the part through supervisord (with its own stop signal); it stays stopped until `start`."""
        self.supervisor().supervisor.stopProcess(part, True)

    def start(self, part: str) -> int:
        """Start a stopped part; returns once it is RUNNING, with its pid."""
        self.supervisor().supervisor.startProcess(part, True)
        return self.pid(part)

    def wait_for_log(self, pattern: str, timeout: float = 15) -> re.Match[str]:
        """Wait until a line of `oms up`'s output matches the regular expression."""
        deadline = time.monotonic() + timeout
        while True:
            found = re.search(pattern, self.log_tail(chars=1_000_000), re.MULTILINE)
            if found:
                return found
            if time.monotonic() > deadline:
                pytest.fail(f"no line matching {pattern!r} within {timeout}s:\n{self.log_tail()}")
            time.sleep(POLL_INTERVAL)


@contextmanager
def running_stack(data_dir: Path, **settings: str) -> Iterator[RunningStack]:
    """`oms up` on free ports under `data_dir`, healthy and with its addresses written; stopped on exit.

    `settings` are OMS_* variables on top of the defaults (e.g. OMS_SIMULATE="off"); the caller's own
    OMS_* variables are never passed on, so a developer's shell cannot change what the tier tests.
    """
    api_port = free_port()
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("OMS_")},
        "OMS_DATA_DIR": str(data_dir),
        "OMS_API_PORT": str(api_port),
        "OMS_TEMPORAL_PORT": str(free_port()),
        "OMS_UI_PORT": str(free_port()),
        "OMS_SIMULATOR_PORT": str(free_port()),
        "OMS_GATEWAY_LATENCY_MS": "5",
        # the tier counts its own orders, stock and payments: no demo orders beside them
        "OMS_DEMO_ORDERS": "false",
        **settings,
    }
    log = (data_dir / "oms-up.log").open("wb")
    process = subprocess.Popen([OMS, "up"], env=env, stdout=log, stderr=subprocess.STDOUT)
    running = RunningStack(f"http://127.0.0.1:{api_port}", f"127.0.0.1:{env['OMS_TEMPORAL_PORT']}", data_dir, process)
    try:
        _wait_until_up(running)
        yield running
    finally:
        _stop(process)
        log.close()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """test_shutdown.py stops the session's stack: it runs after every other test of the tier."""
    items.sort(key=lambda item: item.path.name == "test_shutdown.py")


def _wait_until_up(running: RunningStack) -> None:
    """Healthy, and `stack.json` written: `oms up` writes it once every part has started, just after the API
    answers /healthz, so a test that reads it (the database address) must not go by health alone."""
    deadline = time.monotonic() + STARTUP_TIMEOUT
    while time.monotonic() < deadline:
        if running.process.poll() is not None:
            pytest.fail(f"oms up exited with {running.process.returncode}:\n{running.log_tail()}")
        try:
            healthy = httpx.get(f"{running.api_url}/healthz", timeout=2).status_code == 200
        except httpx.HTTPError:
            healthy = False
        if healthy and (running.data_dir / "stack.json").exists():
            return
        time.sleep(0.3)
    pytest.fail(f"oms up did not come up in {STARTUP_TIMEOUT}s:\n{running.log_tail()}")


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def descendants(pid: int) -> list[psutil.Process]:
    try:
        children: list[psutil.Process] = psutil.Process(pid).children(recursive=True)
        return children
    except psutil.NoSuchProcess:
        return []


# -- waiting on the read model ---------------------------------------------------------------------------
def wait_for_order(
    http: httpx.Client,
    order_id: str,
    condition: Callable[[dict[str, Any]], bool],
    what: str,
    timeout: float = 30,
) -> dict[str, Any]:
    """Poll GET /v1/orders/{id} until `condition` holds for the summary; fail naming `what` and the last summary."""
    deadline = time.monotonic() + timeout
    seen: dict[str, Any] | None = None
    while True:
        response = http.get(f"/v1/orders/{order_id}")
        if response.status_code == 200:
            seen = dict(response.json())
            if condition(seen):
                return seen
        if time.monotonic() >= deadline:
            break
        time.sleep(POLL_INTERVAL)
    last = "never found" if seen is None else _brief(seen)
    raise AssertionError(f"{order_id}: {what} not seen within {timeout}s; last seen: {last}")


def wait_for_status(http: httpx.Client, order_id: str, status: str, timeout: float = 60) -> dict[str, Any]:
    return wait_for_order(http, order_id, lambda s: s["status"] == status, f"status {status}", timeout)


def _brief(summary: dict[str, Any]) -> str:
    """The parts of a summary that say where an order is stuck."""
    return json.dumps(
        {
            "status": summary.get("status"),
            "lines": summary.get("lines"),
            "fulfillment_orders": [
                {k: fo.get(k) for k in ("id", "location_id", "status", "lines", "tracking_number")}
                for fo in summary.get("fulfillment_orders", [])
            ],
            "payment": summary.get("payment"),
            "returns": [{k: r.get(k) for k in ("return_id", "status")} for r in summary.get("returns", [])],
            "last_events": [t.get("type") for t in summary.get("timeline", [])][-5:],
        },
        default=str,
    )


def new_customer() -> dict[str, str]:
    return {"id": f"C-{uuid.uuid4().hex[:8]}", "email": "x@example.com", "name": "Aiko Sato"}


# -- the session-wide stack, with the partner simulators on ---------------------------------------------
@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningStack]:
    with running_stack(
        tmp_path_factory.mktemp("oms-data"),
        OMS_SIMULATE="auto",
        OMS_SIMULATE_DELAY="0.2",
        OMS_RETURN_WINDOW="PT3S",
    ) as running:
        yield running


@pytest.fixture(scope="session")
def ledger(stack: RunningStack) -> Iterator[Engine]:
    engine = make_engine(stack.database_url(), pool_size=2)
    yield engine
    engine.dispose()


@pytest.fixture(scope="session")
async def temporal(stack: RunningStack) -> AsyncIterator[Client]:
    yield await connect(stack.temporal_address)


# -- a module's own stack with the partner simulators off: every partner event is sent by hand ----------
@pytest.fixture(scope="module")
def by_hand_settings() -> dict[str, str]:
    """OMS_* settings of the module's by-hand stack, beyond OMS_SIMULATE=off; a module overrides this."""
    return {}


@pytest.fixture(scope="module")
def by_hand(tmp_path_factory: pytest.TempPathFactory, by_hand_settings: dict[str, str]) -> Iterator[RunningStack]:
    with running_stack(tmp_path_factory.mktemp("oms-by-hand"), OMS_SIMULATE="off", **by_hand_settings) as running:
        yield running


@pytest.fixture(scope="module")
def storefront(by_hand: RunningStack) -> Iterator[httpx.Client]:
    with by_hand.http("dev-storefront") as client:
        yield client


@pytest.fixture(scope="module")
def agent(by_hand: RunningStack) -> Iterator[httpx.Client]:
    with by_hand.http("dev-agent") as client:
        yield client


@pytest.fixture(scope="module")
def partner(by_hand: RunningStack) -> Iterator[httpx.Client]:
    with by_hand.http("dev-partner") as client:
        yield client


@pytest.fixture(scope="module")
def operator(by_hand: RunningStack) -> Iterator[httpx.Client]:
    with by_hand.http("dev-operator") as client:
        yield client


def transactions(agent: httpx.Client, order_id: str, kind: str | None = None) -> list[dict[str, Any]]:
    """The gateway's transactions for the order (of one `kind`, if given), each of which succeeded."""
    response = agent.get(f"/v1/orders/{order_id}/payments")
    assert response.status_code == 200, response.text
    rows: list[dict[str, Any]] = response.json()
    assert all(tx["status"] == "succeeded" for tx in rows), rows
    return [tx for tx in rows if kind is None or tx["type"] == kind]


def run_oms(*args: str, **settings: str) -> subprocess.CompletedProcess[str]:
    """The `oms` command as a user's shell runs it: none of the caller's OMS_* variables, only `settings`."""
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("OMS_")}, **settings}
    return subprocess.run([OMS, *args], env=env, capture_output=True, text=True, timeout=60)
