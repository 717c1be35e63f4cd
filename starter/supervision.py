"""The process manager under `oms up`: supervisord restarts a part that dies, and gives up on one that keeps
crashing as it starts.

supervisord runs in the foreground as a child of `oms up`, from a config generated under the data folder, with
its XML-RPC interface on a unix socket there. `oms up` starts each part through it, watches the parts' states
and pids, and stops them all by stopping supervisord (which stops them in reverse priority order, each with its
own stop signal, SIGKILL after `stopwaitsecs`).

A part that exits within `STARTSECS` of being started counts as a failed start: supervisord waits 1s, 2s, 3s...
before the next try (BACKOFF), and after `STARTRETRIES` of them marks it FATAL. A part that dies after running
that long is started again at once. `stack.json` (written by `oms up` once it is up) holds the addresses a
process joining the stack needs, the supervisor's among them.
"""

import contextlib
import fcntl
import hashlib
import json
import os
import shlex
import signal
import socket
import stat
import subprocess
import sys
import time
import xmlrpc.client
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import psutil
from supervisor.xmlrpc import SupervisorTransport  # type: ignore[import-untyped]

from starter.settings import Settings

STACK_FILE = "stack.json"
CONFIG_FILE = "supervisord.conf"
SOCKET_FILE = "supervisor.sock"
# a part must stay up this long to count as started; a shorter life is a crash at start, retried with backoff
STARTSECS = 5
# tries after the first before a part that keeps crashing at start is given up on (FATAL)
STARTRETRIES = 3
UNIX_SOCKET_MAX = 100  # sun_path holds 108 bytes; a deeper data folder gets its socket under /tmp


class PartFailed(RuntimeError):
    """A supervised part keeps crashing as it starts, and supervisord gave up on it."""

    def __init__(self, part: str, exit_status: int) -> None:
        self.part = part
        pauses = ", ".join(f"{n}s" for n in range(1, STARTRETRIES + 1))
        super().__init__(
            f"{part} keeps crashing as it starts: it exited within {STARTSECS}s on each of {STARTRETRIES + 1} tries "
            f"({pauses} apart; last exit status {exit_status}); stopping the stack. Its output is above."
        )


@dataclass(frozen=True)
class Program:
    """One supervised part. Lower priorities start first and stop last."""

    name: str
    command: list[str]
    priority: int
    stop_signal: signal.Signals = signal.SIGTERM
    stop_timeout_s: int = 15


@dataclass
class PartState:
    name: str
    state: str  # supervisord's state name: STOPPED STARTING RUNNING BACKOFF STOPPING EXITED FATAL UNKNOWN
    pid: int
    description: str
    exit_status: int = 0

    @classmethod
    def from_info(cls, info: Mapping[str, Any]) -> "PartState":
        return cls(
            str(info["name"]),
            str(info["statename"]),
            int(info["pid"]),
            str(info["description"]),
            int(info["exitstatus"]),
        )


def connect(url: str) -> Any:
    """A client of supervisord's XML-RPC interface (`supervisor.*` methods) at `unix:///path`."""
    return xmlrpc.client.ServerProxy("http://127.0.0.1", transport=SupervisorTransport(None, None, url))


def _quote(value: str) -> str:
    """supervisord expands %(name)s in every value: a literal % is written %%."""
    return value.replace("%", "%%")


