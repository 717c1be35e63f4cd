"""Integration tier: `oms up` as a user runs it (real dev server, embedded PostgreSQL, worker, API and
simulators as separate processes), on free ports and a temporary data folder."""

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import psutil
import pytest
from sqlalchemy import Engine
from temporalio.client import Client

from starter.stack import free_port
from starter.temporal import connect
from store.db import make_engine

STARTUP_TIMEOUT = 120


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


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningStack]:
    data_dir = tmp_path_factory.mktemp("oms-data")
    api_port = free_port()
    temporal_port = free_port()
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("OMS_")},
        "OMS_DATA_DIR": str(data_dir),
        "OMS_API_PORT": str(api_port),
        "OMS_TEMPORAL_PORT": str(temporal_port),
        "OMS_UI_PORT": str(free_port()),
        "OMS_SIMULATOR_PORT": str(free_port()),
        "OMS_SIMULATE": "auto",
        "OMS_SIMULATE_DELAY": "0.2",
        "OMS_RETURN_WINDOW": "PT3S",
        "OMS_GATEWAY_LATENCY_MS": "5",
    }
    log = (data_dir / "oms-up.log").open("wb")
    process = subprocess.Popen(
        [str(Path(sys.executable).parent / "oms"), "up"], env=env, stdout=log, stderr=subprocess.STDOUT
    )
    running = RunningStack(f"http://127.0.0.1:{api_port}", f"127.0.0.1:{temporal_port}", data_dir, process)
    try:
        _wait_until_healthy(running, data_dir / "oms-up.log")
        yield running
    finally:
        _stop(process)
        log.close()


def _wait_until_healthy(running: RunningStack, log: Path) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT
    while time.monotonic() < deadline:
        if running.process.poll() is not None:
            pytest.fail(f"oms up exited with {running.process.returncode}:\n{log.read_text()[-4000:]}")
        try:
            if httpx.get(f"{running.api_url}/healthz", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    pytest.fail(f"oms up did not become healthy in {STARTUP_TIMEOUT}s:\n{log.read_text()[-4000:]}")


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


@pytest.fixture(scope="session")
def ledger(stack: RunningStack) -> Iterator[Engine]:
    engine = make_engine(stack.database_url(), pool_size=2)
    yield engine
    engine.dispose()


@pytest.fixture(scope="session")
async def temporal(stack: RunningStack) -> AsyncIterator[Client]:
    yield await connect(stack.temporal_address)
