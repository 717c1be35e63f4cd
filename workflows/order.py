"""The order workflow: one per order, from checkout to the close of its service window.

The workflow holds the event-sourced Order aggregate. Each step records domain events; they are
projected to the read model in one batch per step by a local activity, and the search attributes
follow the status. Every step is a local activity: each costs one marker event in the history
instead of a scheduled/started/completed triple and a round trip through the server, which is what
keeps an order's history short and checkout fast. Each marker still names its step, and local
activities retry with backoff like any other.

Fulfillment orders are tracked inside this workflow rather than as child workflows: a child would
add at least a dozen events per fulfillment order to what an order costs, and the operator already
sees each one in the order's timeline and in its step summaries.
"""

import asyncio
import contextlib
from collections import Counter
from collections.abc import Callable
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any, TypeVar

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from activities import contracts as act
    from domain import events as ev
    from domain.errors import InvariantViolation
    from domain.fraud import screen
    from domain.models import SkuQuantity
    from domain.order import CLOSED_FULFILLMENT, FulfillmentOrderState, Order
    from store.read_model import ProjectionBatch
    from workflows import search_attributes as sa
    from workflows.messages import (
        ADDRESS_UPDATE,
        APPEASEMENT_UPDATE,
        CANCEL_UPDATE,
        CARRIER_SIGNAL,
        CHECKOUT_UPDATE,
        EXCHANGE_UPDATE,
        ORDER_WORKFLOW,
        RESHIP_UPDATE,
        RETURN_SIGNAL,
        RETURN_UPDATE,
        REVIEW_UPDATE,
        STOCK_RECEIVED_SIGNAL,
        SUMMARY_QUERY,
        WAREHOUSE_SIGNAL,
        ActionResult,
        AddressChange,
        AppeasementRequest,
        AppeasementResult,
        CancelRequest,
        CancelResult,
        CarrierEvent,
        CheckoutResult,
        ExchangeRequest,
        ExchangeResult,
        OrderInput,
        OrderOutcome,
        ReshipRequest,
        ReturnEvent,
        ReturnRequest,
        ReturnResult,
        ReviewDecision,
        StockReceived,
        WarehouseEvent,
        exchange_id_for,
        return_id_for,
    )

R = TypeVar("R")
STEP_TIMEOUT = timedelta(seconds=10)
STEP_RETRY = RetryPolicy(initial_interval=timedelta(milliseconds=200), maximum_interval=timedelta(seconds=30))
RETURN_CARRIER = "YMT"
# an exchange's replacement is held this long between reserving it and handing it to its location
EXCHANGE_HOLD = timedelta(minutes=15)