@dataclass
class Supervisor:
    data_dir: Path
    programs: list[Program]
    process: subprocess.Popen[bytes] | None = None
    # every process seen per part, so that `kill_leftovers` can stop them should supervisord itself die
    seen: dict[str, dict[int, psutil.Process]] = field(default_factory=dict)

    @property
    def socket_path(self) -> Path:
        path = self.data_dir / SOCKET_FILE
        if len(str(path)) <= UNIX_SOCKET_MAX:
            return path
        digest = hashlib.sha256(str(self.data_dir).encode()).hexdigest()[:16]
        return Path("/tmp") / f"oms-supervisor-{os.getuid()}-{digest}.sock"

    @property
    def url(self) -> str:
        return f"unix://{self.socket_path}"

    @property
    def config_path(self) -> Path:
        return self.data_dir / CONFIG_FILE

    def running_elsewhere(self) -> bool:
        """Whether a supervisord (another `oms up` on this data folder) answers on the socket."""
        with socket.socket(socket.AF_UNIX) as s:
            try:
                s.connect(str(self.socket_path))
            except OSError:
                return False
        return True

    def config(self) -> str:
        lines = [
            "[unix_http_server]",
            f"file={_quote(str(self.socket_path))}",
            "chmod=0700",
            "",
            "[rpcinterface:supervisor]",
            "supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface",
            "",
            "[supervisorctl]",
            f"serverurl={_quote(self.url)}",
            "",
            "[supervisord]",
            "nodaemon=true",
            "identifier=oms",
            f"logfile={_quote(str(self.data_dir / 'supervisord.log'))}",
            "logfile_maxbytes=5MB",
            "logfile_backups=1",
            f"pidfile={_quote(str(self.data_dir / 'supervisord.pid'))}",
            f"childlogdir={_quote(str(self.data_dir))}",
            f"directory={_quote(os.getcwd())}",
        ]
        if os.getuid() == 0:
            lines.append("user=root")  # as root supervisord asks for this, or logs a warning at every start
        for p in self.programs:
            lines += [
                "",
                f"[program:{p.name}]",
                f"command={_quote(shlex.join(p.command))}",
                f"priority={p.priority}",
                "autostart=false",  # `oms up` starts each part once what it needs is up
                "autorestart=true",
                f"startsecs={STARTSECS}",
                f"startretries={STARTRETRIES}",
                f"stopsignal={p.stop_signal.name.removeprefix('SIG')}",
                f"stopwaitsecs={p.stop_timeout_s}",
                "stopasgroup=true",
                "killasgroup=true",
                # the part's output goes to supervisord's, which is `oms up`'s
                "redirect_stderr=true",
                "stdout_logfile=/dev/fd/1",
                "stdout_logfile_maxbytes=0",
            ]
        return "\n".join(lines) + "\n"

    def start(self, env: Mapping[str, str], timeout: float = 30) -> None:
        """Run supervisord, with `env` for every part and nothing started yet; returns once it answers."""
        self.config_path.write_text(self.config())
        _append_to_stdout()
        self.process = subprocess.Popen(
            [str(Path(sys.executable).parent / "supervisord"), "-n", "-c", str(self.config_path)],
            env=dict(env),
            # its own session: Ctrl-C in the terminal reaches `oms up`, which then stops supervisord in order
            start_new_session=True,
            preexec_fn=_stop_with_parent,
        )
        deadline = time.monotonic() + timeout
        while True:
            if self.process.poll() is not None:
                raise RuntimeError(f"supervisord exited with {self.process.returncode} as it started; see above")
            try:
                if connect(self.url).supervisor.getState()["statename"] == "RUNNING":
                    return
            except (OSError, xmlrpc.client.Error):
                pass
            if time.monotonic() > deadline:
                raise TimeoutError(f"supervisord did not answer on {self.socket_path} within {timeout}s")
            time.sleep(0.1)

    @property
    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def start_part(self, name: str) -> None:
        connect(self.url).supervisor.startProcess(name, False)

    def parts(self) -> dict[str, PartState]:
        infos = cast(list[dict[str, Any]], connect(self.url).supervisor.getAllProcessInfo())
        states = {info["name"]: PartState.from_info(info) for info in infos}
        for part in states.values():
            seen = self.seen.setdefault(part.name, {})
            if part.pid and part.pid not in seen:
                with contextlib.suppress(psutil.NoSuchProcess):
                    seen[part.pid] = psutil.Process(part.pid)  # it knows its start time: a reused pid is no match
        return states

    def raise_if_failed(self, states: Mapping[str, PartState]) -> None:
        for part in states.values():
            if part.state == "FATAL":
                raise PartFailed(part.name, part.exit_status)

    def stop(self, timeout: float) -> bool:
        """Stop every part, then supervisord. False if it died earlier or had to be killed: then its parts may
        still run (see `kill_leftovers`)."""
        if self.process is None:
            return True
        if self.process.poll() is not None:
            return self.process.returncode == 0
        self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout=timeout) == 0
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            return False

    def kill_leftovers(self, timeout: float) -> list[str]:
        """After supervisord died or was killed: stop, then kill, whatever it had started; the parts named."""
        stop_signals = {p.name: p.stop_signal for p in self.programs}
        alive = [
            (name, p)
            for name, seen in self.seen.items()
            for p in seen.values()
            if p.is_running() and p.status() != psutil.STATUS_ZOMBIE
        ]
        for name, p in alive:
            _signal_group(p.pid, stop_signals.get(name, signal.SIGTERM))
        _, still = psutil.wait_procs([p for _, p in alive], timeout=timeout)
        for p in still:
            _signal_group(p.pid, signal.SIGKILL)
        return sorted({name for name, _ in alive})


