"""The legacy order workflow's deadlines on partners: asked again past a deadline, then a person."""

import asyncio
from datetime import datetime, timedelta

from temporalio import workflow
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from activities import contracts as act
    from domain import events as ev
    from domain.order import FulfillmentOrderState
    from workflows.legacy.order_allocation import Allocation
    from workflows.messages import (
        PartnerDeadline,
    )


class PartnerDeadlines(Allocation):
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
