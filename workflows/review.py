"""The hold: an order that scores for fraud review, or waits for its account's approver, is reserved but handed
to no location until every decision it waits for approves it (the locations get it); a rejection, or nobody
deciding in time, cancels it. The account's approval comes first (`workflows/approval.py`), then the review."""

from datetime import timedelta

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from activities.allocation import AllocationActivities
    from domain import events as ev
    from workflows.approval import AccountApproval
    from workflows.cancellation import Cancellation
    from workflows.messages import ApprovalDecision, OrderInput, ReviewDecision
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
        self.approval = AccountApproval(input.approval, record)
        self.approved: bool | None = None  # an agent's verdict; None until one decides
        self.done = False  # the verdict has been carried out: the agent's update answers
        # the approver's verdict has been carried out (the order goes on, is canceled, or waits for its review)
        self.approval_done = False

    async def decide(self, decision: ReviewDecision) -> None:
        """An agent's verdict, answered once the order has carried it out."""
        self.approved, self.done = decision.approve, False
        self._record(
            ev.ReviewDecided(at=workflow.now(), actor=decision.actor, approved=decision.approve, reason=decision.reason)
        )
        await workflow.wait_condition(lambda: self.done)

    async def decide_approval(self, decision: ApprovalDecision) -> None:
        """An approver's verdict, answered once the order has carried it out."""
        self.approval_done = False
        self.approval.decide(decision.approve, decision.reason, decision.actor)
        await workflow.wait_condition(lambda: self.approval_done)

    async def hold_until_decided(self) -> None:
        order = self._record.order
        # orders held before approvals existed were held for review alone
        review_wanted = order.awaiting_review or not order.awaiting_approval
        if order.awaiting_approval:
            await self.approval.wait()
        if review_wanted and order.held and self.approval.rejection is None and order.status != "canceled":
            if self.approval.wanted:
                await self._record.flush()
                self.approval_done = True  # approved: the approver hears so while the order waits for its review
            await self._review_decided()
        if order.status == "canceled":
            pass  # canceled while on hold: the cancel released and voided everything
        elif self.approval.rejection is not None:
            if order.cancelable_lines():
                await self._cancellation.by_system(order.cancelable_lines(), self.approval.rejection)
        elif not order.held and (self.approved or not review_wanted):
            await self._hand_to_locations()
        elif order.cancelable_lines():
            await self._cancellation.by_system(order.cancelable_lines(), "rejected in fraud review")
        await self._record.flush()
        self.done = self.approval_done = True

    async def _review_decided(self) -> None:
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

    async def _hand_to_locations(self) -> None:
        order = self._record.order
        fos = open_fulfillment_orders(order)
        hand_off = hand_off_request(order, fos)
        summary = f"approved: hand {len(fos)} fulfillment order(s) to their locations"
        await self._steps.must(AllocationActivities.hand_off, hand_off, summary)
        for fo in order.fulfillment_orders:  # the locations have them from now on
            if fo.status == "released":
                self._deadlines.start(fo.id, "shipment", workflow.now())
