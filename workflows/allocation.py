"""Routing and reserving units and handing them to locations: at checkout, again after a rejection or an
address change, for a reship or an exchange's replacement, and when backordered stock arrives."""

import asyncio
from collections.abc import Callable
from datetime import datetime, timedelta

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from activities import contracts as act
    from activities.allocation import AllocationActivities
    from domain import events as ev
    from domain.fraud import screen
    from domain.models import SkuQuantity
    from domain.order import FulfillmentOrderState
    from workflows.approval import AccountApproval
    from workflows.cancellation import Cancellation
    from workflows.messages import AddressChange, OrderInput, ReshipRequest
    from workflows.order_facts import destination
    from workflows.payments import step_key
    from workflows.recording import OrderRecord
    from workflows.steps import Steps


class Allocation:
    def __init__(self, input: OrderInput, record: OrderRecord, steps: Steps, cancellation: Cancellation) -> None:
        self._input = input
        self._record = record
        self._steps = steps
        self._cancellation = cancellation
        # a cancel waits for an allocation in flight: it would otherwise cancel the units being reserved
        self.lock = asyncio.Lock()
        self.numbers_skipped = 0  # fulfillment order numbers of exchanges undone: never given out again
        self.stock_arrived = False
        self.hold_rerouted: int | None = None  # the score of a new address that asks for a review first

    async def reserve(
        self, lines: list[SkuQuantity], hold_until: datetime | None = None, *, must: bool = False
    ) -> act.AllocateResult:
        """Route, reserve and (unless held) hand over in one step; what no location can fill comes back unfilled."""
        placed = self._input.order
        order = self._record.order
        address = destination(order)
        request = act.AllocateRequest(
            order_id=placed.order_id,
            channel=placed.channel,
            lines=lines,
            latitude=address.latitude,
            longitude=address.longitude,
            pickup_location_id=placed.pickup_location_id if placed.delivery_method == "pickup" else None,
            ship_to=address.model_dump(mode="json"),
            delivery_method=placed.delivery_method,
            first_number=len(order.fulfillment_orders) + 1 + self.numbers_skipped,
            excluded=sorted({fo.location_id for fo in order.fulfillment_orders if fo.status == "rejected"}),
            hold_until=hold_until,
            requested_delivery_date=placed.requested_delivery_date,
        )
        summary = f"route and reserve {sum(q.quantity for q in lines)} unit(s), release to locations"
        if must:
            return await self._steps.must(AllocationActivities.allocate, request, summary)
        return await self._steps.run(AllocationActivities.allocate, request, summary)

    def place(
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

    async def at_checkout(self, review_score: int | None, approval: AccountApproval) -> act.AllocateResult:
        """Route and reserve the order; one that needs review, or its account's approval, holds its stock until
        the last deadline and is handed to no location before it is approved. Nothing placed when no location can
        fill any."""
        lines = [SkuQuantity(sku=ln.sku, quantity=ln.quantity) for ln in self._input.order.lines]
        now = workflow.now()
        review_until = now + timedelta(seconds=self._input.review_seconds) if review_score is not None else None
        deadlines = [d for d in (review_until, approval.hold_until(now)) if d is not None]
        allocation = await self.reserve(lines, max(deadlines) if deadlines else None)
        if not allocation.fulfillment_orders:
            return allocation
        self.place(allocation)
        if review_score is not None and review_until is not None:
            self._record(ev.OrderHeld(at=now, actor="fraud-screen", score=review_score, until=review_until))
        if approval.wanted:
            approval.request(now)
        await self._backorder_or_cancel(allocation.unfilled)
        return allocation

    async def _backorder_or_cancel(self, unfilled: list[SkuQuantity]) -> None:
        """The channel's policy: wait for stock up to a limit, or cancel the units at once."""
        if not unfilled:
            return
        wait = self._input.backorder_seconds
        if wait is None:
            reason = "no location can fill these units and the channel does not backorder"
            await self._cancellation.by_system(unfilled, reason)
        elif self._record.order.backordered_until is None:
            until = workflow.now() + timedelta(seconds=wait)
            self._record(ev.LinesBackordered(at=workflow.now(), lines=unfilled, until=until))

    def may_route(self, now: datetime) -> bool:
        """Units no fulfillment order holds, and stock has come in or the backorder limit has (to cancel them)."""
        until = self._record.order.backordered_until
        waiting = until is not None and not self.stock_arrived and now < until
        return bool(self._record.order.unallocated_lines()) and not waiting

    async def route_unallocated(self) -> None:
        """Route what no fulfillment order holds, or cancel it once the backorder limit has come."""
        async with self.lock:
            if self.may_route(workflow.now()):  # another may have routed it while this waited for the lock
                await self.route_unallocated_locked()

    async def route_unallocated_locked(self) -> None:
        """Route now, even while other units wait for stock (after a rejection or an address change)."""
        order = self._record.order
        unallocated = order.unallocated_lines()  # a cancel may have taken them while we waited
        if not unallocated:
            return
        now = workflow.now()
        until = order.backordered_until
        if until is not None and now >= until:
            await self._cancellation.by_system(unallocated, "backorder limit reached without stock")
            return
        self.stock_arrived = False
        score, self.hold_rerouted = self.hold_rerouted, None
        hold_until = now + timedelta(seconds=self._input.review_seconds) if score is not None else None
        allocation = await self.reserve(unallocated, hold_until, must=True)
        self.place(allocation)
        if hold_until is not None and score is not None and allocation.fulfillment_orders:
            self._record(ev.OrderHeld(at=now, actor="fraud-screen", score=score, until=hold_until))
        await self._backorder_or_cancel(allocation.unfilled)

    async def send_again(self, fo: FulfillmentOrderState) -> None:
        """A reship or an exchange's replacement the location rejected goes out again from elsewhere, still at
        no charge or still paid by its return; what nobody can send is canceled (an exchange's) or left to an
        agent. The caller holds the lock."""
        allocation = await self.reserve(fo.lines, must=True)
        reason = f"sent again: {fo.id} was rejected at {fo.location_id}"
        reship = ReshipRequest(lines=fo.lines, reason=reason, actor="system") if fo.reship else None
        self.place(allocation, reship=reship, exchange_id=fo.exchange_id)
        if not allocation.unfilled:
            return
        what = ", ".join(f"{q.quantity} x {q.sku}" for q in allocation.unfilled)
        if fo.reship:
            self._record(
                ev.StepFailed(at=workflow.now(), step=f"send {what} again", reason=f"{reason}; no location can")
            )
        else:
            await self._cancellation.by_system(allocation.unfilled, f"no location can send {what} again")

    async def release(self, fo: FulfillmentOrderState, step: str, summary: str) -> None:
        """Give back all a fulfillment order reserved at its location, once (keyed by step and order)."""
        release = act.ReleaseRequest(
            order_id=self._record.order.order_id,
            lines=fo.lines,
            location_id=fo.location_id,
            key=step_key(step, fo.id),
            fulfillment_order_id=fo.id,
        )
        await self._steps.must(AllocationActivities.release, release, summary)

    def on_new_fulfillment_order(self, listener: Callable[[str], None]) -> None:
        def follow(event: ev.OrderEvent) -> None:
            if isinstance(event, ev.FulfillmentOrderCreated):
                listener(event.fulfillment_order_id)

        self._record.on_event(follow)

    async def readdress(self, change: AddressChange) -> None:
        """Take back what has not shipped yet and route it again for the new address (same-day radius, nearest
        location); a location that has already shipped keeps its part, and says so by its webhook. The new
        address is screened as the checkout's was: what is routed again waits for an agent if it scores."""
        async with self.lock:
            self._record(
                ev.AddressChanged(at=workflow.now(), actor=change.actor, address=change.address, reason=change.reason)
            )
            for fo in [f for f in self._record.order.fulfillment_orders if f.status == "released"]:
                stopped = await self._steps.run(
                    AllocationActivities.cancel_fulfillment, fo.id, f"withdraw {fo.id} for a new address"
                )
                if not stopped or self._record.order.fulfillment_order(fo.id).status != "released":
                    continue
                self._record(
                    ev.FulfillmentOrderWithdrawn(
                        at=workflow.now(), actor=change.actor, fulfillment_order_id=fo.id, reason="address changed"
                    )
                )
                await self.release(fo, "withdrawn", f"release {fo.id} at {fo.location_id}")
            rerouting = bool(self._record.order.unallocated_lines())
            fraud = screen(self._input.order, self._input.fraud_rules, ship_to=change.address)
            self._record(
                ev.FraudScreened(at=workflow.now(), actor=change.actor, score=fraud.score, reasons=fraud.reasons)
            )
            self.hold_rerouted = fraud.score if fraud.needs_review and rerouting else None
            if rerouting:
                await self.route_unallocated_locked()
