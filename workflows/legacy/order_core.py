"""What every part of the order workflow shares: its state, how a step runs and is recorded, and the
steps more than one part takes (allocation, cancel by the system, releases, voids, refunds)."""

import asyncio
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any, TypeVar

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from activities import contracts as act
    from activities.contracts import ProjectionBatch
    from domain import events as ev
    from domain.ids import idempotency_key
    from domain.order import FulfillmentOrderState, Order
    from workflows import search_attributes as sa
    from workflows.messages import (
        ActionResult,
        CheckoutResult,
        OrderInput,
        PartnerDeadline,
    )

R = TypeVar("R")
STEP_TIMEOUT = timedelta(seconds=10)
# Bounded: about a minute and a half of retries, then the step has failed for good (the order needs a person).
STEP_RETRY = RetryPolicy(
    initial_interval=timedelta(milliseconds=200),
    maximum_interval=timedelta(seconds=30),
    maximum_attempts=10,
    non_retryable_error_types=act.NON_RETRYABLE_ERRORS,
)
# A cancel agrees with the locations before it is recorded (amend, stop, "too late"). Orders of every process
# version cancel this way from this release on; a cancel already in a history replays the way it ran.
AMEND_PATCH = "amend-before-cancel"
# An authorization this close to lapsing is renewed before a capture is made on it.
AUTHORIZATION_RENEWAL_MARGIN = timedelta(days=1)
# How often a run whose read model is behind (the database down past a step's retries) projects again.
PROJECTION_RETRY = timedelta(minutes=1)


@dataclass
class FailedStep:
    """A step that failed for good after the order went on without it; an operator's retry runs it again."""

    summary: str
    run: Callable[[], Awaitable[None]]


