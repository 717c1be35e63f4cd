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

The class is built in three layers: `order_core` (state, steps, recording, what every part shares),
`order_returns` (returns, exchanges, appeasements), and this module (checkout, partner events,
cancel, review, address change, reship, fulfilment and the service window).
"""

import contextlib
from collections import Counter
from collections.abc import Callable
from datetime import datetime, timedelta
from decimal import Decimal

from temporalio import workflow
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from activities import contracts as act
    from domain import events as ev
    from domain.fraud import screen
    from domain.models import SkuQuantity
    from domain.order import CLOSED_FULFILLMENT, FulfillmentOrderState, Order
    from workflows.messages import (
        ADDRESS_UPDATE,
        CANCEL_UPDATE,
        CARRIER_SIGNAL,
        CHECKOUT_UPDATE,
        ORDER_WORKFLOW,
        RESHIP_UPDATE,
        RETRY_UPDATE,
        REVIEW_UPDATE,
        STOCK_RECEIVED_SIGNAL,
        SUMMARY_QUERY,
        WAREHOUSE_SIGNAL,
        ActionResult,
        AddressChange,
        CancelRequest,
        CancelResult,
        CarrierEvent,
        CheckoutResult,
        OrderInput,
        OrderOutcome,
        ReshipRequest,
        ResumeState,
        RetryRequest,
        RetryResult,
        ReviewDecision,
        StockReceived,
        WarehouseEvent,
    )
    from workflows.order_core import (
        AMEND_PATCH,
        AUTHORIZATION_RENEWAL_MARGIN,
        application_error,
        failure_reason,
        holdings,
    )
    from workflows.order_returns import ReturnsAndExchanges


@workflow.defn(name=ORDER_WORKFLOW)
class OrderWorkflow(ReturnsAndExchanges):
    @workflow.init
    def __init__(self, input: OrderInput) -> None:
        super().__init__(input)

    @workflow.update(name=CHECKOUT_UPDATE)
    async def checkout(self) -> CheckoutResult:
        """Answers the storefront once the order is accepted or refused; repeated checkouts get the same answer."""
        await workflow.wait_condition(lambda: self._checkout is not None)
        assert self._checkout is not None
        return self._checkout

    @workflow.query(name=SUMMARY_QUERY)
    def summary(self) -> Order:
        return self._order

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

    @workflow.update(name=CANCEL_UPDATE)
    async def cancel(self, request: CancelRequest) -> CancelResult:
        async with self._allocation_lock:
            refusal = self._order.cancel_refusal(request.lines)
            if refusal is not None:  # what the validator saw changed while an allocation finished
                raise ApplicationError(refusal, type="CancelRefused", non_retryable=True)
            lines = request.lines or self._order.cancelable_lines()
            self._cancels += 1
            step = f"cancel:{self._cancels}"
            refused: list[SkuQuantity] = []
            too_late: str | None = None
            agreed = workflow.patched(AMEND_PATCH)
            if agreed:
                lines, refused, too_late = await self._take_back_at_locations(lines, step)
                if not lines:
                    raise ApplicationError(too_late or "nothing to cancel", type="CancelRefused", non_retryable=True)
            before = holdings(self._order)
            self._record(ev.ItemsCanceled(at=workflow.now(), actor=request.actor, lines=lines, reason=request.reason))
            await self._release_canceled(before, step, stopped_already=agreed)
        await self._flush()
        return CancelResult(
            order_id=self._order.order_id, status=self._order.status, canceled=lines, refused=refused, refusal=too_late
        )

    async def _take_back_at_locations(
        self, lines: list[SkuQuantity], step: str
    ) -> tuple[list[SkuQuantity], list[SkuQuantity], str | None]:
        """Before a cancel is recorded, each location that holds the units amends its fulfillment order (or
        stops an emptied one). Units a location says it is too late for (picked or shipped) are not canceled:
        the answer is what can be canceled, what cannot, and why."""
        trial = self._order.model_copy(deep=True)
        trial.apply(ev.ItemsCanceled(at=workflow.now(), lines=lines, reason="trial"))
        before, after = holdings(self._order), holdings(trial)
        refused = Counter[str]()
        reasons: list[str] = []
        for fo_id, (location_id, held) in sorted(before.items()):
            kept = after.get(fo_id, (location_id, Counter[str]()))[1]
            freed = [SkuQuantity(sku=sku, quantity=n - kept[sku]) for sku, n in sorted(held.items()) if n > kept[sku]]
            if not freed:
                continue
            try:
                if fo_id not in after:
                    summary = f"stop {fo_id} at {location_id}"
                    done = await self._step(act.CANCEL_FULFILLMENT, fo_id, bool, summary)
                else:
                    key = self._key(f"{step}:amend", fo_id)
                    amend = act.AmendRequest(fulfillment_order_id=fo_id, remove=freed, key=key)
                    summary = f"take {sum(q.quantity for q in freed)} unit(s) off {fo_id} at {location_id}"
                    done = await self._step(act.AMEND_FULFILLMENT, amend, bool, summary)
                why = (
                    f"too late at {location_id}: it has already picked or shipped {fo_id} (use a return once delivered)"
                )
            except (ActivityError, ApplicationError) as err:  # the customer may try again; nothing is half-done
                done, why = False, f"{location_id} could not be asked to take back {fo_id} now: {failure_reason(err)}"
            if not done:
                refused.update({q.sku: q.quantity for q in freed})
                reasons.append(why)
        if not refused:
            return lines, [], None
        left = Counter({q.sku: q.quantity for q in lines})
        left.subtract(refused)
        cancelable = [SkuQuantity(sku=sku, quantity=n) for sku, n in sorted(left.items()) if n > 0]
        why = "; ".join(reasons)
        taken = [SkuQuantity(sku=sku, quantity=n) for sku, n in sorted(refused.items())]
        return cancelable, taken, why

    @cancel.validator
    def _cancel_allowed(self, request: CancelRequest) -> None:
        """Refuses at once, with a reason, and the refused cancel never enters the history."""
        refusal = self._order.cancel_refusal(request.lines)
        if refusal is not None:
            raise ValueError(refusal)

    @workflow.update(name=RETRY_UPDATE)
    async def retry(self, request: RetryRequest) -> RetryResult:
        """An operator fixed the cause: run again what failed for good, ask silent partners again."""
        blocked = sorted(self._blocked_on)
        failed, self._failed_steps = self._failed_steps, []
        flagged = [d for d in self._deadlines.values() if d.flagged]
        self._record(ev.AttentionCleared(at=workflow.now(), actor=request.actor, reason=request.reason))
        for deadline in flagged:  # asked again at once, and flagged again if still silent after a deadline
            deadline.flagged, deadline.asked, deadline.due = False, False, workflow.now()
        self._retries_asked += 1
        asked = self._retries_asked
        for step in failed:
            try:
                await step.run()
            except (ActivityError, ApplicationError) as err:
                self._step_failed(step.summary, err, step.run)
        if blocked:
            await workflow.wait_condition(lambda: self._retries_answered >= asked)
        await self._flush()
        attention = self._order.attention
        return RetryResult(
            order_id=self._order.order_id,
            status=self._order.status,
            retried=[
                *blocked,
                *(s.summary for s in failed),
                *(f"{d.waiting_for} of {d.fulfillment_order_id}" for d in flagged),
            ],
            attention=attention.reason if attention else None,
        )

    @retry.validator
    def _retry_allowed(self, request: RetryRequest) -> None:
        if self._order.attention is None and not self._failed_steps and not self._blocked_on:
            raise ValueError("nothing to retry: the order needs no attention")

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
            if self._reliable:
                self._screen_again(change)
        await workflow.wait_condition(lambda: not self._reroute_requested)
        await self._flush()
        return self._action_result()

    def _screen_again(self, change: AddressChange) -> None:
        """A new address is screened as the checkout's was; scoring for review, what is routed again is held
        for an agent instead of going to a location."""
        fraud = screen(self._input.order, self._input.fraud_rules, ship_to=change.address)
        self._record(ev.FraudScreened(at=workflow.now(), actor=change.actor, score=fraud.score, reasons=fraud.reasons))
        self._hold_rerouted = fraud.score if fraud.needs_review and self._reroute_requested else None

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

    @workflow.run
    async def run(self, input: OrderInput) -> OrderOutcome:
        """Capture (authorize, allocate, answer the checkout), fulfilment, delivery, then the service window."""
        if input.resume is not None:
            self._resume(input.resume)
            await self._carry_on(input.resume.phase)
            return await self._end()
        self._reliable = input.process_version >= 2
        placed = input.order
        self._record(ev.OrderPlaced(at=workflow.now(), actor=f"customer:{placed.customer.id}", order=placed))
        fraud = screen(placed, input.fraud_rules)
        self._record(ev.FraudScreened(at=workflow.now(), score=fraud.score, reasons=fraud.reasons))

        try:
            if await self._authorize() and await self._allocate_at_checkout(
                fraud.score if fraud.needs_review else None
            ):
                await self._decide()
                if self._order.held:
                    await self._await_review()
                await self._carry_on("fulfilment")
        except (ActivityError, ApplicationError) as failure:
            await self._compensate(failure)
        return await self._end()

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
    async def _continue_as_new_if_long(self, phase: str) -> None:
        """Before Temporal's limits, the run hands the order and every pending wait to a fresh one, once every
        handler has finished; a signal arriving meanwhile makes the server refuse the hand-over until the
        run has seen it, so none is lost."""
        if not self._history_long():
            return
        if self._failed_steps or self._blocked_on:
            return  # an operator's retry runs in this run
        await workflow.wait_condition(workflow.all_handlers_finished)
        workflow.continue_as_new(self._input.model_copy(update={"resume": self._resume_state(phase)}))

    def _history_long(self) -> bool:
        info = workflow.info()
        long = info.get_current_history_length() >= self._input.max_history_events
        return self._reliable and (long or info.is_continue_as_new_suggested())

    def _resume_state(self, phase: str) -> ResumeState:
        assert self._checkout is not None, "only an accepted order runs on"
        return ResumeState.model_validate(
            {
                "order": self._order,
                "checkout": self._checkout,
                "phase": phase,
                "window_closes": self._window_closes,
                "grace_ends": self._grace_ends,
                "collect_by": self._collect_by,
                "early_deliveries": sorted(self._early_deliveries),
                "released_rejections": sorted(self._released_rejections),
                "stock_arrived": self._stock_arrived,
                "deadlines": self._deadlines,
                "projected_status": self._projected_status,
                "projected_attention": self._projected_attention,
                "unprojected": self._unprojected,
                "approved": self._approved,
                "counters": {
                    "cancels": self._cancels,
                    "appeasements": self._appeasements,
                    "numbers_skipped": self._numbers_skipped,
                    "exchanges_tried": self._exchanges_tried,
                },
            }
        )

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
            if self._reliable:
                await self._must(act.HAND_OFF_FULFILLMENT, hand_off, int, summary)
                for fo in self._order.fulfillment_orders:  # the locations have them from now on
                    if fo.status == "released":
                        self._deadline(fo.id, "shipment", workflow.now())
            else:
                await self._step(act.HAND_OFF_FULFILLMENT, hand_off, int, summary)
        elif self._order.cancelable_lines():
            await self._cancel_by_system(self._order.cancelable_lines(), "rejected in fraud review")
        await self._flush()
        self._review_done = True

    async def _fulfil(self) -> None:
        while not self._fulfilled():
            await self._continue_as_new_if_long("fulfilment")
            self._arm_partner_alarm()
            # on timeout a backorder limit or a pickup deadline has come (a partner's rings its alarm): _work acts
            with contextlib.suppress(TimeoutError):
                await workflow.wait_condition(
                    lambda: (
                        self._work_pending()
                        or bool(self._unprojected)
                        or bool(self._received_returns())
                        or self._history_long()
                        or self._alarm_rang
                    ),
                    timeout=self._next_deadline(),
                    timeout_summary="backorder limit or pickup deadline",
                )
            await self._work()
            await self._flush()
            if self._order.held:  # the new address scored for review: no location has the order until then
                await self._await_review()

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
            or bool(self._due_deadlines())
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
            await self._void_authorization(must=True)  # what canceled lines left authorized is released
        for rma_id in self._received_returns():  # also a unit delivered early, back before the rest shipped
            await self._settle_return(rma_id)
        await self._chase_partners()

    async def _send_again(self, fo: FulfillmentOrderState) -> None:
        """A reship or an exchange's replacement the location rejected goes out again from elsewhere, still at
        no charge or still paid by its return; what nobody can send is canceled (an exchange's) or left to an agent."""
        async with self._allocation_lock:
            allocation = await self._allocate(fo.lines, must=True)
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
            score, self._hold_rerouted = self._hold_rerouted, None
            hold_until = now + timedelta(seconds=self._input.review_seconds) if score is not None else None
            allocation = await self._allocate(unallocated, hold_until, must=True)
            self._place(allocation)
            if hold_until is not None and score is not None and allocation.fulfillment_orders:
                self._review_done = False
                self._record(ev.OrderHeld(at=now, actor="fraud-screen", score=score, until=hold_until))
            await self._handle_unfilled(allocation.unfilled)

    async def _capture(self, fo: FulfillmentOrderState) -> None:
        amount, auth_id = self._order.charge_for(fo)
        if amount <= 0:  # a reship, or a replacement the return pays for: stock leaves, a zero invoice closes it
            ship = act.ShipRequest(
                order_id=self._order.order_id, location_id=fo.location_id, fulfillment_order_id=fo.id
            )
            why = "reship" if fo.reship else f"exchange {fo.exchange_id}, paid by its return"
            await self._must(act.SHIP_RESHIP, ship, int, f"ship {fo.id} ({why}, no charge)")
            self._record(
                ev.InvoiceIssued(
                    at=workflow.now(), invoice_id=f"INV-{fo.id}", fulfillment_order_id=fo.id, amount=Decimal(0)
                )
            )
            return
        assert auth_id is not None, "an accepted order is authorized"
        if self._reliable:
            auth_id = await self._renewed_if_expiring(auth_id)
        capture = act.CaptureRequest(
            idempotency_key=self._key("capture", fo.id), authorization_id=auth_id, amount=amount
        )
        request = act.SettleRequest(
            order_id=self._order.order_id, location_id=fo.location_id, capture=capture, fulfillment_order_id=fo.id
        )
        summary = f"ship {fo.id} from {fo.location_id}, capture {self._order.currency} {amount}"
        result = await self._must(act.SETTLE_SHIPMENT, request, act.PaymentResult, summary)
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

    async def _renewed_if_expiring(self, auth_id: str) -> str:
        """An authorization that would lapse before this capture is authorized again for what it still holds,
        and the old one voided, each keyed, before anything is captured on it."""
        held = self._order.payment.authorizations[auth_id]
        if held.expires_at is None or workflow.now() < held.expires_at - AUTHORIZATION_RENEWAL_MARGIN:
            return auth_id
        placed = self._input.order
        request = act.AuthorizeRequest(
            idempotency_key=self._key("authorize", f"renew:{auth_id}"),
            order_id=placed.order_id,
            token=placed.payment.token,
            amount=held.capturable,
            currency=placed.currency,
        )
        summary = f"renew {auth_id}, expiring {held.expires_at:%Y-%m-%d}: authorize {placed.currency} {held.capturable}"
        renewed = await self._must(act.AUTHORIZE_PAYMENT, request, act.PaymentResult, summary)
        void = act.VoidRequest(idempotency_key=self._key("void", f"renewed:{auth_id}"), authorization_id=auth_id)
        await self._try(
            act.VOID_AUTHORIZATION, void, act.PaymentResult, f"void {auth_id}, renewed as {renewed.transaction_id}"
        )
        self._record(
            ev.AuthorizationRenewed(
                at=workflow.now(),
                actor="gateway",
                expiring_id=auth_id,
                authorization_id=renewed.transaction_id,
                amount=held.capturable,
                expires_at=renewed.expires_at,
            )
        )
        return renewed.transaction_id

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

    async def _serve_return_window(self, phase: str = "fulfilment") -> None:
        """Returns may be asked for until the window closes; those on their way are awaited as long again."""
        window = timedelta(seconds=self._input.return_window_seconds)
        if phase != "grace":
            if self._window_closes is None:
                self._window_closes = workflow.now() + window
            await self._settle_returns_until(self._window_closes, lambda: False, "window")
        if not self._service_settled():
            if self._grace_ends is None:
                self._grace_ends = workflow.now() + window
            await self._settle_returns_until(self._grace_ends, self._service_settled, "grace")

    def _service_settled(self) -> bool:
        """No return waiting for its refund and no reship or replacement still on its way."""
        return (
            all(r.status in ("refunded", "refund_failed") for r in self._order.returns)
            and not any(fo.open or fo.status == "shipped" for fo in self._order.fulfillment_orders)
            and not self._order.unallocated_lines()
        )

    async def _settle_returns_until(self, deadline: datetime, done: Callable[[], bool], phase: str) -> None:
        while not done():
            left = deadline - workflow.now()
            if left <= timedelta(0):
                return
            if self._reliable:
                await self._continue_as_new_if_long(phase)
                self._arm_partner_alarm()
                await self._serve_until(min(left, self._next_deadline() or left), done)
                continue
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
            await self._work()  # a return arrived, or a reship or a replacement shipped or was rejected
            await self._flush()

    async def _serve_until(self, wait: timedelta, done: Callable[[], bool]) -> None:
        """One turn of the service window: wake for work, a partner's deadline or the window's end."""
        with contextlib.suppress(TimeoutError):
            await workflow.wait_condition(
                lambda: (
                    bool(self._received_returns())
                    or self._fulfilment_work_pending()
                    or bool(self._unprojected)
                    or done()
                    or self._history_long()
                    or self._alarm_rang
                ),
                timeout=wait,
                timeout_summary="return window or a partner's deadline",
            )
        await self._work()
        await self._flush()
