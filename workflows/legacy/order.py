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

from collections import Counter
from datetime import timedelta

from temporalio import workflow
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from activities import contracts as act
    from domain import events as ev
    from domain.fraud import screen
    from domain.ids import customer_actor, untracked_parcel
    from domain.models import SkuQuantity
    from domain.order import Order
    from workflows.legacy.order_checkout import CheckoutAndEnd
    from workflows.legacy.order_core import (
        AMEND_PATCH,
        failure_reason,
        holdings,
    )
    from workflows.messages import (
        ADDRESS_UPDATE,
        CANCEL_UPDATE,
        CARRIER_SIGNAL,
        CHECKOUT_UPDATE,
        LEGACY_ORDER_WORKFLOW,
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
        RetryRequest,
        RetryResult,
        ReviewDecision,
        StockReceived,
        WarehouseEvent,
    )


@workflow.defn(name=LEGACY_ORDER_WORKFLOW)
class LegacyOrderWorkflow(CheckoutAndEnd):
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
                    tracking_number=event.tracking_number or untracked_parcel(fo.id),
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
        self._record(ev.OrderPlaced(at=workflow.now(), actor=customer_actor(placed.customer.id), order=placed))
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
