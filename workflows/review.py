"""The fraud review: an order that scores for review is reserved but handed to no location until an agent
approves it (the locations get it) or rejects it (it is canceled); nobody deciding in time rejects it."""

from datetime import timedelta

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from activities.allocation import AllocationActivities
    from domain import events as ev
    from workflows.cancellation import Cancellation
    from workflows.messages import OrderInput, ReviewDecision
    from workflows.order_facts import hand_off_request, open_fulfillment_orders
    from workflows.partner_deadlines import PartnerDeadlines
    from workflows.recording import OrderRecord
    from workflows.steps import Steps


class FraudReview:
    def __init__(
        self,
        input: OrderInput,
        record: OrderRecord,
        steps: Steps,
        cancellation: Cancellation,
        deadlines: PartnerDeadlines,
    ) -> None:
        self._input = input
        self._record = record
        self._steps = steps
        self._cancellation = cancellation
        self._deadlines = deadlines
        self.approved: bool | None = None  # an agent's verdict; None until one decides
        self.done = False  # the verdict has been carried out: the agent's update answers

    async def decide(self, decision: ReviewDecision) -> None:
        """An agent's verdict, answered once the order has carried it out."""
        self.approved, self.done = decision.approve, False
        self._record(
            ev.ReviewDecided(at=workflow.now(), actor=decision.actor, approved=decision.approve, reason=decision.reason)
        )
        await workflow.wait_condition(lambda: self.done)

    async def hold_until_decided(self) -> None:
        order = self._record.order
        try:
            await workflow.wait_condition(
                lambda: not order.held or order.status == "canceled",
                timeout=timedelta(seconds=self._input.review_seconds),
                timeout_summary="fraud review deadline",
            )
        except TimeoutError:
            reason = "no review decision before the deadline"
            self._record(ev.ReviewDecided(at=workflow.now(), actor="system", approved=False, reason=reason))
        if order.status == "canceled":
            pass  # canceled while on hold: the cancel released and voided everything
        elif self.approved:
            await self._hand_to_locations()
        elif order.cancelable_lines():
            await self._cancellation.by_system(order.cancelable_lines(), "rejected in fraud review")
        await self._record.flush()
        self.done = True

    async def _hand_to_locations(self) -> None:
        order = self._record.order
        fos = open_fulfillment_orders(order)
        hand_off = hand_off_request(order, fos)
        summary = f"approved: hand {len(fos)} fulfillment order(s) to their locations"
        await self._steps.must(AllocationActivities.hand_off, hand_off, summary)
        for fo in order.fulfillment_orders:  # the locations have them from now on
            if fo.status == "released":
                self._deadlines.start(fo.id, "shipment", workflow.now())