def _signal_group(pid: int, signum: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signum)  # supervisord makes each part the leader of its own process group


def _append_to_stdout() -> None:
    """The parts' output reaches a regular file through /dev/fd/1, which supervisord opens anew in append mode:
    `oms up`'s own lines (and supervisord's, which share its stdout) must be appended too, or they overwrite them."""
    with contextlib.suppress(OSError):
        if stat.S_ISREG(os.fstat(1).st_mode):
            fcntl.fcntl(1, fcntl.F_SETFL, fcntl.fcntl(1, fcntl.F_GETFL) | os.O_APPEND)


def _stop_with_parent() -> None:
    """In supervisord before it runs: on Linux, a SIGTERM when `oms up` dies, however it dies, so that its parts
    do not outlive it."""
    if sys.platform.startswith("linux"):
        import ctypes

        pr_set_pdeathsig = 1
        ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, signal.SIGTERM)


# -- the addresses of the running stack ------------------------------------------------------------------
def write_addresses(data_dir: Path, addresses: Mapping[str, object]) -> None:
    # written whole, then renamed into place: whoever waits for the file never reads half of it
    target = data_dir / STACK_FILE
    partial = target.with_name(f".{target.name}.{os.getpid()}")
    partial.write_text(json.dumps(addresses, indent=2))
    os.replace(partial, target)


def read_addresses(data_dir: Path) -> dict[str, Any] | None:
    try:
        addresses: dict[str, Any] = json.loads((data_dir / STACK_FILE).read_text())
    except (OSError, ValueError):
        return None
    return addresses


def join_running_stack(settings: Settings) -> tuple[Settings, Path | None]:
    """Settings for a process started by hand next to `oms up`: what the environment leaves unset (the database,
    the Temporal server, the simulators, the task queue) comes from the running stack's `stack.json`.

    Returns the settings and the file they were taken from, or None if nothing was taken (all was set, or no
    stack runs under the data folder)."""
    given = settings.model_fields_set
    if settings.database_url and settings.temporal_address:
        return settings, None
    path = settings.data_dir.resolve() / STACK_FILE
    addresses = read_addresses(settings.data_dir.resolve())
    if addresses is None:
        return settings, None
    update: dict[str, Any] = {}
    if not settings.database_url and addresses.get("database"):
        update["database_url"] = addresses["database"]
    if not settings.temporal_address and addresses.get("temporal"):
        update["temporal_address"] = addresses["temporal"]
    if not given & {"simulator_url", "simulator_port"} and addresses.get("simulators"):
        update["simulator_url"] = addresses["simulators"]
    if "task_queue" not in given and addresses.get("task_queue"):
        update["task_queue"] = addresses["task_queue"]
    return settings.model_copy(update=update), path
