"""Payment steps against the gateway. Declines are final; an unavailable gateway is retried by Temporal."""

from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.contracts import (
    AUTHORIZE_PAYMENT,
    PAYMENT_DECLINED,
    PAYMENT_REFUSED,
    REFUND_PAYMENT,
    VOID_AUTHORIZATION,
    AuthorizeRequest,
    CaptureRequest,
    PaymentResult,
    RefundRequest,
    VoidRequest,
)
from domain.ids import refund_part_key
from integrations.payments import CardDeclined, GatewayRefused, GatewayTransaction, PaymentGateway


def _result(tx: GatewayTransaction) -> PaymentResult:
    return PaymentResult(transaction_id=tx.id, amount=tx.amount, expires_at=getattr(tx, "expires_at", None))


class PaymentActivities:
    def __init__(self, gateway: PaymentGateway) -> None:
        self._gateway = gateway

    @activity.defn(name=AUTHORIZE_PAYMENT)
    def authorize(self, request: AuthorizeRequest) -> PaymentResult:
        try:
            tx = self._gateway.authorize(
                request.idempotency_key, request.order_id, request.token, request.amount, request.currency
            )
        except CardDeclined as declined:
            raise ApplicationError(str(declined), type=PAYMENT_DECLINED, non_retryable=True) from declined
        except GatewayRefused as refused:
            raise ApplicationError(str(refused), type=PAYMENT_REFUSED, non_retryable=True) from refused
        return _result(tx)

    def capture(self, request: CaptureRequest) -> PaymentResult:
        try:
            tx = self._gateway.capture(request.idempotency_key, request.authorization_id, request.amount)
        except GatewayRefused as refused:
            raise ApplicationError(str(refused), type=PAYMENT_REFUSED, non_retryable=True) from refused
        return _result(tx)

    @activity.defn(name=VOID_AUTHORIZATION)
    def void(self, request: VoidRequest) -> PaymentResult:
        try:
            tx = self._gateway.void(request.idempotency_key, request.authorization_id)
        except GatewayRefused as refused:
            raise ApplicationError(str(refused), type=PAYMENT_REFUSED, non_retryable=True) from refused
        return _result(tx)

    @activity.defn(name=REFUND_PAYMENT)
    def refund(self, request: RefundRequest) -> list[PaymentResult]:
        """Each part against its own capture, keyed per capture: a retry after a partial failure refunds the rest."""
        results = []
        for part in request.parts:
            key = refund_part_key(request.idempotency_key, part.transaction_id)
            try:
                tx = self._gateway.refund(key, part.transaction_id, part.amount)
            except GatewayRefused as refused:
                raise ApplicationError(str(refused), type=PAYMENT_REFUSED, non_retryable=True) from refused
            results.append(_result(tx))
        return results
