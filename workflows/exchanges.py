"""Exchanges: returned units swapped for replacements sent at once. The returned units' value pays for them;
the difference is authorized now and captured as they ship, or refunded once the return is received.
Nothing is recorded until payment, stock and hand-off have all succeeded; a failure undoes each."""

from datetime import timedelta
from decimal import Decimal

from temporalio import workflow
from temporalio.exceptions import ApplicationError

with workflow.unsafe.imports_passed_through():
    from activities import contracts as act
    from activities.allocation import AllocationActivities
    from activities.payments import PaymentActivities
    from domain import events as ev
    from domain import ids, refusals
    from domain.errors import ExchangeRefused
    from domain.models import SkuQuantity
    from workflows.allocation import Allocation
    from workflows.messages import ExchangeRequest, ExchangeResult, ReturnRequest
    from workflows.order_facts import hand_off_request
    from workflows.payments import Payments, step_key
    from workflows.recording import OrderRecord
    from workflows.returns import Returns
    from workflows.steps import Step, StepError, Steps, failure_reason, refusal_error

# an exchange's replacement is held this long between reserving it and handing it to its location
EXCHANGE_HOLD = timedelta(minutes=15)


class Exchanges:
    def __init__(
        self,
        record: OrderRecord,
        steps: Steps,
        payments: Payments,
        allocation: Allocation,
        returns: Returns,
    ) -> None:
        self._record = record
        self._steps = steps
        self._payments = payments
        self._allocation = allocation
        self._returns = returns
        self.tried = 0  # numbered by attempt: an undone exchange's id (and its payment keys) is never reused

    def refusal(self, request: ExchangeRequest) -> ExchangeRefused | None:
        returned = self._returns.refusal(request)
        if returned is not None:
            return ExchangeRefused(returned.reason)
        order = self._record.order
        unpriced = [q.sku for q in request.replacement if q.unit_price is None and order.find_line(q.sku) is None]
        if unpriced:
            return ExchangeRefused(f"{', '.join(unpriced)} is not on the order: give the replacement's unit_price")
        return refusals.replacement_refusal(order, self._replacement_lines(request))

    def _replacement_lines(self, request: ExchangeRequest) -> list[ev.ExchangeLine]:
        prices = {line.sku: line.unit_price for line in self._record.order.lines}
        return [
            ev.ExchangeLine(
                sku=q.sku,
                quantity=q.quantity,
                unit_price=q.unit_price if q.unit_price is not None else prices[q.sku],
                price_reason=q.price_reason,
            )
            for q in request.replacement
        ]

    async def exchange(self, request: ExchangeRequest) -> ExchangeResult:
        order = self._record.order
        async with self._allocation.lock, self._payments.lock:
            refusal = self.refusal(request)
            if refusal is not None:  # what the validator saw changed while another action finished
                raise refusal_error(refusal)
            replacement = self._replacement_lines(request)
            self.tried += 1
            exchange_id = ids.exchange_id_for(order.order_id, self.tried)
            credit = min(order.amount_of(request.returned), self._payments.refundable_unreserved())
            value = order.replacement_value(replacement)
            difference = value - credit
            authorized = await self._authorize_difference(exchange_id, difference) if difference > 0 else None
            auth_id = authorized.transaction_id if authorized else None
            allocation = await self._send_replacement(exchange_id, replacement, auth_id)
            returned = ReturnRequest(
                lines=request.returned,
                reason=f"exchange: {request.reason}",
                method=request.method,
                location_id=request.location_id,
                actor=request.actor,
            )
            rma = self._returns.record_return(returned, max(-difference, Decimal(0)))
            now = workflow.now()
            if authorized is not None:
                self._record(
                    ev.PaymentAuthorized(
                        at=now,
                        actor="gateway",
                        authorization_id=authorized.transaction_id,
                        amount=difference,
                        expires_at=authorized.expires_at,
                    )
                )
            self._record(
                ev.ExchangeRequested(
                    at=now,
                    actor=request.actor,
                    exchange_id=exchange_id,
                    return_id=rma.return_id,
                    lines=replacement,
                    credit=min(credit, value),
                    difference=difference,
                    authorization_id=auth_id,
                    reason=request.reason,
                )
            )
            self._allocation.place(allocation, actor=request.actor, exchange_id=exchange_id)
        await self._record.flush()
        return ExchangeResult(
            exchange_id=exchange_id,
            return_id=rma.return_id,
            rma=rma.rma,
            label=rma.label,
            location_id=rma.location_id,
            difference=difference,
            fulfillment_order_ids=[fo.fulfillment_order_id for fo in allocation.fulfillment_orders],
        )

    async def _authorize_difference(self, exchange_id: str, amount: Decimal) -> act.PaymentResult:
        try:
            return await self._payments.authorize_difference(exchange_id, amount)
        except StepError as err:
            refusal = ExchangeRefused(f"the difference of {amount} could not be authorized: {failure_reason(err)}")
            raise refusal_error(refusal) from err

    async def _send_replacement(
        self, exchange_id: str, lines: list[ev.ExchangeLine], auth_id: str | None
    ) -> act.AllocateResult:
        """Reserve the replacement (held, not yet at any location), then hand it over; if either fails, give
        back the holds, stop what was handed over and void the difference, each once."""
        wanted = [SkuQuantity(sku=q.sku, quantity=q.quantity) for q in lines]
        allocation: act.AllocateResult | None = None
        handed_over = False
        try:
            allocation = await self._allocation.reserve(wanted, workflow.now() + EXCHANGE_HOLD)
            if allocation.unfilled:
                what = ", ".join(f"{q.quantity} x {q.sku}" for q in allocation.unfilled)
                # caught below: what was held is given back before the exchange is refused
                raise ApplicationError(f"no location can send {what} now: make a return instead, or try later")
            handed_over = True
            hand_off = hand_off_request(self._record.order, allocation.fulfillment_orders)
            summary = f"hand exchange {exchange_id} to {len(allocation.fulfillment_orders)} location(s)"
            await self._steps.run(AllocationActivities.hand_off, hand_off, summary)
            return allocation
        except StepError as failure:
            reason = failure_reason(failure)
            fos = allocation.fulfillment_orders if allocation else []
            self._allocation.numbers_skipped += len(fos)
            await self._steps.compensate(self._undo(exchange_id, fos, handed_over, auth_id))
            raise refusal_error(ExchangeRefused(f"exchange {exchange_id} refused: {reason}")) from failure

    def _undo(
        self, exchange_id: str, fos: list[act.AllocatedFulfillmentOrder], handed_over: bool, auth_id: str | None
    ) -> list[Step]:
        """Each undo is keyed or a full release of one fulfillment order, so running it again changes nothing."""
        undo: list[Step] = []
        for fo in fos:
            fo_id = fo.fulfillment_order_id
            release = act.ReleaseRequest(order_id=self._record.order.order_id, fulfillment_order_id=fo_id)
            undo.append(
                self._steps.step(AllocationActivities.release, release, f"undo exchange {exchange_id}: release {fo_id}")
            )
            if handed_over:
                undo.append(
                    self._steps.step(
                        AllocationActivities.cancel_fulfillment, fo_id, f"undo exchange {exchange_id}: stop {fo_id}"
                    )
                )
        if auth_id is not None:
            void = act.VoidRequest(idempotency_key=step_key("void", exchange_id), authorization_id=auth_id)
            undo.append(self._steps.step(PaymentActivities.void, void, f"undo exchange {exchange_id}: void {auth_id}"))
        return undo
