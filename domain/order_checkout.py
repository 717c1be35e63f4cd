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
        change.add_line(LineState(sku=ln.sku, unit_price=ln.unit_price, ordered=ln.quantity, tax_class=ln.tax_class))


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
    order = change.order
    if not order.fulfillment_orders:
        raise InvariantViolation("only an allocated order can be held for review")
    order.held = True
    order.status = "on_hold"


@_on(ev.ReviewDecided)
def _reviewed(change: Change, e: ev.ReviewDecided) -> None:
    """An approved order goes on by its fulfillment; a rejected one stays on hold until it is canceled."""
    if not change.order.held:
        raise InvariantViolation("the order is not held for review")
    change.order.held = False
    if e.approved:
        change.follow_fulfillment()
