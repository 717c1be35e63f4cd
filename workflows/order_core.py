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
    from domain import events as ev
    from domain.models import SkuQuantity
    from domain.order import FulfillmentOrderState, Order
    from store.read_model import ProjectionBatch
    from workflows import search_attributes as sa
    from workflows.messages import (
        ActionResult,
        CheckoutResult,
        OrderInput,
        PartnerDeadline,
        ReshipRequest,
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

    async def _allocate(
        self, lines: list[SkuQuantity], hold_until: datetime | None = None, *, must: bool = False
    ) -> act.AllocateResult:
        placed = self._input.order
        address = self._order.delivery_address or placed.shipping_address
        fos = self._order.fulfillment_orders
        request = act.AllocateRequest(
            order_id=placed.order_id,
            channel=placed.channel,
            lines=lines,
            latitude=address.latitude,
            longitude=address.longitude,
            pickup_location_id=placed.pickup_location_id if placed.delivery_method == "pickup" else None,
            ship_to=address.model_dump(mode="json"),
            delivery_method=placed.delivery_method,
            first_number=len(fos) + 1 + self._numbers_skipped,
            excluded=sorted({fo.location_id for fo in fos if fo.status == "rejected"}),
            hold_until=hold_until,
        )
        summary = f"route and reserve {sum(q.quantity for q in lines)} unit(s), release to locations"
        if must:
            return await self._must(act.ALLOCATE_ORDER, request, act.AllocateResult, summary)
        return await self._step(act.ALLOCATE_ORDER, request, act.AllocateResult, summary)

    def _ship_to(self) -> dict[str, Any]:
        """Where the order goes now: an agent may have changed the checkout's address."""
        return (self._order.delivery_address or self._input.order.shipping_address).model_dump(mode="json")

    def _place(
        self,
        allocation: act.AllocateResult,
        *,
        actor: str = "system",
        reship: ReshipRequest | None = None,
        exchange_id: str | None = None,
    ) -> None:
        now = workflow.now()
        for fo in allocation.fulfillment_orders:
            self._record(
                ev.InventoryReserved(
                    at=now, actor=actor, location_id=fo.location_id, lines=fo.lines, reship=reship is not None
                )
            )
            self._record(
                ev.FulfillmentOrderCreated(
                    at=now,
                    actor=actor,
                    fulfillment_order_id=fo.fulfillment_order_id,
                    location_id=fo.location_id,
                    lines=fo.lines,
                    promised_date=fo.promised_date,
                    reship=reship is not None,
                    reason=reship.reason if reship else None,
                    exchange_id=exchange_id,
                )
            )

    async def _handle_unfilled(self, unfilled: list[SkuQuantity]) -> None:
        """The channel's policy: wait for stock up to a limit, or cancel the units at once."""
        if not unfilled:
            return
        wait = self._input.backorder_seconds
        if wait is None:
            await self._cancel_by_system(
                unfilled, "no location can fill these units and the channel does not backorder"
            )
        elif self._order.backordered_until is None:
            until = workflow.now() + timedelta(seconds=wait)
            self._record(ev.LinesBackordered(at=workflow.now(), lines=unfilled, until=until))

    async def _cancel_by_system(self, lines: list[SkuQuantity], reason: str) -> None:
        before = holdings(self._order)
        self._record(ev.ItemsCanceled(at=workflow.now(), actor="system", lines=lines, reason=reason))
        self._cancels += 1
        await self._release_canceled(before, f"cancel:{self._cancels}")

    async def _release_canceled(
        self, before: dict[str, tuple[str, Counter[str]]], step: str, *, stopped_already: bool = False
    ) -> None:
        """Give back the reservations the cancel took off fulfillment orders, stop emptied ones (unless the
        locations were told before the cancel was recorded), void if all gone."""
        after = holdings(self._order)
        for fo_id, (location_id, held) in sorted(before.items()):
            kept = after.get(fo_id, (location_id, Counter()))[1]
            freed = [SkuQuantity(sku=sku, quantity=n - kept[sku]) for sku, n in sorted(held.items()) if n > kept[sku]]
            if not freed:
                continue
            release = act.ReleaseRequest(
                order_id=self._order.order_id,
                lines=freed,
                location_id=location_id,
                key=self._key(step, fo_id),
                fulfillment_order_id=fo_id,
            )
            # the cancel is recorded: what fails for good now is for an operator, not a reason to stop
            steps: list[tuple[str, Any, type[Any], str]] = [
                (
                    act.RELEASE_INVENTORY,
                    release,
                    int,
                    f"release {sum(q.quantity for q in freed)} unit(s) at {location_id}",
                )
            ]
            if self._order.fulfillment_order(fo_id).status == "canceled" and not stopped_already:
                steps.append((act.CANCEL_FULFILLMENT, fo_id, bool, f"stop {fo_id} at {location_id}"))
            await self._run_compensations(steps)
        if self._nothing_left_to_capture():
            try:
                await self._void_authorization()
            except (ActivityError, ApplicationError) as err:
                self._step_failed("void what the cancel left authorized", err, self._void_authorization)

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

    # -- deadlines on partners ---------------------------------------------------------------
    def _follow_deadlines(self, event: ev.OrderEvent) -> None:
        """A released fulfillment order is due to ship, a shipped one to be delivered; news ends the wait."""
        match event:
            case ev.FulfillmentOrderCreated(fulfillment_order_id=fo_id, at=at):
                self._deadline(fo_id, "shipment", at)
            case ev.ShipmentShipped(fulfillment_order_id=fo_id, at=at):
                self._end_deadline(fo_id, "shipped")
                self._deadline(fo_id, "delivery", at)
            case (
                ev.ShipmentDelivered(fulfillment_order_id=fo_id)
                | ev.ReadyForPickup(fulfillment_order_id=fo_id)
                | ev.FulfillmentOrderRejected(fulfillment_order_id=fo_id)
                | ev.FulfillmentOrderWithdrawn(fulfillment_order_id=fo_id)
            ):
                self._end_deadline(fo_id, event.type)
            case ev.ItemsCanceled():
                for fo in self._order.fulfillment_orders:
                    if fo.status == "canceled":
                        self._end_deadline(fo.id, "canceled")

    def _deadline(self, fo_id: str, waiting_for: str, since: datetime) -> None:
        sla = self._input.fulfillment_sla_seconds if waiting_for == "shipment" else self._input.delivery_sla_seconds
        self._deadlines[fo_id] = PartnerDeadline.model_validate(
            {
                "fulfillment_order_id": fo_id,
                "waiting_for": waiting_for,
                "since": since,
                "due": since + timedelta(seconds=sla),
            }
        )

    def _end_deadline(self, fo_id: str, news: str) -> None:
        deadline = self._deadlines.pop(fo_id, None)
        if deadline is not None and deadline.flagged:
            self._settle_attention(f"{fo_id}: {news}")

    def _due_deadlines(self) -> list[PartnerDeadline]:
        """Deadlines passed and not yet flagged for a person; a held order's locations do not have it yet."""
        if self._order.held:
            return []
        now = workflow.now()
        return [d for d in self._deadlines.values() if not d.flagged and now >= d.due]

    def _next_partner_deadline(self) -> datetime | None:
        if self._order.held:
            return None
        return min((d.due for d in self._deadlines.values() if not d.flagged), default=None)

    def _arm_partner_alarm(self) -> None:
        """One timer wakes the order at its earliest partner deadline. It is kept while it rings early enough
        (on ringing early, the loop finds nothing due and sets it again), and dropped once nothing is awaited:
        a timer per wait of the loop would cost the history two events each time the order wakes."""
        self._alarm_rang = False
        due = self._next_partner_deadline()
        if due is None:
            if self._alarm is not None:
                self._alarm.cancel()
                self._alarm, self._alarm_at = None, None
            return
        if self._alarm is not None and self._alarm_at is not None and self._alarm_at <= due:
            return
        if self._alarm is not None:
            self._alarm.cancel()
        self._alarm_at = due
        self._alarm = asyncio.create_task(self._ring_at(due))

    async def _ring_at(self, due: datetime) -> None:
        await workflow.sleep(max(due - workflow.now(), timedelta(seconds=1)), summary="a partner's deadline")
        # the loop wakes: a due deadline is work for it, or it sets the alarm again for the next one
        self._alarm, self._alarm_at, self._alarm_rang = None, None, True

    async def _chase_partners(self) -> None:
        """Past its deadline a partner is asked again (a lost webhook comes again); silent once more, the order
        needs a person. The order keeps waiting for the news either way."""
        for deadline in self._due_deadlines():
            fo = self._order.fulfillment_order(deadline.fulfillment_order_id)
            if deadline.asked:
                deadline.flagged = True
                partner = fo.location_id if deadline.waiting_for == "shipment" else (fo.carrier or "the carrier")
                self._needs_attention(
                    f"{deadline.waiting_for} of {fo.id}",
                    f"no news from {partner} since {deadline.since:%Y-%m-%d %H:%M} UTC, also after asking again",
                )
                continue
            deadline.asked = True
            sla = deadline.due - deadline.since
            deadline.due = workflow.now() + sla
            if deadline.waiting_for == "shipment":
                await self._ask_location_again(fo)
            else:
                await self._ask_carrier_again(fo)

    async def _ask_location_again(self, fo: FulfillmentOrderState) -> None:
        self._record(
            ev.PartnerAskedAgain(
                at=workflow.now(), fulfillment_order_id=fo.id, partner=fo.location_id, waiting_for="shipment"
            )
        )
        request = act.HandOffRequest(
            order_id=self._order.order_id,
            ship_to=self._ship_to(),
            delivery_method=self._input.order.delivery_method,
            fulfillment_orders=[
                act.AllocatedFulfillmentOrder(fulfillment_order_id=fo.id, location_id=fo.location_id, lines=fo.lines)
            ],
        )
        await self._try(act.HAND_OFF_FULFILLMENT, request, int, f"ask {fo.location_id} again about {fo.id}")

    async def _ask_carrier_again(self, fo: FulfillmentOrderState) -> None:
        assert fo.tracking_number is not None, "a shipped fulfillment order has its tracking number"
        carrier = fo.carrier or "the carrier"
        self._record(
            ev.PartnerAskedAgain(at=workflow.now(), fulfillment_order_id=fo.id, partner=carrier, waiting_for="delivery")
        )
        summary = f"ask {carrier} where {fo.tracking_number} is"
        try:
            status = await self._step(act.TRACK_PARCEL, fo.tracking_number, str | None, summary)  # type: ignore[arg-type]
        except (ActivityError, ApplicationError) as err:
            self._step_failed(summary, err)
            return
        if status == "delivered":
            self._deliver(fo.id)

    def _deliver(self, fo_id: str) -> None:
        fo = self._order.fulfillment_order(fo_id)
        if fo.status != "shipped" or fo.tracking_number is None:
            self._early_deliveries.add(fo_id)
            return
        self._record(
            ev.ShipmentDelivered(
                at=workflow.now(),
                actor="partner:carrier",
                fulfillment_order_id=fo_id,
                tracking_number=fo.tracking_number,
            )
        )

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
        return f"{workflow.info().workflow_id}:{step}:{n}"

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
