"""`oms up` keeps the stack running: a part that dies is started again, one that keeps crashing as it starts
stops the stack with its name, and a worker started by hand joins the stack's task queue."""

import asyncio
import contextlib
import json
import os
import signal
import socket
import subprocess
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psutil
import pytest
from temporalio.api.enums.v1 import TaskQueueType
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest
from temporalio.client import Client, WorkflowExecutionStatus

from domain.ids import workflow_id_for
from starter.ports import free_port, healthy
from starter.settings import Settings
from starter.supervision import STARTRETRIES, join_running_stack
from starter.temporal import connect
from tests.integration.conftest import OMS, RunningStack, descendants, new_customer, wait_for_status
from tests.orders import checkout_body

pytestmark = pytest.mark.integration


def place_order(stack: RunningStack) -> str:
    body = checkout_body(customer=new_customer())
    with stack.http() as storefront:
        response = storefront.post("/v1/orders", json=body)
    assert response.status_code == 201, response.text
    order_id: str = body["order_id"]
    return order_id


def test_a_killed_worker_is_started_again_and_new_orders_are_delivered(stack: RunningStack) -> None:
    # given the running stack
    # when its worker is killed
    killed = stack.kill("worker")

    # then a new worker runs within seconds, and the log says the worker was restarted
    pid = stack.wait_until_back("worker", after=killed, timeout=30)
    stack.wait_for_log(rf"restarted\s+part=worker pid={pid}\b")
    assert not psutil.pid_exists(killed) or psutil.Process(killed).status() == psutil.STATUS_ZOMBIE

    # and an order placed after the kill runs to delivered
    order_id = place_order(stack)
    with stack.http("dev-agent") as agent:
        wait_for_status(agent, order_id, "delivered")


def test_a_killed_api_is_started_again_and_answers(stack: RunningStack) -> None:
    # when the API is killed
    killed = stack.kill("api")

    # then a new API process runs and is healthy again, and the log says so
    pid = stack.wait_until_back("api", after=killed, timeout=30)
    deadline = time.monotonic() + 30
    while not healthy(stack.api_url):
        assert time.monotonic() < deadline, f"the restarted API is not healthy:\n{stack.log_tail()}"
        time.sleep(0.2)
    stack.wait_for_log(rf"restarted\s+part=api pid={pid}\b")


