"""The service phase: returns may be asked for until the window closes; those on their way (and reships or
replacements still travelling) are awaited as long again. The returns, exchanges and fulfillment orders
follow themselves meanwhile; the window only waits, on one timer."""

from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from workflows.messages import OrderInput
    from workflows.order_facts import service_settled
    from workflows.recording import OrderRecord
    from workflows.returns import Returns


class ServiceWindow:
    def __init__(
        self,
        input: OrderInput,
        record: OrderRecord,
        returns: Returns,
        interrupted: Callable[[], bool],
        continue_if_long: Callable[[str], Awaitable[None]],
    ) -> None:
        self._input = input
        self._record = record
        self._returns = returns
        self._interrupted = interrupted  # the history is long, or a coroutine crashed: the run must act
        self._continue_if_long = continue_if_long
        self.grace_ends: datetime | None = None

    async def serve(self, phase: str) -> None:
        window = timedelta(seconds=self._input.return_window_seconds)
        if phase != "grace":
            if self._returns.window_closes is None:
                self._returns.window_closes = workflow.now() + window
            await self._until(self._returns.window_closes, lambda: False, "window")
        if not service_settled(self._record.order):
            if self.grace_ends is None:
                self.grace_ends = workflow.now() + window
            await self._until(self.grace_ends, lambda: service_settled(self._record.order), "grace")

    async def _until(self, deadline: datetime, done: Callable[[], bool], phase: str) -> None:
        while not done():
            left = deadline - workflow.now()
            if left <= timedelta(0):
                return
            await self._continue_if_long(phase)
            try:
                await workflow.wait_condition(
                    lambda: done() or self._interrupted(), timeout=left, timeout_summary=f"return {phase}"
                )
            except TimeoutError:
                return
            await self._continue_if_long(phase)
