"""Deadlines on partners: a released fulfillment order is due to ship, a shipped one to be delivered.

Past its deadline a partner is asked again (a lost webhook comes again); silent once more, the order needs a
person, and keeps waiting for the news either way. One timer, the alarm, wakes the order at its earliest
deadline: a timer per wait would cost the history two events each time the order wakes.
"""

from collections.abc import Callable
from datetime import datetime, timedelta

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from activities import contracts as act
    from activities.allocation import AllocationActivities
    from activities.tracking import TrackingActivities
    from domain import events as ev
    from domain.order import FulfillmentOrderState
    from workflows.messages import OrderInput, PartnerDeadline
    from workflows.order_facts import hand_off_request
    from workflows.recording import OrderRecord
    from workflows.steps import StepError, Steps


class PartnerDeadlines:
    def __init__(self, input: OrderInput, record: OrderRecord, steps: Steps, deliver: Callable[[str], None]) -> None:
        self._input = input
        self._record = record
        self._steps = steps
        self._deliver = deliver
        self.pending: dict[str, PartnerDeadline] = {}
        record.on_event(self._follow)

    # -- what starts and ends a wait ---------------------------------------------------------------
    def _follow(self, event: ev.OrderEvent) -> None:
        match event:
            case ev.FulfillmentOrderCreated(fulfillment_order_id=fo_id, at=at):
                self.start(fo_id, "shipment", at)
            case ev.ShipmentShipped(fulfillment_order_id=fo_id, at=at):
                self._end(fo_id, "shipped")
                self.start(fo_id, "delivery", at)
            case (
                ev.ShipmentDelivered(fulfillment_order_id=fo_id)
                | ev.ReadyForPickup(fulfillment_order_id=fo_id)
                | ev.FulfillmentOrderRejected(fulfillment_order_id=fo_id)
                | ev.FulfillmentOrderWithdrawn(fulfillment_order_id=fo_id)
            ):
                self._end(fo_id, event.type)
            case ev.ItemsCanceled():
                for fo in self._record.order.fulfillment_orders:
                    if fo.status == "canceled":
                        self._end(fo.id, "canceled")

    def start(self, fo_id: str, waiting_for: str, since: datetime) -> None:
        sla = self._input.fulfillment_sla_seconds if waiting_for == "shipment" else self._input.delivery_sla_seconds
        self.pending[fo_id] = PartnerDeadline.model_validate(
            {
                "fulfillment_order_id": fo_id,
                "waiting_for": waiting_for,
                "since": since,
                "due": since + timedelta(seconds=sla),
            }
        )

    def _end(self, fo_id: str, news: str) -> None:
        deadline = self.pending.pop(fo_id, None)
        if deadline is not None and deadline.flagged:
            self.settle_attention(f"{fo_id}: {news}")

    def settle_attention(self, why: str) -> None:
        """Clear the order's attention once nothing needs a person any more (a late partner came through)."""
        if self._record.order.attention is None or not self._steps.settled or self.flagged():
            return
        self._record(ev.AttentionCleared(at=workflow.now(), actor="system", reason=why))

    def flagged(self) -> list[PartnerDeadline]:
        return [d for d in self.pending.values() if d.flagged]

    def ask_again_now(self) -> list[PartnerDeadline]:
        """An operator's retry: every flagged partner is asked again at once, and flagged again if still silent."""
        flagged = self.flagged()
        for deadline in flagged:
            deadline.flagged, deadline.asked, deadline.due = False, False, workflow.now()
        return flagged

    # -- when ------------------------------------------------------------------------------------
    def due(self, fo_id: str) -> bool:
        """Passed and not yet flagged; a held order's locations do not have it yet."""
        deadline = self.pending.get(fo_id)
        return (
            deadline is not None
            and not deadline.flagged
            and not self._record.order.held
            and workflow.now() >= deadline.due
        )

    def _next_due(self) -> datetime | None:
        if self._record.order.held:
            return None
        return min((d.due for d in self.pending.values() if not d.flagged), default=None)

    async def keep_alarm(self) -> None:
        """Runs for the life of the order. The timer is kept while it rings early enough (ringing early, nothing
        is due and it is set again) and dropped once nothing is awaited."""
        while True:
            await workflow.wait_condition(lambda: self._next_due() is not None)
            at = self._next_due()
            assert at is not None
            if await self._rings_at(at):  # the fulfillment orders whose deadline it is chase their partner
                await workflow.wait_condition(lambda: not any(self.due(fo_id) for fo_id in self.pending))

    async def _rings_at(self, at: datetime) -> bool:
        """True when the alarm rang; False when it is no longer wanted (nothing awaited, or an earlier one is)."""
        try:
            await workflow.wait_condition(
                lambda: (due := self._next_due()) is None or due < at,
                timeout=max(at - workflow.now(), timedelta(seconds=1)),
                timeout_summary="a partner's deadline",
            )
        except TimeoutError:
            return True
        return False

    # -- chasing -----------------------------------------------------------------------------------
    async def chase(self, fo: FulfillmentOrderState) -> None:
        deadline = self.pending[fo.id]
        if deadline.asked:
            deadline.flagged = True
            partner = fo.location_id if deadline.waiting_for == "shipment" else (fo.carrier or "the carrier")
            self._steps.needs_attention(
                f"{deadline.waiting_for} of {fo.id}",
                f"no news from {partner} since {deadline.since:%Y-%m-%d %H:%M} UTC, also after asking again",
            )
            return
        deadline.asked = True
        deadline.due = workflow.now() + (deadline.due - deadline.since)
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
        held = act.AllocatedFulfillmentOrder(fulfillment_order_id=fo.id, location_id=fo.location_id, lines=fo.lines)
        request = hand_off_request(self._record.order, [held])
        await self._steps.attempt(AllocationActivities.hand_off, request, f"ask {fo.location_id} again about {fo.id}")

    async def _ask_carrier_again(self, fo: FulfillmentOrderState) -> None:
        assert fo.tracking_number is not None, "a shipped fulfillment order has its tracking number"
        carrier = fo.carrier or "the carrier"
        self._record(
            ev.PartnerAskedAgain(at=workflow.now(), fulfillment_order_id=fo.id, partner=carrier, waiting_for="delivery")
        )
        summary = f"ask {carrier} where {fo.tracking_number} is"
        try:
            status = await self._steps.run(TrackingActivities.track, fo.tracking_number, summary)
        except StepError as err:
            self._steps.failed_for_good(summary, err)
            return
        if status == "delivered":
            self._deliver(fo.id)