@contextmanager
def worker_started_by_hand(stack: RunningStack, log: Path) -> Iterator[subprocess.Popen[bytes]]:
    """`oms worker` as typed in another shell: only the data folder set, no database or Temporal address."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("OMS_")} | {"OMS_DATA_DIR": str(stack.data_dir)}
    with log.open("wb") as output:
        process = subprocess.Popen([OMS, "worker"], env=env, stdout=output, stderr=subprocess.STDOUT)
        try:
            yield process
        finally:
            process.send_signal(signal.SIGINT)
            process.wait(timeout=30)


async def test_a_worker_started_by_hand_joins_the_stacks_task_queue(
    stack: RunningStack, temporal: Client, tmp_path: Path
) -> None:
    # given a worker started by hand next to the running stack
    with worker_started_by_hand(stack, tmp_path / "worker.log") as hand:
        # then it polls the stack's task queue next to the supervised worker
        async with asyncio.timeout(30):
            await wait_for_pollers(temporal, {hand.pid, stack.pid("worker")})
        assert "joining the running stack" in (tmp_path / "worker.log").read_text()

        # and when the supervised worker is stopped, an order placed now is delivered by the one started by hand
        stack.stop("worker")
        try:
            order_id = place_order(stack)
            with stack.http("dev-agent") as agent:
                wait_for_status(agent, order_id, "delivered")
        finally:
            stack.start("worker")


async def wait_for_pollers(temporal: Client, pids: set[int]) -> None:
    """Until a process of each pid polls the `orders` workflow task queue."""
    request = DescribeTaskQueueRequest(
        namespace="default",
        task_queue=TaskQueue(name="orders"),
        task_queue_type=TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW,
    )
    while True:
        identities = [p.identity for p in (await temporal.workflow_service.describe_task_queue(request)).pollers]
        if all(any(i.startswith(f"{pid}@") for i in identities) for pid in pids):
            return
        await asyncio.sleep(0.3)


async def test_a_killed_temporal_server_comes_back_with_every_order(stack: RunningStack) -> None:
    # given an order delivered before the Temporal dev server dies
    order_id = place_order(stack)
    with stack.http("dev-agent") as agent:
        wait_for_status(agent, order_id, "delivered")

        # when the server is killed
        killed = stack.kill("temporal")

        # then a new server runs, and the order's workflow is still there
        stack.wait_until_back("temporal", after=killed, timeout=30)
        stack.wait_for_log(r"restarted\s+part=temporal\b")
        client = await connect(stack.temporal_address)
        described = await client.get_workflow_handle(workflow_id_for(order_id)).describe()
        assert described.status in (WorkflowExecutionStatus.RUNNING, WorkflowExecutionStatus.COMPLETED)

        # and it goes on: its return window closes and it completes on the worker
        wait_for_status(agent, order_id, "completed", timeout=60)


def test_a_part_that_crashes_as_it_starts_stops_oms_up_with_its_name(stack: RunningStack, tmp_path: Path) -> None:
    # given the simulators' port already taken, so that they exit at once every time they start (the other
    # parts share the session stack's database and Temporal server, on a task queue of their own)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        env = {k: v for k, v in os.environ.items() if not k.startswith("OMS_")} | {
            "OMS_DATA_DIR": str(tmp_path),
            "OMS_DATABASE_URL": stack.database_url(),
            "OMS_TEMPORAL_ADDRESS": stack.temporal_address,
            "OMS_TASK_QUEUE": f"crash-{uuid.uuid4().hex[:6]}",
            "OMS_API_PORT": str(free_port()),
            "OMS_SIMULATOR_PORT": str(taken.getsockname()[1]),
        }
        log_path = tmp_path / "oms-up.log"
        with log_path.open("wb") as log:
            # when oms up starts
            process = subprocess.Popen([OMS, "up"], env=env, stdout=log, stderr=subprocess.STDOUT)
            seen: dict[int, psutil.Process] = {}
            names: set[str] = set()
            deadline = time.monotonic() + 90
            while process.poll() is None and time.monotonic() < deadline:
                for p in descendants(process.pid):
                    seen.setdefault(p.pid, p)
                    with contextlib.suppress(psutil.NoSuchProcess):
                        names.add(p.name())
                time.sleep(0.2)
            if process.poll() is None:
                process.kill()
    output = log_path.read_text(errors="replace")

    # then it gives up on the simulators after its retries, says so naming them, and exits non-zero
    assert process.returncode == 1, output[-4000:]
    assert "simulators keeps crashing as it starts" in output, output[-4000:]
    # (a first start slower than STARTSECS, as on a loaded machine, counts as running; its exit then restarts it
    # once more before the quick failures are counted)
    assert STARTRETRIES + 1 <= output.count("spawned: 'simulators'") <= STARTRETRIES + 2
    # and leaves nothing behind
    assert names >= {"supervisord", "oms"}
    alive = [p for p in seen.values() if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]
    assert alive == [], [p.name() for p in alive]
    assert not (tmp_path / "stack.json").exists()


def test_a_worker_started_by_hand_keeps_what_its_environment_names(tmp_path: Path) -> None:
    # given a running stack's addresses under the data folder
    (tmp_path / "stack.json").write_text(
        json.dumps(
            {
                "database": "postgresql://stack/oms",
                "temporal": "127.0.0.1:17233",
                "simulators": "http://127.0.0.1:18100",
                "task_queue": "orders",
            }
        )
    )
    # when a worker is started with its own database but nothing else
    given = Settings(data_dir=tmp_path, database_url="postgresql://mine/oms", temporal_address=None)
    settings, joined = join_running_stack(given)
    # then it keeps its database and takes the stack's Temporal server and simulators
    assert joined == tmp_path / "stack.json"
    assert settings.database_url == "postgresql://mine/oms"
    assert settings.temporal_target == "127.0.0.1:17233"
    assert settings.warehouse_target == "http://127.0.0.1:18100"
    # and with nothing running under its data folder it is left as it was
    lonely = Settings(data_dir=tmp_path / "elsewhere", database_url=None, temporal_address=None)
    assert join_running_stack(lonely) == (lonely, None)