class OrderCore:
    def __init__(self, input: OrderInput) -> None:
        self._input = input
        self._order = Order(order_id=input.order.order_id)
        self._unprojected: list[ev.RecordedEvent] = []
        self._projected_status: str | None = None
        self._checkout: CheckoutResult | None = None
        self._early_deliveries: set[str] = set()
        self._refusal: str | None = None
        self._void_lock = asyncio.Lock()
        self._flush_lock = asyncio.Lock()
        self._money_lock = asyncio.Lock()  # refunds one at a time, so two never split the same capture
        # a cancel waits for an allocation in flight: it would otherwise cancel the units being reserved
        self._allocation_lock = asyncio.Lock()
        self._stock_arrived = False
        self._released_rejections: set[str] = set()
        self._collect_by: dict[str, datetime] = {}
        self._window_closes: datetime | None = None
        self._grace_ends: datetime | None = None
        self._cancels = 0
        self._appeasements = 0
        self._approved: bool | None = None  # an agent's review verdict; None until one decides
        self._reroute_requested = False  # withdrawn fulfillment orders wait for the main loop to route them
        self._review_done = False
        self._hold_rerouted: int | None = None  # the score of a new address that asks for a review first
        self._numbers_skipped = 0  # fulfillment order numbers of exchanges undone: never given out again
        self._exchanges_tried = 0
        # set by run: orders of today's shape take the attention, deadline and amend paths
        self._reliable = False
        self._failed_steps: list[FailedStep] = []
        self._blocked_on: set[str] = set()  # steps the order waits on for an operator's retry
        self._retries_asked = 0
        self._retries_answered = 0
        self._deadlines: dict[str, PartnerDeadline] = {}
        self._alarm: asyncio.Task[None] | None = None
        self._alarm_at: datetime | None = None
        self._alarm_rang = False
        self._projected_attention = False

    async def _run_compensations(self, compensations: list[tuple[str, Any, type[Any], str]]) -> None:
        """Run each in turn; one that fails for good is put on the timeline for an operator and the rest go on."""
        for name, arg, result_type, summary in compensations:
            await self._try(name, arg, result_type, summary)

    async def _try(self, name: str, arg: Any, result_type: type[Any], summary: str) -> bool:
        """A step the order goes on without: one that fails for good needs a person, who can run it again."""

        async def again() -> None:
            await self._step(name, arg, result_type, summary)

        try:
            await again()
        except (ActivityError, ApplicationError) as err:
            self._step_failed(summary, err, again)
            return False
        return True

    def _step_failed(self, step: str, err: Exception, again: Callable[[], Awaitable[None]] | None = None) -> None:
        reason = failure_reason(err)
        workflow.logger.error("Step failed for good; going on", extra={"step": step, "error": reason})
        if not self._reliable:
            self._record(ev.StepFailed(at=workflow.now(), step=step, reason=reason))
            return
        self._needs_attention(step, reason)
        if again is not None:
            self._failed_steps.append(FailedStep(summary=step, run=again))

    def _needs_attention(self, step: str, reason: str) -> None:
        self._record(ev.AttentionNeeded(at=workflow.now(), step=step, reason=reason))

    async def _must(self, name: str, arg: Any, result_type: type[R], summary: str) -> R:
        """A step the order cannot go on without. Failing for good, it puts the order in attention and waits
        for an operator's retry (`oms order retry`) rather than stopping the order or retrying without end."""
        while True:
            try:
                result = await self._step(name, arg, result_type, summary)
            except (ActivityError, ApplicationError) as err:
                if not self._reliable:
                    raise
                self._needs_attention(summary, failure_reason(err))
                self._retries_answered = self._retries_asked  # a retry waiting on this attempt has its answer
                await self._flush()
                await self._wait_for_retry(summary)
                self._blocked_on.discard(summary)
                continue
            self._retries_answered = self._retries_asked
            return result

    async def _wait_for_retry(self, step: str) -> None:
        asked = self._retries_asked
        self._blocked_on.add(step)
        await workflow.wait_condition(lambda: self._retries_asked > asked)

    def _settle_attention(self, why: str) -> None:
        """Clear the order's attention once nothing needs a person any more (a late partner came through)."""
        if self._order.attention is None or self._failed_steps or self._blocked_on:
            return
        if any(d.flagged for d in self._deadlines.values()):
            return
        self._record(ev.AttentionCleared(at=workflow.now(), actor="system", reason=why))

    async def _void_authorization(self, *, must: bool = False) -> None:
        """Void what is left of each authorization, once, whoever asks first (a cancel or the last shipment)."""
        async with self._void_lock:
            for auth_id in self._order.payment.open_authorizations():
                n = 1 if auth_id == self._order.payment.authorization_id else auth_id
                request = act.VoidRequest(idempotency_key=self._key("void", n), authorization_id=auth_id)
                call = self._must if must else self._step
                result = await call(act.VOID_AUTHORIZATION, request, act.PaymentResult, f"void {auth_id}")
                self._record(
                    ev.AuthorizationVoided(
                        at=workflow.now(), actor="gateway", authorization_id=auth_id, amount=result.amount
                    )
                )

    def _nothing_left_to_capture(self) -> bool:
        """No unit left to ship or route, and every shipment captured: what is still authorized can go."""
        return (
            not any(fo.open for fo in self._order.fulfillment_orders)
            and not self._order.unallocated_lines()
            and not self._awaiting_capture()
        )

    def _awaiting_capture(self) -> list[FulfillmentOrderState]:
        return [
            fo
            for fo in self._order.fulfillment_orders
            if fo.status in ("shipped", "delivered") and fo.invoice_id is None
        ]

    async def _refund(self, parts: list[ev.RefundPart], step: str, summary: str) -> None:
        request = act.RefundRequest(idempotency_key=self._key(step, 1), parts=parts)
        await self._step(act.REFUND_PAYMENT, request, list[act.PaymentResult], summary)

    def _refundable_unreserved(self) -> Decimal:
        """Captured money not refunded nor owed to a return already asked for."""
        owed = sum((r.refund_amount for r in self._order.returns if r.status != "refunded"), Decimal(0))
        return max(self._order.refundable - owed, Decimal(0))

    def _record(self, event: ev.OrderEvent) -> None:
        self._order.apply(event)
        self._unprojected.append(ev.RecordedEvent(seq=self._order.version, event=event))
        if self._reliable:
            self._follow_deadlines(event)

    def _follow_deadlines(self, event: ev.OrderEvent) -> None:
        """Partner deadlines follow the events (PartnerDeadlines, in legacy/order_deadlines.py)."""

    def _open_fulfillment_orders(self) -> list[act.AllocatedFulfillmentOrder]:
        """What the order's locations hold for it now, as routing and hand-off take it."""
        return [
            act.AllocatedFulfillmentOrder(fulfillment_order_id=fo.id, location_id=fo.location_id, lines=fo.lines)
            for fo in self._order.fulfillment_orders
            if fo.open
        ]

    async def _release_fulfillment_order(self, fo: FulfillmentOrderState, step: str, summary: str) -> None:
        """Give back all a fulfillment order reserved at its location, once (keyed by step and order)."""
        release = act.ReleaseRequest(
            order_id=self._order.order_id,
            lines=fo.lines,
            location_id=fo.location_id,
            key=self._key(step, fo.id),
            fulfillment_order_id=fo.id,
        )
        await self._must(act.RELEASE_INVENTORY, release, int, summary)

    def _action_result(self) -> ActionResult:
        return ActionResult(
            order_id=self._order.order_id,
            status=self._order.status,
            fulfillment_order_ids=[fo.id for fo in self._order.fulfillment_orders if fo.open],
        )

    def _find_fulfillment_order(self, fo_id: str) -> FulfillmentOrderState | None:
        return next((fo for fo in self._order.fulfillment_orders if fo.id == fo_id), None)

    async def _step(self, name: str, arg: Any, result_type: type[R], summary: str | None = None) -> R:
        result: R = await workflow.execute_local_activity(
            name,
            arg,
            result_type=result_type,
            start_to_close_timeout=STEP_TIMEOUT,
            retry_policy=STEP_RETRY,
            summary=summary,
        )
        return result

    def _key(self, step: str, n: object) -> str:
        return idempotency_key(workflow.info().workflow_id, step, n)

    async def _decide(self) -> None:
        """Project what happened, then answer a waiting checkout."""
        await self._flush()
        if self._checkout is None:
            self._checkout = CheckoutResult(
                order_id=self._order.order_id,
                status=self._order.status,
                reason=self._refusal,
                currency=self._order.currency,
                total=self._order.total,
                fulfillment_order_ids=[fo.id for fo in self._order.fulfillment_orders],
            )

    async def _flush(self) -> None:
        # one batch at a time: the projection refuses a batch older than what it holds
        async with self._flush_lock:
            await self._project()

    async def _project(self) -> None:
        if not self._unprojected:
            return
        batch, self._unprojected = self._unprojected, []
        try:
            await self._step(
                act.PROJECT_ORDER,
                ProjectionBatch(workflow_id=workflow.info().workflow_id, order=self._order, events=batch),
                type(None),
            )
        except (ActivityError, ApplicationError) as err:
            if not self._reliable:
                raise
            # the read model never blocks the order: the batch waits for the next flush (events keyed by
            # sequence, so writing them again is harmless), and the run does not end before it is written
            workflow.logger.error("Read model behind; will project again", extra={"error": failure_reason(err)})
            self._unprojected = batch + self._unprojected
        changes = []
        if self._order.status != self._projected_status:
            self._projected_status = self._order.status
            changes.append(sa.ORDER_STATUS.value_set(self._order.status))
        attention = self._order.attention is not None
        if self._reliable and attention != self._projected_attention:
            self._projected_attention = attention
            changes.append(sa.NEEDS_ATTENTION.value_set("true" if attention else "false"))
        if changes:
            workflow.upsert_search_attributes(changes)

    async def _project_everything(self) -> None:
        """Before the run ends, the read model has every event, however long its database was away."""
        await self._flush()
        while self._reliable and self._unprojected:
            await workflow.sleep(PROJECTION_RETRY, summary="read model behind: project again")
            await self._flush()


def holdings(order: Order) -> dict[str, tuple[str, Counter[str]]]:
    """What each open fulfillment order still holds, by sku."""
    held: dict[str, tuple[str, Counter[str]]] = {}
    for fo in order.fulfillment_orders:
        if fo.open:
            held[fo.id] = (fo.location_id, Counter({q.sku: q.quantity for q in fo.lines}))
    return held


def failure_reason(err: Exception) -> str:
    """What a person reads of a step's failure: the partner's own message when it gave one."""
    cause = application_error(err)
    return cause.message if cause else str(err)


def application_error(err: Exception) -> ApplicationError | None:
    """The partner's own error: local activities raise it as is, regular ones wrap it in ActivityError."""
    if isinstance(err, ActivityError):
        return err.cause if isinstance(err.cause, ApplicationError) else None
    return err if isinstance(err, ApplicationError) else None
