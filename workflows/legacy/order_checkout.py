"""The legacy order workflow's checkout and its ends: authorize, allocate, review, compensate, continue as new."""

from datetime import timedelta

from temporalio import workflow
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from activities import contracts as act
    from domain import events as ev
    from domain.models import SkuQuantity
    from workflows.legacy.order_core import (
        application_error,
        failure_reason,
    )
    from workflows.legacy.order_fulfilment import FulfilmentLoop
    from workflows.messages import (
        OrderOutcome,
        ResumeState,
    )


class CheckoutAndEnd(FulfilmentLoop):
    async def _carry_on(self, phase: str) -> None:
        if phase == "fulfilment":
            await self._fulfil()
            if self._order.status == "canceled":
                return
        await self._serve_return_window(phase)
        await self._settled_by_a_person()
        self._record(ev.OrderCompleted(at=workflow.now()))

    async def _settled_by_a_person(self) -> None:
        """What failed for good (a release, a restock, a refund) is run again by an operator before the run
        ends: an order never closes half-done."""
        if self._reliable:
            await workflow.wait_condition(lambda: not self._failed_steps and not self._blocked_on)

    async def _end(self) -> OrderOutcome:
        await self._decide()  # a waiting checkout hears now, whatever is left for a person
        await self._settled_by_a_person()
        await self._project_everything()
        await workflow.wait_condition(workflow.all_handlers_finished)  # a waiting checkout gets its answer
        return OrderOutcome(order_id=self._order.order_id, status=self._order.status, events=self._order.version)

    # -- continuing as new -------------------------------------------------------------------
    def _resume(self, state: ResumeState) -> None:
        self._reliable = True
        self._order = state.order
        self._checkout = state.checkout
        self._window_closes, self._grace_ends = state.window_closes, state.grace_ends
        self._collect_by = dict(state.collect_by)
        self._early_deliveries = set(state.early_deliveries)
        self._released_rejections = set(state.released_rejections)
        self._stock_arrived = state.stock_arrived
        self._deadlines = dict(state.deadlines)
        self._projected_status, self._projected_attention = state.projected_status, state.projected_attention
        self._unprojected = list(state.unprojected)
        self._approved, self._review_done = state.approved, True
        self._cancels = state.counters.get("cancels", 0)
        self._appeasements = state.counters.get("appeasements", 0)
        self._numbers_skipped = state.counters.get("numbers_skipped", 0)
        self._exchanges_tried = state.counters.get("exchanges_tried", 0)

    async def _compensate(self, failure: Exception) -> None:
        """A step failed for good: give back what the order holds, stop what has not shipped and void what
        is left of the authorization, each once (keyed), logging and going on past a compensation that fails.
        Money already captured stays captured: it paid for goods that left."""
        # updates waiting on the lifecycle (a review, an address change) answer with the outcome below
        self._review_done, self._reroute_requested = True, False
        self._refusal = f"the order could not go on: {failure_reason(failure)}"
        workflow.logger.error("Step failed; compensating", extra={"failure": self._refusal})
        open_fos = [fo for fo in self._order.fulfillment_orders if fo.open]
        release = act.ReleaseRequest(order_id=self._order.order_id, key=None)  # a full release is idempotent
        await self._run_compensations(
            [
                (act.RELEASE_INVENTORY, release, int, "compensate: release every hold"),
                *((act.CANCEL_FULFILLMENT, fo.id, bool, f"compensate: stop {fo.id}") for fo in open_fos),
            ]
        )
        lines = self._order.cancelable_lines(include_exchanges=True)
        if lines:
            self._record(ev.ItemsCanceled(at=workflow.now(), actor="system", lines=lines, reason=self._refusal))
        try:
            await self._void_authorization()
        except (ActivityError, ApplicationError) as err:
            self._step_failed("compensate: void what is left authorized", err)

    async def _authorize(self) -> bool:
        placed = self._input.order
        request = act.AuthorizeRequest(
            idempotency_key=self._key("authorize", 1),
            order_id=placed.order_id,
            token=placed.payment.token,
            amount=placed.total,
            currency=placed.currency,
        )
        try:
            summary = f"authorize {placed.currency} {placed.total}"
            result = await self._step(act.AUTHORIZE_PAYMENT, request, act.PaymentResult, summary)
        except (ActivityError, ApplicationError) as err:
            refusal = application_error(err)
            if refusal is None or refusal.type not in (act.PAYMENT_DECLINED, act.PAYMENT_REFUSED):
                raise
            self._refusal = refusal.message
            self._record(ev.PaymentDeclined(at=workflow.now(), actor="gateway", reason=self._refusal))
            return False
        self._record(
            ev.PaymentAuthorized(
                at=workflow.now(),
                actor="gateway",
                authorization_id=result.transaction_id,
                amount=result.amount,
                expires_at=result.expires_at,
            )
        )
        return True

    async def _allocate_at_checkout(self, review_score: int | None) -> bool:
        """Route and reserve the order; one that needs review holds its stock until the review deadline
        and is handed to no location before an agent approves it."""
        lines = [SkuQuantity(sku=ln.sku, quantity=ln.quantity) for ln in self._input.order.lines]
        hold_until = None
        if review_score is not None:
            hold_until = workflow.now() + timedelta(seconds=self._input.review_seconds)
        allocation = await self._allocate(lines, hold_until)
        if not allocation.fulfillment_orders:
            await self._void_authorization()
            skus = ", ".join(q.sku for q in allocation.unfilled)
            self._refusal = f"no location can fill {skus} for this order now"
            self._record(
                ev.OrderUnavailable(at=workflow.now(), reason=self._refusal, skus=[q.sku for q in allocation.unfilled])
            )
            return False
        self._place(allocation)
        if review_score is not None and hold_until is not None:
            self._record(ev.OrderHeld(at=workflow.now(), actor="fraud-screen", score=review_score, until=hold_until))
        await self._handle_unfilled(allocation.unfilled)
        return True
