"""Continuing as new: before Temporal's limits, a run hands the order and every pending wait to a fresh run,
which follows each unsettled fulfillment order and return again from the aggregate."""

from datetime import datetime

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from workflows.allocation import Allocation
    from workflows.cancellation import Cancellation
    from workflows.exchanges import Exchanges
    from workflows.fulfillment_orders import FulfillmentOrders
    from workflows.messages import CheckoutResult, OrderInput, ResumeState
    from workflows.recording import OrderRecord
    from workflows.returns import Returns
    from workflows.steps import Steps


class Continuation:
    def __init__(
        self,
        input: OrderInput,
        record: OrderRecord,
        steps: Steps,
        cancellation: Cancellation,
        allocation: Allocation,
        fulfillment: FulfillmentOrders,
        returns: Returns,
        exchanges: Exchanges,
    ) -> None:
        self._input = input
        self._record = record
        self._steps = steps
        self._cancellation = cancellation
        self._allocation = allocation
        self._fulfillment = fulfillment
        self._returns = returns
        self._exchanges = exchanges

    def history_long(self) -> bool:
        info = workflow.info()
        long = info.get_current_history_length() >= self._input.max_history_events
        return long or info.is_continue_as_new_suggested()

    def wanted(self) -> bool:
        """The history is long and nothing waits for an operator: an operator's retry runs in this run, which
        until then waits as it is (it must not wake for its history's length, or it would wake at once again)."""
        return self.history_long() and self._steps.settled

    async def due(self) -> bool:
        """Whether to hand over now. Waits until every handler has finished and no step is under way; a signal
        arriving meanwhile makes the server refuse the hand-over until the run has seen it, so none is lost."""
        if not self.wanted():
            return False
        await workflow.wait_condition(lambda: workflow.all_handlers_finished() and self._steps.in_flight == 0)
        return True

    def state(
        self, phase: str, checkout: CheckoutResult, approved: bool | None, grace_ends: datetime | None
    ) -> ResumeState:
        fulfillment = self._fulfillment
        return ResumeState.model_validate(
            {
                "order": self._record.order,
                "checkout": checkout,
                "phase": phase,
                "window_closes": self._returns.window_closes,
                "grace_ends": grace_ends,
                "collect_by": fulfillment.collect_by,
                "early_deliveries": sorted(fulfillment.early_deliveries),
                "released_rejections": sorted(fulfillment.released_rejections),
                "stock_arrived": self._allocation.stock_arrived,
                "deadlines": fulfillment.deadlines.pending,
                "projected_status": self._record.projected_status,
                "projected_attention": self._record.projected_attention,
                "unprojected": self._record.unprojected,
                "approved": approved,
                "counters": {
                    "cancels": self._cancellation.count,
                    "appeasements": self._returns.appeasements,
                    "numbers_skipped": self._allocation.numbers_skipped,
                    "exchanges_tried": self._exchanges.tried,
                },
            }
        )

    def resume(self, state: ResumeState) -> None:
        """Take the previous run's order and waits, and follow again what is not settled."""
        record, fulfillment = self._record, self._fulfillment
        record.order = state.order
        record.projected_status, record.projected_attention = state.projected_status, state.projected_attention
        record.unprojected = list(state.unprojected)
        self._returns.window_closes = state.window_closes
        fulfillment.collect_by = dict(state.collect_by)
        fulfillment.early_deliveries = set(state.early_deliveries)
        fulfillment.released_rejections = set(state.released_rejections)
        fulfillment.deadlines.pending = dict(state.deadlines)
        self._allocation.stock_arrived = state.stock_arrived
        self._cancellation.count = state.counters.get("cancels", 0)
        self._returns.appeasements = state.counters.get("appeasements", 0)
        self._allocation.numbers_skipped = state.counters.get("numbers_skipped", 0)
        self._exchanges.tried = state.counters.get("exchanges_tried", 0)
        fulfillment.follow_unfinished()
        self._returns.follow_unfinished()
