"""Returns and appeasements: what agents and customers ask for once units are delivered, and how a returned
unit is restocked and refunded. Each return is followed by its own coroutine, requested → received →
restocked and refunded."""

from collections import Counter
from datetime import datetime
from decimal import Decimal

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from activities import contracts as act
    from activities.returns import ReturnActivities
    from domain import events as ev
    from domain import ids, refusals
    from domain.errors import AppeasementRefused, InvariantViolation, ReturnRefused
    from domain.models import SkuQuantity
    from workflows.messages import (
        AppeasementRequest,
        AppeasementResult,
        ExchangeRequest,
        ReturnEvent,
        ReturnRequest,
        ReturnResult,
    )
    from workflows.payments import Payments
    from workflows.recording import OrderRecord
    from workflows.steps import Followers, Step, StepError, Steps, failure_reason, refusal_error

RETURN_CARRIER = "YMT"


class Returns:
    def __init__(self, record: OrderRecord, steps: Steps, payments: Payments) -> None:
        self._record = record
        self._steps = steps
        self._payments = payments
        self.window_closes: datetime | None = None
        self.appeasements = 0
        self._followers = Followers(self._process)
        record.on_event(self._follow_new)

    @property
    def crashed(self) -> Exception | None:
        return self._followers.crashed

    def _follow_new(self, event: ev.OrderEvent) -> None:
        if isinstance(event, ev.ReturnRequested):
            self._followers.follow(event.return_id)

    def follow_unfinished(self) -> None:
        for rma in self._record.order.returns:
            if rma.status in ("requested", "received"):
                self._followers.follow(rma.id)

    async def _process(self, return_id: str) -> None:
        await workflow.wait_condition(lambda: self._record.order.return_(return_id).status != "requested")
        if self._record.order.return_(return_id).status == "received":
            await self._settle(return_id)
            await self._record.flush()

    # -- asking ------------------------------------------------------------------------------------
    def refusal(self, request: ReturnRequest | ExchangeRequest) -> ReturnRefused | None:
        order = self._record.order
        lines = request.lines if isinstance(request, ReturnRequest) else request.returned
        if not any(line.delivered for line in order.lines):
            return ReturnRefused("nothing on the order has been delivered yet: cancel instead, or wait for delivery")
        if self.window_closes is not None and workflow.now() >= self.window_closes:
            return ReturnRefused(f"the return window closed on {self.window_closes:%Y-%m-%d %H:%M} UTC")
        if request.method == "in_store" and not request.location_id:
            return ReturnRefused("an in-store return needs the store's location_id")
        return refusals.return_refusal(order, lines)

    async def request(self, request: ReturnRequest) -> ReturnResult:
        refund = min(self._record.order.amount_of(request.lines), self._payments.refundable_unreserved())
        result = self.record_return(request, refund)
        await self._record.flush()
        return result

    def record_return(self, request: ReturnRequest, refund: Decimal) -> ReturnResult:
        order = self._record.order
        n = len(order.returns) + 1
        return_id = ids.return_id_for(order.order_id, n)
        rma = ids.rma_number(order.order_id, n)
        location_id = request.location_id if request.method == "in_store" else self._origin_of(request.lines)
        assert location_id is not None, "the validator requires a store for in-store returns"
        label = ids.return_label(RETURN_CARRIER, workflow.uuid4()) if request.method == "mail" else None
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

    def _origin_of(self, lines: list[SkuQuantity]) -> str:
        """Mail returns go back to the location that shipped the first returned sku."""
        skus = {q.sku for q in lines}
        for fo in self._record.order.fulfillment_orders:
            if fo.status == "delivered" and any(q.sku in skus for q in fo.lines):
                return fo.location_id
        return self._record.order.fulfillment_orders[0].location_id

    def on_return_event(self, event: ReturnEvent) -> None:
        """The returned units arrived; a second `received` for the same return changes nothing."""
        rma = next((r for r in self._record.order.returns if r.id == event.return_id), None)
        if rma is None or rma.status != "requested":
            return
        lines = [ev.ReturnedLine(sku=u.sku, quantity=u.quantity, condition=u.condition) for u in event.lines]
        try:
            self._record(ev.ReturnReceived(at=workflow.now(), actor="partner:returns", return_id=rma.id, lines=lines))
        except InvariantViolation as refused:
            workflow.logger.warning("Return event refused", extra={"return_id": rma.id, "reason": str(refused)})

    # -- settling ------------------------------------------------------------------------------------
    async def _settle(self, return_id: str) -> None:
        """Resellable units back to stock, then the refund of every received unit (damaged ones too: the
        customer is not charged for a carrier's damage), capped at what the return was promised."""
        order = self._record.order
        rma = order.return_(return_id)
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
            summary = f"restock {sum(resellable.values())} unit(s) at {rma.location_id} for {rma.rma}"
            # the customer is refunded all the same; an operator runs the restock again
            await self._steps.attempt(ReturnActivities.restock, restock, summary)
        received = [SkuQuantity(sku=u.sku, quantity=u.quantity) for u in rma.received]
        async with self._payments.lock:
            amount = min(order.amount_of(received), rma.refund_amount, order.refundable)
            parts = order.refund_parts(amount, {q.sku for q in received}) if amount > 0 else []
            summary = f"refund {order.currency} {amount} for {rma.rma}"
            if parts:
                try:
                    await self._payments.refund(parts, f"refund:{rma.id}", summary)
                except StepError as err:
                    reason = failure_reason(err)
                    self._record(
                        ev.RefundFailed(
                            at=workflow.now(), actor="gateway", return_id=rma.id, amount=amount, reason=reason
                        )
                    )
                    self._steps.set_aside(Step(summary, lambda: self._refund_again(rma.id, parts, amount)), err)
                    return
            self._refunded(rma.id, amount, parts)

    async def _refund_again(self, return_id: str, parts: list[ev.RefundPart], amount: Decimal) -> None:
        """An operator's retry of a refused refund: the same key, so the gateway pays it once."""
        async with self._payments.lock:
            rma = self._record.order.return_(return_id)
            if rma.status != "refund_failed":
                return  # an agent settled it meanwhile (an appeasement)
            await self._payments.refund(
                parts, f"refund:{rma.id}", f"refund {self._record.order.currency} {amount} for {rma.rma}"
            )
            self._refunded(rma.id, amount, parts)

    def _refunded(self, return_id: str, amount: Decimal, parts: list[ev.RefundPart]) -> None:
        self._record(
            ev.RefundIssued(
                at=workflow.now(),
                actor="gateway",
                refund_id=ids.refund_id_for(return_id),
                return_id=return_id,
                amount=amount,
                parts=parts,
            )
        )

    # -- appeasements ----------------------------------------------------------------------------------
    def appeasement_refusal(self, amount: Decimal) -> AppeasementRefused | None:
        order = self._record.order
        if order.payment.captured <= 0:
            return AppeasementRefused("nothing has been captured on this order yet: cancel lines instead")
        refusal = refusals.appeasement_refusal(order, amount)
        if refusal is not None:
            return refusal
        left = self._payments.refundable_unreserved()
        if amount > left:
            return AppeasementRefused(
                f"{amount} is above the {left} {order.currency} left to refund (open returns included)"
            )
        return None

    async def appease(self, request: AppeasementRequest) -> AppeasementResult:
        order = self._record.order
        async with self._payments.lock:
            refusal = self.appeasement_refusal(request.amount)
            if refusal is not None:  # another refund went first while this one waited for the lock
                raise refusal_error(refusal)
            self.appeasements += 1
            n = self.appeasements
            parts = order.refund_parts(request.amount)
            try:
                await self._payments.refund(
                    parts, f"appeasement:{n}", f"goodwill refund of {order.currency} {request.amount}"
                )
            except StepError as err:
                raise refusal_error(
                    AppeasementRefused(f"the gateway refused the refund: {failure_reason(err)}")
                ) from err
            self._record(
                ev.AppeasementGranted(
                    at=workflow.now(),
                    actor=request.actor,
                    refund_id=ids.appeasement_id_for(order.order_id, n),
                    amount=request.amount,
                    reason=request.reason,
                    parts=parts,
                )
            )
        await self._record.flush()
        return AppeasementResult(
            order_id=order.order_id, refunded=request.amount, refundable_left=self._payments.refundable_unreserved()
        )