@workflow.defn(name=ORDER_WORKFLOW)
class OrderWorkflow:
    @workflow.init
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
        self._cancels = 0
        self._appeasements = 0
        self._approved: bool | None = None  # an agent's review verdict; None until one decides
        self._reroute_requested = False  # withdrawn fulfillment orders wait for the main loop to route them
        self._review_done = False
        self._numbers_skipped = 0  # fulfillment order numbers of exchanges undone: never given out again
        self._exchanges_tried = 0

    # -- storefront -------------------------------------------------------------------------
    @workflow.update(name=CHECKOUT_UPDATE)
    async def checkout(self) -> CheckoutResult:
        """Answers the storefront once the order is accepted or refused; repeated checkouts get the same answer."""
        await workflow.wait_condition(lambda: self._checkout is not None)
        assert self._checkout is not None
        return self._checkout

    @workflow.query(name=SUMMARY_QUERY)
    def summary(self) -> Order:
        return self._order

    # -- partners ---------------------------------------------------------------------------
    @workflow.signal(name=WAREHOUSE_SIGNAL)
    def warehouse_event(self, event: WarehouseEvent) -> None:
        """Repeated or late events find the fulfillment order past that state and change nothing."""
        fo = self._find_fulfillment_order(event.fulfillment_order_id)
        if fo is None:
            return
        now = workflow.now()
        if event.event == "shipped" and fo.status == "released":
            self._record(
                ev.ShipmentShipped(
                    at=now,
                    actor="partner:warehouse",
                    fulfillment_order_id=fo.id,
                    carrier=event.carrier or "unknown",
                    tracking_number=event.tracking_number or f"{fo.id}-NT",
                )
            )
            if fo.id in self._early_deliveries:
                self._deliver(fo.id)
        elif event.event == "rejected" and fo.status == "released":
            reason = event.reason or f"rejected by {fo.location_id}"
            self._record(
                ev.FulfillmentOrderRejected(
                    at=now, actor="partner:warehouse", fulfillment_order_id=fo.id, reason=reason
                )
            )
        elif event.event in ("ready_for_pickup", "picked_up") and fo.status == "released":
            collect_by = now + timedelta(seconds=self._input.pickup_hold_seconds)
            self._collect_by[fo.id] = collect_by
            self._record(
                ev.ReadyForPickup(at=now, actor="partner:store", fulfillment_order_id=fo.id, collect_by=collect_by)
            )
            fo = self._order.fulfillment_order(fo.id)  # apply replaced the state: read the ready one back
        if event.event == "picked_up" and fo.status == "ready_for_pickup":
            self._record(ev.PickedUp(at=now, actor="partner:store", fulfillment_order_id=fo.id))

    @workflow.signal(name=CARRIER_SIGNAL)
    def carrier_event(self, event: CarrierEvent) -> None:
        if event.event != "delivered":
            return
        fo = next((f for f in self._order.fulfillment_orders if f.tracking_number == event.tracking_number), None)
        if fo is not None and fo.status == "shipped":
            self._deliver(fo.id)

    @workflow.signal(name=STOCK_RECEIVED_SIGNAL)
    def stock_received(self, news: StockReceived) -> None:
        if self._order.backordered_until is not None:
            self._stock_arrived = True

    @workflow.signal(name=RETURN_SIGNAL)
    def return_event(self, event: ReturnEvent) -> None:
        """The returned units arrived; a second `received` for the same return changes nothing."""
        rma = next((r for r in self._order.returns if r.id == event.return_id), None)
        if rma is None or rma.status != "requested":
            return
        lines = [ev.ReturnedLine(sku=u.sku, quantity=u.quantity, condition=u.condition) for u in event.lines]
        received = ev.ReturnReceived(at=workflow.now(), actor="partner:returns", return_id=rma.id, lines=lines)
        try:
            self._record(received)
        except InvariantViolation as refused:
            workflow.logger.warning("Return event refused", extra={"return_id": rma.id, "reason": str(refused)})

    # -- agents and customers -----------------------------------------------------------------
    @workflow.update(name=CANCEL_UPDATE)
    async def cancel(self, request: CancelRequest) -> CancelResult:
        async with self._allocation_lock:
            refusal = self._order.cancel_refusal(request.lines)
            if refusal is not None:  # what the validator saw changed while an allocation finished
                raise ApplicationError(refusal, type="CancelRefused", non_retryable=True)
            lines = request.lines or self._order.cancelable_lines()
            before = _holdings(self._order)
            self._record(ev.ItemsCanceled(at=workflow.now(), actor=request.actor, lines=lines, reason=request.reason))
            self._cancels += 1
            await self._release_canceled(before, f"cancel:{self._cancels}")
        await self._flush()
        return CancelResult(order_id=self._order.order_id, status=self._order.status, canceled=lines)

    @cancel.validator
    def _cancel_allowed(self, request: CancelRequest) -> None:
        """Refuses at once, with a reason, and the refused cancel never enters the history."""
        refusal = self._order.cancel_refusal(request.lines)
        if refusal is not None:
            raise ValueError(refusal)

    @workflow.update(name=REVIEW_UPDATE)
    async def review(self, decision: ReviewDecision) -> ActionResult:
        self._approved = decision.approve
        self._record(
            ev.ReviewDecided(at=workflow.now(), actor=decision.actor, approved=decision.approve, reason=decision.reason)
        )
        await workflow.wait_condition(lambda: self._review_done)
        return self._action_result()

    @review.validator
    def _review_allowed(self, decision: ReviewDecision) -> None:
        if not self._order.held:
            raise ValueError(f"the order is {self._order.status}, not on hold for review")

    @workflow.update(name=ADDRESS_UPDATE)
    async def change_address(self, change: AddressChange) -> ActionResult:
        """Take back what has not shipped yet and route it again for the new address (same-day radius,
        nearest location); a location that has already shipped keeps its part, and says so by its webhook."""
        async with self._allocation_lock:
            self._record(
                ev.AddressChanged(at=workflow.now(), actor=change.actor, address=change.address, reason=change.reason)
            )
            for fo in [f for f in self._order.fulfillment_orders if f.status == "released"]:
                stopped = await self._step(act.CANCEL_FULFILLMENT, fo.id, bool, f"withdraw {fo.id} for a new address")
                if not stopped or self._order.fulfillment_order(fo.id).status != "released":
                    continue
                self._record(
                    ev.FulfillmentOrderWithdrawn(
                        at=workflow.now(), actor=change.actor, fulfillment_order_id=fo.id, reason="address changed"
                    )
                )
                await self._release_fulfillment_order(fo, "withdrawn", f"release {fo.id} at {fo.location_id}")
            self._reroute_requested = bool(self._order.unallocated_lines())
        await workflow.wait_condition(lambda: not self._reroute_requested)
        await self._flush()
        return self._action_result()

    @change_address.validator
    def _address_change_allowed(self, change: AddressChange) -> None:
        refusal = self._order.address_change_refusal()
        if refusal is not None:
            raise ValueError(refusal)

    @workflow.update(name=RESHIP_UPDATE)
    async def reship(self, request: ReshipRequest) -> ActionResult:
        """Send lost or damaged units again at no charge, from wherever routing chooses now."""
        async with self._allocation_lock:
            allocation = await self._allocate(request.lines)
            self._place(allocation, actor=request.actor, reship=request)
            if allocation.unfilled:  # nothing to wait for: an agent may reship again once stock is back
                what = ", ".join(f"{q.quantity} x {q.sku}" for q in allocation.unfilled)
                workflow.logger.warning("Reship could not be filled in full", extra={"unfilled": what})
            new = [fo.fulfillment_order_id for fo in allocation.fulfillment_orders]
        await self._flush()
        return ActionResult(order_id=self._order.order_id, status=self._order.status, fulfillment_order_ids=new)

    @reship.validator
    def _reship_allowed(self, request: ReshipRequest) -> None:
        refusal = self._order.reship_refusal(request.lines)
        if refusal is not None:
            raise ValueError(refusal)

    @workflow.update(name=RETURN_UPDATE)
    async def request_return(self, request: ReturnRequest) -> ReturnResult:
        refund = min(self._order.amount_of(request.lines), self._refundable_unreserved())
        result = self._record_return(request, refund)
        await self._flush()
        return result

    @request_return.validator
    def _return_allowed(self, request: ReturnRequest) -> None:
        refusal = self._return_refusal(request)
        if refusal is not None:
            raise ValueError(refusal)

    def _return_refusal(self, request: ReturnRequest | ExchangeRequest) -> str | None:
        lines = request.lines if isinstance(request, ReturnRequest) else request.returned
        if not any(line.delivered for line in self._order.lines):
            return "nothing on the order has been delivered yet: cancel instead, or wait for delivery"
        if self._window_closes is not None and workflow.now() >= self._window_closes:
            return f"the return window closed on {self._window_closes:%Y-%m-%d %H:%M} UTC"
        if request.method == "in_store" and not request.location_id:
            return "an in-store return needs the store's location_id"
        return self._order.return_refusal(lines)

    def _record_return(self, request: ReturnRequest, refund: Decimal) -> ReturnResult:
        n = len(self._order.returns) + 1
        return_id = return_id_for(self._order.order_id, n)
        rma = f"RMA-{self._order.order_id}-{n}"
        location_id = request.location_id if request.method == "in_store" else self._origin_of(request.lines)
        assert location_id is not None, "the validator requires a store for in-store returns"
        label = f"{RETURN_CARRIER}-RET-{workflow.uuid4().hex[:10].upper()}" if request.method == "mail" else None
        self._record(
            ev.ReturnRequested(
                at=workflow.now(),
                actor=request.actor,
                return_id=return_id,
                rma=rma,
                lines=request.lines,
                reason=request.reason,
                method=request.method,
                location_id=location_id,
                label=label,
                refund_amount=refund,
            )
        )
        return ReturnResult(return_id=return_id, rma=rma, label=label, location_id=location_id, refund_estimate=refund)

    @workflow.update(name=EXCHANGE_UPDATE)
    async def exchange(self, request: ExchangeRequest) -> ExchangeResult:
        """Swap returned units for replacements sent at once. The returned units' value pays for them; the
        difference is authorized now and captured as they ship, or refunded once the return is received.
        Nothing is recorded until payment, stock and hand-off have all succeeded; a failure undoes each."""
        async with self._allocation_lock, self._money_lock:
            refusal = self._exchange_refusal(request)
            if refusal is not None:  # what the validator saw changed while another action finished
                raise ApplicationError(refusal, type="ExchangeRefused", non_retryable=True)
            replacement = self._replacement_lines(request)
            # numbered by attempt: an undone exchange's id (and its payment keys) is never reused
            self._exchanges_tried += 1
            exchange_id = exchange_id_for(self._order.order_id, self._exchanges_tried)
            credit = min(self._order.amount_of(request.returned), self._refundable_unreserved())
            difference = self._order.replacement_value(replacement) - credit
            auth_id = await self._authorize_difference(exchange_id, difference) if difference > 0 else None
            allocation = await self._send_replacement(exchange_id, replacement, auth_id)
            returned = ReturnRequest(
                lines=request.returned,
                reason=f"exchange: {request.reason}",
                method=request.method,
                location_id=request.location_id,
                actor=request.actor,
            )
            rma = self._record_return(returned, max(-difference, Decimal(0)))
            now = workflow.now()
            if auth_id is not None:
                self._record(ev.PaymentAuthorized(at=now, actor="gateway", authorization_id=auth_id, amount=difference))
            self._record(
                ev.ExchangeRequested(
                    at=now,
                    actor=request.actor,
                    exchange_id=exchange_id,
                    return_id=rma.return_id,
                    lines=replacement,
                    credit=min(credit, credit + difference),
                    difference=difference,
                    authorization_id=auth_id,
                    reason=request.reason,
                )
            )
            self._place(allocation, actor=request.actor, exchange_id=exchange_id)
        await self._flush()
        return ExchangeResult(
            exchange_id=exchange_id,
            return_id=rma.return_id,
            rma=rma.rma,
            label=rma.label,
            location_id=rma.location_id,
            difference=difference,
            fulfillment_order_ids=[fo.fulfillment_order_id for fo in allocation.fulfillment_orders],
        )

    @exchange.validator
    def _exchange_allowed(self, request: ExchangeRequest) -> None:
        refusal = self._exchange_refusal(request)
        if refusal is not None:
            raise ValueError(refusal)

    def _exchange_refusal(self, request: ExchangeRequest) -> str | None:
        refusal = self._return_refusal(request)
        if refusal is not None:
            return refusal
        unpriced = [
            q.sku
            for q in request.replacement
            if q.unit_price is None and all(ln.sku != q.sku for ln in self._order.lines)
        ]
        if unpriced:
            return f"{', '.join(unpriced)} is not on the order: give the replacement's unit_price"
        return self._order.replacement_refusal(self._replacement_lines(request))

    def _replacement_lines(self, request: ExchangeRequest) -> list[ev.ExchangeLine]:
        prices = {line.sku: line.unit_price for line in self._order.lines}
        return [
            ev.ExchangeLine(
                sku=q.sku,
                quantity=q.quantity,
                unit_price=q.unit_price if q.unit_price is not None else prices[q.sku],
            )
            for q in request.replacement
        ]

    async def _authorize_difference(self, exchange_id: str, amount: Decimal) -> str:
        placed = self._input.order
        request = act.AuthorizeRequest(
            idempotency_key=self._key("authorize", exchange_id),
            order_id=placed.order_id,
            token=placed.payment.token,
            amount=amount,
            currency=placed.currency,
        )
        try:
            summary = f"authorize {placed.currency} {amount}, the difference of exchange {exchange_id}"
            result = await self._step(act.AUTHORIZE_PAYMENT, request, act.PaymentResult, summary)
        except (ActivityError, ApplicationError) as err:
            reason = _failure_reason(err)
            raise ApplicationError(
                f"the difference of {amount} could not be authorized: {reason}", type="ExchangeRefused"
            ) from err
        return result.transaction_id

    async def _send_replacement(
        self, exchange_id: str, lines: list[ev.ExchangeLine], auth_id: str | None
    ) -> act.AllocateResult:
        """Reserve the replacement (held, not yet at any location), then hand it over; if either fails, give
        back the holds, stop what was handed over and void the difference, each once."""
        wanted = [SkuQuantity(sku=q.sku, quantity=q.quantity) for q in lines]
        allocation: act.AllocateResult | None = None
        handed_over = False
        try:
            allocation = await self._allocate(wanted, workflow.now() + EXCHANGE_HOLD)
            if allocation.unfilled:
                what = ", ".join(f"{q.quantity} x {q.sku}" for q in allocation.unfilled)
                raise ApplicationError(f"no location can send {what} now: make a return instead, or try later")
            handed_over = True
            hand_off = act.HandOffRequest(
                order_id=self._order.order_id,
                ship_to=self._ship_to(),
                delivery_method=self._input.order.delivery_method,
                fulfillment_orders=allocation.fulfillment_orders,
            )
            summary = f"hand exchange {exchange_id} to {len(allocation.fulfillment_orders)} location(s)"
            await self._step(act.HAND_OFF_FULFILLMENT, hand_off, int, summary)
            return allocation
        except (ActivityError, ApplicationError) as failure:
            reason = _failure_reason(failure)
            fos = allocation.fulfillment_orders if allocation else []
            self._numbers_skipped += len(fos)
            await self._undo_exchange(exchange_id, fos, handed_over, auth_id)
            raise ApplicationError(
                f"exchange {exchange_id} refused: {reason}", type="ExchangeRefused", non_retryable=True
            ) from failure

    async def _undo_exchange(
        self, exchange_id: str, fos: list[act.AllocatedFulfillmentOrder], handed_over: bool, auth_id: str | None
    ) -> None:
        """Each undo is keyed or a full release of one fulfillment order, so running it again changes nothing."""
        undo: list[tuple[str, Any, type[Any], str]] = []
        for fo in fos:
            fo_id = fo.fulfillment_order_id
            release = act.ReleaseRequest(order_id=self._order.order_id, fulfillment_order_id=fo_id)
            undo.append((act.RELEASE_INVENTORY, release, int, f"undo exchange {exchange_id}: release {fo_id}"))
            if handed_over:
                undo.append((act.CANCEL_FULFILLMENT, fo_id, bool, f"undo exchange {exchange_id}: stop {fo_id}"))
        if auth_id is not None:
            void = act.VoidRequest(idempotency_key=self._key("void", exchange_id), authorization_id=auth_id)
            summary = f"undo exchange {exchange_id}: void {auth_id}"
            undo.append((act.VOID_AUTHORIZATION, void, act.PaymentResult, summary))
        await self._run_compensations(undo)

    @workflow.update(name=APPEASEMENT_UPDATE)
    async def grant_appeasement(self, request: AppeasementRequest) -> AppeasementResult:
        async with self._money_lock:
            refusal = self._appeasement_refusal(request.amount)
            if refusal is not None:  # another refund went first while this one waited for the lock
                raise ApplicationError(refusal, type="AppeasementRefused", non_retryable=True)
            self._appeasements += 1
            n = self._appeasements
            parts = self._order.refund_parts(request.amount)
            summary = f"goodwill refund of {self._order.currency} {request.amount}"
            try:
                await self._refund(parts, f"appeasement:{n}", summary)
            except (ActivityError, ApplicationError) as err:
                reason = f"the gateway refused the refund: {_failure_reason(err)}"
                raise ApplicationError(reason, type="AppeasementRefused", non_retryable=True) from err
            self._record(
                ev.AppeasementGranted(
                    at=workflow.now(),
                    actor=request.actor,
                    refund_id=f"AP-{self._order.order_id}-{n}",
                    amount=request.amount,
                    reason=request.reason,
                    parts=parts,
                )
            )
        await self._flush()
        return AppeasementResult(
            order_id=self._order.order_id, refunded=request.amount, refundable_left=self._refundable_unreserved()
        )

    @grant_appeasement.validator
    def _appeasement_allowed(self, request: AppeasementRequest) -> None:
        refusal = self._appeasement_refusal(request.amount)
        if refusal is not None:
            raise ValueError(refusal)

    # -- the lifecycle ----------------------------------------------------------------------
    @workflow.run
    async def run(self, input: OrderInput) -> OrderOutcome:
        placed = input.order
        self._record(ev.OrderPlaced(at=workflow.now(), actor=f"customer:{placed.customer.id}", order=placed))
        fraud = screen(placed)
        self._record(ev.FraudScreened(at=workflow.now(), score=fraud.score, reasons=fraud.reasons))

        try:
            if await self._authorize() and await self._allocate_at_checkout(
                fraud.score if fraud.needs_review else None
            ):
                await self._decide()
                if self._order.held:
                    await self._await_review()
                await self._fulfil()
                if self._order.status != "canceled":
                    await self._serve_return_window()
                    self._record(ev.OrderCompleted(at=workflow.now()))
        except (ActivityError, ApplicationError) as failure:
            await self._compensate(failure)
        await self._decide()
        await workflow.wait_condition(workflow.all_handlers_finished)  # a waiting checkout gets its answer
        return OrderOutcome(order_id=placed.order_id, status=self._order.status, events=self._order.version)

    async def _compensate(self, failure: Exception) -> None:
        """A step failed for good: give back what the order holds, stop what has not shipped and void what
        is left of the authorization, each once (keyed), logging and going on past a compensation that fails.
        Money already captured stays captured: it paid for goods that left."""
        # updates waiting on the lifecycle (a review, an address change) answer with the outcome below
        self._review_done, self._reroute_requested = True, False
        self._refusal = f"the order could not go on: {_failure_reason(failure)}"
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

    async def _run_compensations(self, compensations: list[tuple[str, Any, type[Any], str]]) -> None:
        """Run each in turn; one that fails for good is put on the timeline for an operator and the rest go on."""
        for name, arg, result_type, summary in compensations:
            try:
                await self._step(name, arg, result_type, summary)
            except (ActivityError, ApplicationError) as err:
                self._step_failed(summary, err)

    def _step_failed(self, step: str, err: Exception) -> None:
        reason = _failure_reason(err)
        workflow.logger.error("Step failed for good; going on", extra={"step": step, "error": reason})
        self._record(ev.StepFailed(at=workflow.now(), step=step, reason=reason))

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
            refusal = _application_error(err)
            if refusal is None or refusal.type not in (act.PAYMENT_DECLINED, act.PAYMENT_REFUSED):
                raise
            self._refusal = refusal.message
            self._record(ev.PaymentDeclined(at=workflow.now(), actor="gateway", reason=self._refusal))
            return False
        self._record(
            ev.PaymentAuthorized(
                at=workflow.now(), actor="gateway", authorization_id=result.transaction_id, amount=result.amount
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

    async def _await_review(self) -> None:
        """An agent approves (the locations get the order) or rejects it; nobody deciding in time rejects it."""
        try:
            await workflow.wait_condition(
                lambda: not self._order.held or self._order.status == "canceled",
                timeout=timedelta(seconds=self._input.review_seconds),
                timeout_summary="fraud review deadline",
            )
        except TimeoutError:
            reason = "no review decision before the deadline"
            self._record(ev.ReviewDecided(at=workflow.now(), actor="system", approved=False, reason=reason))
        if self._order.status == "canceled":
            pass  # canceled while on hold: the cancel released and voided everything
        elif self._approved:
            placed = self._input.order
            open_fos = self._open_fulfillment_orders()
            hand_off = act.HandOffRequest(
                order_id=placed.order_id,
                ship_to=self._ship_to(),
                delivery_method=placed.delivery_method,
                fulfillment_orders=open_fos,
            )
            summary = f"approved: hand {len(open_fos)} fulfillment order(s) to their locations"
            await self._step(act.HAND_OFF_FULFILLMENT, hand_off, int, summary)
        elif self._order.cancelable_lines():
            await self._cancel_by_system(self._order.cancelable_lines(), "rejected in fraud review")
        await self._flush()
        self._review_done = True

    async def _allocate(self, lines: list[SkuQuantity], hold_until: datetime | None = None) -> act.AllocateResult:
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
            ship_to=self._ship_to(),
            delivery_method=placed.delivery_method,
            first_number=len(fos) + 1 + self._numbers_skipped,
            excluded=sorted({fo.location_id for fo in fos if fo.status == "rejected"}),
            hold_until=hold_until,
        )
        summary = f"route and reserve {sum(q.quantity for q in lines)} unit(s), release to locations"
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
        before = _holdings(self._order)
        self._record(ev.ItemsCanceled(at=workflow.now(), actor="system", lines=lines, reason=reason))
        self._cancels += 1
        await self._release_canceled(before, f"cancel:{self._cancels}")

    async def _release_canceled(self, before: dict[str, tuple[str, Counter[str]]], step: str) -> None:
        """Give back the reservations the cancel took off fulfillment orders, stop emptied ones, void if all gone."""
        after = _holdings(self._order)
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
            if self._order.fulfillment_order(fo_id).status == "canceled":
                steps.append((act.CANCEL_FULFILLMENT, fo_id, bool, f"stop {fo_id} at {location_id}"))
            await self._run_compensations(steps)
        if self._nothing_left_to_capture():
            try:
                await self._void_authorization()
            except (ActivityError, ApplicationError) as err:
                self._step_failed("void what the cancel left authorized", err)

    async def _void_authorization(self) -> None:
        """Void what is left of each authorization, once, whoever asks first (a cancel or the last shipment)."""
        async with self._void_lock:
            for auth_id in self._order.payment.open_authorizations():
                n = 1 if auth_id == self._order.payment.authorization_id else auth_id
                request = act.VoidRequest(idempotency_key=self._key("void", n), authorization_id=auth_id)
                result = await self._step(act.VOID_AUTHORIZATION, request, act.PaymentResult, f"void {auth_id}")
                self._record(
                    ev.AuthorizationVoided(
                        at=workflow.now(), actor="gateway", authorization_id=auth_id, amount=result.amount
                    )
                )

    # -- fulfilment: shipments, pickups, rejections, backorders ------------------------------
    async def _fulfil(self) -> None:
        while not self._fulfilled():
            # on timeout a backorder limit or a pickup deadline has come: _work handles it
            with contextlib.suppress(TimeoutError):
                await workflow.wait_condition(
                    lambda: self._work_pending() or bool(self._unprojected) or bool(self._received_returns()),
                    timeout=self._next_deadline(),
                    timeout_summary="backorder limit or pickup deadline",
                )
            await self._work()
            for rma_id in self._received_returns():  # a unit delivered early came back before the rest shipped
                await self._settle_return(rma_id)
            await self._flush()

    def _fulfilled(self) -> bool:
        """Every unit delivered, picked up or canceled, and every shipment captured."""
        return (
            all(fo.status == "delivered" or fo.status in CLOSED_FULFILLMENT for fo in self._order.fulfillment_orders)
            and not self._order.unallocated_lines()
            and not self._awaiting_capture()
        )

    def _work_pending(self) -> bool:
        return self._fulfilled() or self._fulfilment_work_pending()

    def _fulfilment_work_pending(self) -> bool:
        """Something for `_work`: also after delivery, for a reship or an exchange's replacement."""
        now = workflow.now()
        return (
            bool(self._awaiting_capture())
            or bool(self._unreleased_rejections())
            or bool(self._expired_pickups(now))
            or self._reroute_requested
            or (bool(self._order.unallocated_lines()) and self._may_allocate(now))
        )

    def _may_allocate(self, now: datetime) -> bool:
        until = self._order.backordered_until
        return until is None or self._stock_arrived or now >= until

    def _next_deadline(self) -> timedelta | None:
        deadlines = [
            self._collect_by[fo.id] for fo in self._order.fulfillment_orders if fo.status == "ready_for_pickup"
        ]
        if self._order.backordered_until is not None:
            deadlines.append(self._order.backordered_until)
        if not deadlines:
            return None
        return max(min(deadlines) - workflow.now(), timedelta(seconds=1))

    async def _work(self) -> None:
        for fo in self._awaiting_capture():
            await self._capture(fo)
        rerouting = False
        for fo in self._unreleased_rejections():
            self._released_rejections.add(fo.id)
            await self._release_fulfillment_order(fo, "rejected", f"release {fo.id}, rejected at {fo.location_id}")
            if fo.reship or fo.exchange_id is not None:
                await self._send_again(fo)
            else:
                rerouting = True
        now = workflow.now()
        for fo in self._expired_pickups(now):
            await self._cancel_by_system(
                fo.lines, f"not collected at {fo.location_id} by {self._collect_by[fo.id]:%Y-%m-%d}"
            )
        # rejected units are routed again at once, even while others of the order wait for stock
        if self._order.unallocated_lines() and (rerouting or self._reroute_requested or self._may_allocate(now)):
            await self._route_unallocated(now)
        self._reroute_requested = False
        if self._nothing_left_to_capture():
            await self._void_authorization()  # what canceled lines left authorized is released

    async def _send_again(self, fo: FulfillmentOrderState) -> None:
        """A reship or an exchange's replacement the location rejected goes out again from elsewhere, still at
        no charge or still paid by its return; what nobody can send is canceled (an exchange's) or left to an agent."""
        async with self._allocation_lock:
            allocation = await self._allocate(fo.lines)
            reason = f"sent again: {fo.id} was rejected at {fo.location_id}"
            reship = ReshipRequest(lines=fo.lines, reason=reason, actor="system") if fo.reship else None
            self._place(allocation, reship=reship, exchange_id=fo.exchange_id)
            if not allocation.unfilled:
                return
            what = ", ".join(f"{q.quantity} x {q.sku}" for q in allocation.unfilled)
            if fo.reship:
                self._record(
                    ev.StepFailed(at=workflow.now(), step=f"send {what} again", reason=f"{reason}; no location can")
                )
            else:
                await self._cancel_by_system(allocation.unfilled, f"no location can send {what} again")

    async def _route_unallocated(self, now: datetime) -> None:
        """Route what no fulfillment order holds, or cancel it once the backorder limit has come."""
        async with self._allocation_lock:
            unallocated = self._order.unallocated_lines()  # a cancel may have taken them while we waited
            if not unallocated:
                return
            until = self._order.backordered_until
            if until is not None and now >= until:
                await self._cancel_by_system(unallocated, "backorder limit reached without stock")
                return
            self._stock_arrived = False
            allocation = await self._allocate(unallocated)
            self._place(allocation)
            await self._handle_unfilled(allocation.unfilled)

    def _nothing_left_to_capture(self) -> bool:
        """No unit left to ship or route, and every shipment captured: what is still authorized can go."""
        return (
            not any(fo.open for fo in self._order.fulfillment_orders)
            and not self._order.unallocated_lines()
            and not self._awaiting_capture()
        )

    async def _capture(self, fo: FulfillmentOrderState) -> None:
        amount, auth_id = self._order.charge_for(fo)
        if amount <= 0:  # a reship, or a replacement the return pays for: stock leaves, a zero invoice closes it
            ship = act.ShipRequest(
                order_id=self._order.order_id, location_id=fo.location_id, fulfillment_order_id=fo.id
            )
            why = "reship" if fo.reship else f"exchange {fo.exchange_id}, paid by its return"
            await self._step(act.SHIP_RESHIP, ship, int, f"ship {fo.id} ({why}, no charge)")
            self._record(
                ev.InvoiceIssued(
                    at=workflow.now(), invoice_id=f"INV-{fo.id}", fulfillment_order_id=fo.id, amount=Decimal(0)
                )
            )
            return
        assert auth_id is not None, "an accepted order is authorized"
        capture = act.CaptureRequest(
            idempotency_key=self._key("capture", fo.id), authorization_id=auth_id, amount=amount
        )
        request = act.SettleRequest(
            order_id=self._order.order_id, location_id=fo.location_id, capture=capture, fulfillment_order_id=fo.id
        )
        summary = f"ship {fo.id} from {fo.location_id}, capture {self._order.currency} {amount}"
        result = await self._step(act.SETTLE_SHIPMENT, request, act.PaymentResult, summary)
        now = workflow.now()
        self._record(
            ev.PaymentCaptured(
                at=now,
                actor="gateway",
                transaction_id=result.transaction_id,
                fulfillment_order_id=fo.id,
                amount=amount,
                authorization_id=auth_id,
            )
        )
        self._record(ev.InvoiceIssued(at=now, invoice_id=f"INV-{fo.id}", fulfillment_order_id=fo.id, amount=amount))

    def _awaiting_capture(self) -> list[FulfillmentOrderState]:
        return [
            fo
            for fo in self._order.fulfillment_orders
            if fo.status in ("shipped", "delivered") and fo.invoice_id is None
        ]

    def _unreleased_rejections(self) -> list[FulfillmentOrderState]:
        return [
            fo
            for fo in self._order.fulfillment_orders
            if fo.status == "rejected" and fo.id not in self._released_rejections
        ]

    def _expired_pickups(self, now: datetime) -> list[FulfillmentOrderState]:
        return [
            fo
            for fo in self._order.fulfillment_orders
            if fo.status == "ready_for_pickup" and now >= self._collect_by[fo.id]
        ]

    # -- after delivery: returns and refunds --------------------------------------------------
    async def _serve_return_window(self) -> None:
        """Returns may be asked for until the window closes; those on their way are awaited as long again."""
        window = timedelta(seconds=self._input.return_window_seconds)
        self._window_closes = workflow.now() + window
        await self._settle_returns_until(self._window_closes, lambda: False)
        if not self._service_settled():
            grace = workflow.now() + window
            await self._settle_returns_until(grace, self._service_settled)

    def _service_settled(self) -> bool:
        """No return waiting for its refund and no reship or replacement still on its way."""
        return (
            all(r.status in ("refunded", "refund_failed") for r in self._order.returns)
            and not any(fo.open or fo.status == "shipped" for fo in self._order.fulfillment_orders)
            and not self._order.unallocated_lines()
        )

    async def _settle_returns_until(self, deadline: datetime, done: Callable[[], bool]) -> None:
        while not done():
            left = deadline - workflow.now()
            if left <= timedelta(0):
                return
            try:
                await workflow.wait_condition(
                    lambda: (
                        bool(self._received_returns())
                        or self._fulfilment_work_pending()
                        or bool(self._unprojected)
                        or done()
                    ),
                    timeout=left,
                    timeout_summary="return window",
                )
            except TimeoutError:
                return
            if self._fulfilment_work_pending():  # a reship or a replacement shipped, or was rejected
                await self._work()
            for rma_id in self._received_returns():
                await self._settle_return(rma_id)
            await self._flush()

    def _received_returns(self) -> list[str]:
        return [r.id for r in self._order.returns if r.status == "received"]

    async def _settle_return(self, return_id: str) -> None:
        """Resellable units back to stock, then the refund of every received unit (damaged ones too: the
        customer is not charged for a carrier's damage), capped at what the return was promised."""
        rma = self._order.return_(return_id)
        resellable = Counter[str]()
        for unit in rma.received:
            if unit.condition == "resellable":
                resellable[unit.sku] += unit.quantity
        if resellable:
            restock = act.RestockRequest(
                return_id=rma.id,
                location_id=rma.location_id,
                lines=[SkuQuantity(sku=sku, quantity=n) for sku, n in sorted(resellable.items())],
            )
            summary = f"restock {sum(resellable.values())} unit(s) at {rma.location_id}"
            try:
                await self._step(act.RESTOCK_RETURN, restock, int, summary)
            except (ActivityError, ApplicationError) as err:  # the customer is refunded all the same
                self._step_failed(f"{summary} for {rma.rma}", err)
        received = [SkuQuantity(sku=u.sku, quantity=u.quantity) for u in rma.received]
        async with self._money_lock:
            amount = min(self._order.amount_of(received), rma.refund_amount, self._order.refundable)
            parts = self._order.refund_parts(amount, {q.sku for q in received}) if amount > 0 else []
            if parts:
                try:
                    await self._refund(
                        parts, f"refund:{rma.id}", f"refund {self._order.currency} {amount} for {rma.rma}"
                    )
                except (ActivityError, ApplicationError) as err:
                    reason = _failure_reason(err)
                    self._record(
                        ev.RefundFailed(
                            at=workflow.now(), actor="gateway", return_id=rma.id, amount=amount, reason=reason
                        )
                    )
                    return
            self._record(
                ev.RefundIssued(
                    at=workflow.now(),
                    actor="gateway",
                    refund_id=f"RF-{rma.id}",
                    return_id=rma.id,
                    amount=amount,
                    parts=parts,
                )
            )

    async def _refund(self, parts: list[ev.RefundPart], step: str, summary: str) -> None:
        request = act.RefundRequest(idempotency_key=self._key(step, 1), parts=parts)
        await self._step(act.REFUND_PAYMENT, request, list[act.PaymentResult], summary)

    def _refundable_unreserved(self) -> Decimal:
        """Captured money not refunded nor owed to a return already asked for."""
        owed = sum((r.refund_amount for r in self._order.returns if r.status != "refunded"), Decimal(0))
        return max(self._order.refundable - owed, Decimal(0))

    def _appeasement_refusal(self, amount: Decimal) -> str | None:
        if self._order.payment.captured <= 0:
            return "nothing has been captured on this order yet: cancel lines instead"
        refusal = self._order.appeasement_refusal(amount)
        if refusal is not None:
            return refusal
        left = self._refundable_unreserved()
        if amount > left:
            return f"{amount} is above the {left} {self._order.currency} left to refund (open returns included)"
        return None

    def _origin_of(self, lines: list[SkuQuantity]) -> str:
        """Mail returns go back to the location that shipped the first returned sku."""
        skus = {q.sku for q in lines}
        for fo in self._order.fulfillment_orders:
            if fo.status == "delivered" and any(q.sku in skus for q in fo.lines):
                return fo.location_id
        return self._order.fulfillment_orders[0].location_id

    # -- helpers ----------------------------------------------------------------------------
    def _record(self, event: ev.OrderEvent) -> None:
        self._order.apply(event)
        self._unprojected.append(ev.RecordedEvent(seq=self._order.version, event=event))

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
        await self._step(act.RELEASE_INVENTORY, release, int, summary)

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
        await self._step(
            act.PROJECT_ORDER,
            ProjectionBatch(workflow_id=workflow.info().workflow_id, order=self._order, events=batch),
            type(None),
        )
        if self._order.status != self._projected_status:
            self._projected_status = self._order.status
            workflow.upsert_search_attributes([sa.ORDER_STATUS.value_set(self._order.status)])


def _holdings(order: Order) -> dict[str, tuple[str, Counter[str]]]:
    """What each open fulfillment order still holds, by sku."""
    held: dict[str, tuple[str, Counter[str]]] = {}
    for fo in order.fulfillment_orders:
        if fo.open:
            held[fo.id] = (fo.location_id, Counter({q.sku: q.quantity for q in fo.lines}))
    return held


def _failure_reason(err: Exception) -> str:
    """What a person reads of a step's failure: the partner's own message when it gave one."""
    cause = _application_error(err)
    return cause.message if cause else str(err)


def _application_error(err: Exception) -> ApplicationError | None:
    """The partner's own error: local activities raise it as is, regular ones wrap it in ActivityError."""
    if isinstance(err, ActivityError):
        return err.cause if isinstance(err.cause, ApplicationError) else None
    return err if isinstance(err, ApplicationError) else None
