"""Replay a live order's history against the working tree's workflow code, before deploying it."""

from temporalio.worker import Replayer

from domain.ids import workflow_id_for
from starter.reset import temporal_address
from starter.settings import Settings
from starter.temporal import connect


async def replay_order(settings: Settings, order_id: str) -> str | None:
    """None when the current code makes the same decisions; otherwise what diverged."""
    from worker import sandbox_runner
    from workflows.registry import ORDER_WORKFLOWS

    # the server of OMS_TEMPORAL_ADDRESS, or the local stack's (`oms up` on other ports writes it to stack.json)
    client = await connect(temporal_address(settings), settings.temporal_namespace)
    history = await client.get_workflow_handle(workflow_id_for(order_id)).fetch_history()
    replayer = Replayer(
        workflows=ORDER_WORKFLOWS, data_converter=client.data_converter, workflow_runner=sandbox_runner()
    )
    result = await replayer.replay_workflow(history, raise_on_replay_failure=False)
    return None if result.replay_failure is None else str(result.replay_failure)
