"""The order's record: the event-sourced aggregate, and its events on their way to the read model.

Each event is applied to the aggregate when it happens and queued; `flush` projects the queue in one batch
(one local activity) and keeps the search attributes on the status. The read model never blocks the order:
a batch that cannot be written waits for the next flush (events are keyed by sequence, so writing one
again is harmless), and the run does not end before everything is written.
"""

import asyncio
from collections.abc import Callable
from datetime import timedelta

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from activities.contracts import ProjectionBatch
    from activities.projection import ProjectionActivities
    from domain import events as ev
    from domain.order import Order
    from workflows import search_attributes as sa
    from workflows.steps import StepError, failure_reason, local_step

# How often a run whose read model is behind (the database down past a step's retries) projects again.
PROJECTION_RETRY = timedelta(minutes=1)


class OrderRecord:
    def __init__(self, order: Order) -> None:
        self.order = order
        self.unprojected: list[ev.RecordedEvent] = []
        self.projected_status: str | None = None
        self.projected_attention = False
        self._listeners: list[Callable[[ev.OrderEvent], None]] = []
        self._flushing = asyncio.Lock()  # one batch at a time: the projection refuses a batch older than it holds

    def on_event(self, listener: Callable[[ev.OrderEvent], None]) -> None:
        self._listeners.append(listener)

    def __call__(self, event: ev.OrderEvent) -> None:
        self.order.apply(event)
        self.unprojected.append(ev.RecordedEvent(seq=self.order.version, event=event))
        for listener in self._listeners:
            listener(event)

    async def flush(self) -> None:
        async with self._flushing:
            await self._project()
            self._follow_search_attributes()

    async def flush_all(self) -> None:
        """Before the run ends, the read model has every event, however long its database was away."""
        await self.flush()
        while self.unprojected:
            await workflow.sleep(PROJECTION_RETRY, summary="read model behind: project again")
            await self.flush()

    async def _project(self) -> None:
        if not self.unprojected:
            return
        batch, self.unprojected = self.unprojected, []
        projection = ProjectionBatch(workflow_id=workflow.info().workflow_id, order=self.order, events=batch)
        try:
            await local_step(ProjectionActivities.project, projection)
        except StepError as err:
            workflow.logger.error("Read model behind; will project again", extra={"error": failure_reason(err)})
            self.unprojected = batch + self.unprojected

    def _follow_search_attributes(self) -> None:
        changes = []
        if self.order.status != self.projected_status:
            self.projected_status = self.order.status
            changes.append(sa.ORDER_STATUS.value_set(self.order.status))
        attention = self.order.attention is not None
        if attention != self.projected_attention:
            self.projected_attention = attention
            changes.append(sa.NEEDS_ATTENTION.value_set("true" if attention else "false"))
        if changes:
            workflow.upsert_search_attributes(changes)
