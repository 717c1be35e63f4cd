"""The order's money: the checkout's authorization, a capture per shipped fulfillment order, renewals of
authorizations about to lapse, voids of what is left, and refunds. Every call is keyed by the order's
workflow id and its step, so a retry or a replay never moves money twice."""

import asyncio
from datetime import timedelta
from decimal import Decimal

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from activities import contracts as act
    from activities.payments import PaymentActivities
    from activities.shipment import ShipmentActivities
    from domain import events as ev
    from domain import ids
    from domain.order import FulfillmentOrderState
    from workflows.messages import OrderInput
    from workflows.recording import OrderRecord
    from workflows.steps import StepError, Steps, application_error

# An authorization this close to lapsing is renewed before a capture is made on it.
AUTHORIZATION_RENEWAL_MARGIN = timedelta(days=1)


def step_key(step: str, n: object) -> str:
    return ids.idempotency_key(workflow.info().workflow_id, step, n)


class Payments:
    def __init__(self, input: OrderInput, record: OrderRecord, steps: Steps) -> None:
        self._input = input
        self._record = record
        self._steps = steps
        self._voiding = asyncio.Lock()
        # captures one at a time, so two never renew the same authorization; a capture waiting for an operator
        # leaves refunds, appeasements and exchanges free to go on
        self._capturing = asyncio.Lock()
        self.lock = asyncio.Lock()  # money goes back one refund at a time, so two never split the same capture

    @property
    def _currency(self) -> str:
        return self._input.order.currency

    async def authorize_checkout(self) -> str | None:
        """Authorize the order's total; a decline is the order's answer (returned), any other failure raises."""
        placed = self._input.order
        amount = placed.amount_to_authorize  # the total, and the tax added on top where prices are without it
        request = self._authorize_request("authorize", 1, amount)
        try:
            result = await self._steps.run(
                PaymentActivities.authorize, request, f"authorize {placed.currency} {amount}"
            )
        except StepError as err:
            refusal = application_error(err)
            if refusal is None or refusal.type not in (act.PAYMENT_DECLINED, act.PAYMENT_REFUSED):
                raise
            self._record(ev.PaymentDeclined(at=workflow.now(), actor="gateway", reason=refusal.message))
            return refusal.message
        self._record(
            ev.PaymentAuthorized(
                at=workflow.now(),
                actor="gateway",
                authorization_id=result.transaction_id,
                amount=result.amount,
                expires_at=result.expires_at,
            )
        )
        return None

    async def authorize_difference(self, exchange_id: str, amount: Decimal) -> act.PaymentResult:
        request = self._authorize_request("authorize", exchange_id, amount)
        summary = f"authorize {self._currency} {amount}, the difference of exchange {exchange_id}"
        return await self._steps.run(PaymentActivities.authorize, request, summary)

    def _authorize_request(self, step: str, n: object, amount: Decimal) -> act.AuthorizeRequest:
        placed = self._input.order
        return act.AuthorizeRequest(
            idempotency_key=step_key(step, n),
            order_id=placed.order_id,
            token=placed.payment.token,  # the gateway's saved payment method, never the card's token
            amount=amount,
            currency=placed.currency,
        )

    async def capture(self, fo: FulfillmentOrderState) -> None:
        """Its units leave stock and its own amount is captured; a reship, or a replacement its return pays
        for, ships at no charge and a zero invoice closes it."""
        order = self._record.order
        amount, auth_id = order.charge_for(fo)
        if amount <= 0:
            ship = act.ShipRequest(order_id=order.order_id, location_id=fo.location_id, fulfillment_order_id=fo.id)
            why = "reship" if fo.reship else f"exchange {fo.exchange_id}, paid by its return"
            await self._steps.must(ShipmentActivities.ship_reship, ship, f"ship {fo.id} ({why}, no charge)")
            self._invoice(fo, Decimal(0))
            return
        assert auth_id is not None, "an accepted order is authorized"
        async with self._capturing:
            auth_id = await self._renewed_if_expiring(auth_id)
            capture = act.CaptureRequest(
                idempotency_key=step_key("capture", fo.id), authorization_id=auth_id, amount=amount
            )
            request = act.SettleRequest(
                order_id=order.order_id, location_id=fo.location_id, capture=capture, fulfillment_order_id=fo.id
            )
            summary = f"ship {fo.id} from {fo.location_id}, capture {self._currency} {amount}"
            result = await self._steps.must(ShipmentActivities.settle, request, summary)
        self._record(
            ev.PaymentCaptured(
                at=workflow.now(),
                actor="gateway",
                transaction_id=result.transaction_id,
                fulfillment_order_id=fo.id,
                amount=amount,
                authorization_id=auth_id,
            )
        )
        self._invoice(fo, amount)

    def _invoice(self, fo: FulfillmentOrderState, amount: Decimal) -> None:
        self._record(
            ev.InvoiceIssued(
                at=workflow.now(), invoice_id=ids.invoice_id_for(fo.id), fulfillment_order_id=fo.id, amount=amount
            )
        )

    async def _renewed_if_expiring(self, auth_id: str) -> str:
        """An authorization that would lapse before this capture is authorized again for what it still holds,
        and the old one voided, each keyed, before anything is captured on it."""
        held = self._record.order.payment.authorizations[auth_id]
        if held.expires_at is None or workflow.now() < held.expires_at - AUTHORIZATION_RENEWAL_MARGIN:
            return auth_id
        request = self._authorize_request("authorize", f"renew:{auth_id}", held.capturable)
        summary = f"renew {auth_id}, expiring {held.expires_at:%Y-%m-%d}: authorize {self._currency} {held.capturable}"
        renewed = await self._steps.must(PaymentActivities.authorize, request, summary)
        void = act.VoidRequest(idempotency_key=step_key("void", f"renewed:{auth_id}"), authorization_id=auth_id)
        await self._steps.attempt(PaymentActivities.void, void, f"void {auth_id}, renewed as {renewed.transaction_id}")
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

    async def void_what_is_left(self, *, must: bool = False) -> None:
        """Void what is left of each authorization, once, whoever asks first (a cancel or the last shipment)."""
        async with self._voiding:
            payment = self._record.order.payment
            for auth_id in payment.open_authorizations():
                n = 1 if auth_id == payment.authorization_id else auth_id
                request = act.VoidRequest(idempotency_key=step_key("void", n), authorization_id=auth_id)
                if must:
                    result = await self._steps.must(PaymentActivities.void, request, f"void {auth_id}")
                else:
                    result = await self._steps.run(PaymentActivities.void, request, f"void {auth_id}")
                self._record(
                    ev.AuthorizationVoided(
                        at=workflow.now(), actor="gateway", authorization_id=auth_id, amount=result.amount
                    )
                )

    async def refund(self, parts: list[ev.RefundPart], step: str, summary: str) -> None:
        request = act.RefundRequest(idempotency_key=step_key(step, 1), parts=parts)
        await self._steps.run(PaymentActivities.refund, request, summary)

    def refundable_unreserved(self) -> Decimal:
        """Captured money not refunded nor owed to a return already asked for."""
        order = self._record.order
        owed = sum((r.refund_amount for r in order.returns if r.status != "refunded"), Decimal(0))
        return max(order.refundable - owed, Decimal(0))
