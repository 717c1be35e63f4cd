"""Returns, exchanges and appeasements: what agents and customers ask for once units are delivered, and
how a returned unit is restocked and refunded."""

from collections import Counter
from collections.abc import Awaitable, Callable
from datetime import timedelta
from decimal import Decimal
from typing import Any

from temporalio import workflow
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from activities import contracts as act
    from domain import events as ev
    from domain.errors import InvariantViolation
    from domain.ids import (
        appeasement_id_for,
        exchange_id_for,
        refund_id_for,
        return_id_for,
        return_label,
        rma_number,
    )
    from domain.models import SkuQuantity
    from workflows.legacy.order_core import failure_reason
    from workflows.legacy.order_deadlines import PartnerDeadlines
    from workflows.messages import (
        APPEASEMENT_UPDATE,
        EXCHANGE_UPDATE,
        RETURN_SIGNAL,
        RETURN_UPDATE,
        AppeasementRequest,
        AppeasementResult,
        ExchangeRequest,
        ExchangeResult,
        ReturnEvent,
        ReturnRequest,
        ReturnResult,
    )

RETURN_CARRIER = "YMT"
# an exchange's replacement is held this long between reserving it and handing it to its location
EXCHANGE_HOLD = timedelta(minutes=15)


class ReturnsAndExchanges(PartnerDeadlines):
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
        rma = rma_number(self._order.order_id, n)
        location_id = request.location_id if request.method == "in_store" else self._origin_of(request.lines)
        assert location_id is not None, "the validator requires a store for in-store returns"
        label = return_label(RETURN_CARRIER, workflow.uuid4()) if request.method == "mail" else None
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
            value = self._order.replacement_value(replacement)
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
            rma = self._record_return(returned, max(-difference, Decimal(0)))
            now = workflow.now()
            if auth_id is not None:
                self._record(
                    ev.PaymentAuthorized(
                        at=now,
                        actor="gateway",
                        authorization_id=auth_id,
                        amount=difference,
                        expires_at=authorized.expires_at if authorized else None,
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
        unpriced = [q.sku for q in request.replacement if q.unit_price is None and self._order.find_line(q.sku) is None]
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
                price_reason=q.price_reason,
            )
            for q in request.replacement
        ]

    async def _authorize_difference(self, exchange_id: str, amount: Decimal) -> act.PaymentResult:
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
            reason = failure_reason(err)
            raise ApplicationError(
                f"the difference of {amount} could not be authorized: {reason}", type="ExchangeRefused"
            ) from err
        return result

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
            reason = failure_reason(failure)
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
                reason = f"the gateway refused the refund: {failure_reason(err)}"
                raise ApplicationError(reason, type="AppeasementRefused", non_retryable=True) from err
            self._record(
                ev.AppeasementGranted(
                    at=workflow.now(),
                    actor=request.actor,
                    refund_id=appeasement_id_for(self._order.order_id, n),
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
            # the customer is refunded all the same; an operator runs the restock again
            await self._try(act.RESTOCK_RETURN, restock, int, f"{summary} for {rma.rma}")
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
                    reason = failure_reason(err)
                    self._record(
                        ev.RefundFailed(
                            at=workflow.now(), actor="gateway", return_id=rma.id, amount=amount, reason=reason
                        )
                    )
                    if self._reliable:
                        again = self._refund_again(rma.id, parts, amount)
                        self._step_failed(f"refund {self._order.currency} {amount} for {rma.rma}", err, again)
                    return
            self._record(
                ev.RefundIssued(
                    at=workflow.now(),
                    actor="gateway",
                    refund_id=refund_id_for(rma.id),
                    return_id=rma.id,
                    amount=amount,
                    parts=parts,
                )
            )

    def _refund_again(
        self, return_id: str, parts: list[ev.RefundPart], amount: Decimal
    ) -> Callable[[], Awaitable[None]]:
        """An operator's retry of a refused refund: the same key, so the gateway pays it once."""

        async def again() -> None:
            async with self._money_lock:
                if self._order.return_(return_id).status != "refund_failed":
                    return  # an agent settled it meanwhile (an appeasement)
                rma = self._order.return_(return_id)
                await self._refund(parts, f"refund:{rma.id}", f"refund {self._order.currency} {amount} for {rma.rma}")
                self._record(
                    ev.RefundIssued(
                        at=workflow.now(),
                        actor="gateway",
                        refund_id=refund_id_for(rma.id),
                        return_id=rma.id,
                        amount=amount,
                        parts=parts,
                    )
                )

        return again

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
