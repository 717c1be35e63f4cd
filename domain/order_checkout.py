"""How the events of checkout change an order: placed, screened, authorized, reserved, held for review."""

from domain import events as ev
from domain.errors import InvariantViolation
from domain.order_change import Change, HandlerTable
from domain.order_state import AuthorizationState, LineState

_table = HandlerTable()
_on = _table.on
HANDLERS = _table.handlers


@_on(ev.OrderPlaced)
def _placed(change: Change, e: ev.OrderPlaced) -> None:
    order = change.order
    if order.placed is not None:
        raise InvariantViolation("order already placed")
    order.placed = e.order
    order.lines = []  # the checkout's lines are the order's lines
    for ln in e.order.lines:
        change.add_line(
            LineState(
                sku=ln.sku, unit_price=ln.unit_price, ordered=ln.quantity, tax_class=ln.tax_class, tax_rate=ln.tax_rate
            )
        )


@_on(ev.FraudScreened)
def _screened(change: Change, e: ev.FraudScreened) -> None:
    change.order.fraud_score = e.score


@_on(ev.PaymentAuthorized)
def _authorized(change: Change, e: ev.PaymentAuthorized) -> None:
    if e.authorization_id in change.order.payment.authorizations:
        raise InvariantViolation(f"authorization {e.authorization_id} is recorded already")
    payment = change.payment
    payment.authorization_id = payment.authorization_id or e.authorization_id  # the checkout's is the first
    change.add_authorization(e.authorization_id, AuthorizationState(amount=e.amount, expires_at=e.expires_at))
    payment.authorized += e.amount


@_on(ev.AuthorizationRenewed)
def _renewed(change: Change, e: ev.AuthorizationRenewed) -> None:
    """The expiring authorization's capturable amount moves to the new one, which takes its place for the
    checkout or the exchange it paid for; the gateway voids the old one."""
    old = change.authorization(e.expiring_id)
    if e.amount != old.capturable:
        raise InvariantViolation(f"renewal of {e.expiring_id} must carry its {old.capturable} left, not {e.amount}")
    if e.authorization_id in change.order.payment.authorizations:
        raise InvariantViolation(f"authorization {e.authorization_id} is recorded already")
    payment = change.payment
    old.voided += e.amount
    payment.voided += e.amount
    change.add_authorization(e.authorization_id, AuthorizationState(amount=e.amount, expires_at=e.expires_at))
    payment.authorized += e.amount
    if payment.authorization_id == e.expiring_id:
        payment.authorization_id = e.authorization_id
    for exchange_id in [x.id for x in change.order.exchanges if x.authorization_id == e.expiring_id]:
        change.exchange(exchange_id).authorization_id = e.authorization_id


@_on(ev.PaymentDeclined)
def _declined(change: Change, e: ev.PaymentDeclined) -> None:
    change.order.status = "payment_declined"


@_on(ev.AuthorizationVoided)
def _voided(change: Change, e: ev.AuthorizationVoided) -> None:
    change.authorization(e.authorization_id).voided += e.amount
    change.payment.voided += e.amount


@_on(ev.InventoryReserved)
def _reserved(change: Change, e: ev.InventoryReserved) -> None:
    for q in e.lines:
        if e.reship:
            change.order.line(q.sku)  # a reship, too, is of the order's own skus; its units are not allocated
        else:
            change.line(q.sku).allocated += q.quantity


@_on(ev.OrderUnavailable)
def _unavailable(change: Change, e: ev.OrderUnavailable) -> None:
    change.order.status = "unavailable"


@_on(ev.OrderHeld)
def _held(change: Change, e: ev.OrderHeld) -> None:
    _hold(change, "held for review")
    change.order.awaiting_review = True


@_on(ev.ReviewDecided)
def _reviewed(change: Change, e: ev.ReviewDecided) -> None:
    """An approved order goes on by its fulfillment (once its approver, if it waits for one, approves too); a
    rejected one stays on hold until it is canceled."""
    if not change.order.held:
        raise InvariantViolation("the order is not held for review")
    change.order.awaiting_review = False
    _decided(change, e.approved, still_waiting=change.order.awaiting_approval)


@_on(ev.ApprovalRequested)
def _approval_requested(change: Change, e: ev.ApprovalRequested) -> None:
    _hold(change, "held for its approver")
    change.order.awaiting_approval = True


@_on(ev.ApprovalEscalated)
def _approval_escalated(change: Change, e: ev.ApprovalEscalated) -> None:
    if not change.order.awaiting_approval:
        raise InvariantViolation("the order is not waiting for an approver")


@_on(ev.ApprovalDecided)
def _approval_decided(change: Change, e: ev.ApprovalDecided) -> None:
    if not change.order.awaiting_approval:
        raise InvariantViolation("the order is not waiting for an approver")
    change.order.awaiting_approval = False
    _decided(change, e.approved, still_waiting=change.order.awaiting_review)


def _hold(change: Change, what: str) -> None:
    order = change.order
    if not order.fulfillment_orders:
        raise InvariantViolation(f"only an allocated order can be {what}")
    order.held = True
    order.status = "on_hold"


def _decided(change: Change, approved: bool, still_waiting: bool) -> None:
    if approved and still_waiting:
        return  # the other decision is still to come: on hold until then
    change.order.held = False
    if approved:
        change.follow_fulfillment()
