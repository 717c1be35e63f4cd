"""How the events of service change an order: a new address, returns and their refunds, appeasements,
exchanges, and what needs a person."""

from decimal import Decimal

from domain import events as ev
from domain.errors import InvariantViolation
from domain.order_change import Change, HandlerTable
from domain.order_state import Attention, ExchangeState, LineState, ReturnState
from domain.refusals import address_change_refusal, replacement_refusal, return_refusal

_table = HandlerTable()
_on = _table.on
HANDLERS = _table.handlers


@_on(ev.AddressChanged)
def _address_changed(change: Change, e: ev.AddressChanged) -> None:
    if (refusal := address_change_refusal(change.order)) is not None:
        raise InvariantViolation(str(refusal))
    change.order.ship_to = e.address


@_on(ev.ReturnRequested)
def _return_requested(change: Change, e: ev.ReturnRequested) -> None:
    order = change.order
    if any(r.id == e.return_id for r in order.returns):
        raise InvariantViolation(f"return {e.return_id} exists already")
    if (refusal := return_refusal(order, e.lines)) is not None:
        raise InvariantViolation(str(refusal))
    change.add_return(
        ReturnState(
            id=e.return_id,
            rma=e.rma,
            lines=e.lines,
            method=e.method,
            location_id=e.location_id,
            label=e.label,
            refund_amount=e.refund_amount,
        )
    )


@_on(ev.ReturnReceived)
def _return_received(change: Change, e: ev.ReturnReceived) -> None:
    """Only units the return announced come back, and once."""
    rma = change.return_(e.return_id)
    if rma.status != "requested":
        raise InvariantViolation(f"return {e.return_id} was received already")
    expected = {q.sku: q.quantity for q in rma.lines}
    for unit in e.lines:
        if unit.quantity > expected.get(unit.sku, 0):
            raise InvariantViolation(f"return {e.return_id} did not announce {unit.quantity} x {unit.sku}")
        expected[unit.sku] -= unit.quantity
        change.line(unit.sku).returned += unit.quantity
    rma.status, rma.received = "received", e.lines


@_on(ev.RefundIssued)
def _refunded(change: Change, e: ev.RefundIssued) -> None:
    """A return is refunded once it arrived (or after its refund failed), and only once."""
    if e.return_id is not None:
        rma = change.return_(e.return_id)
        if rma.status not in ("received", "refund_failed"):
            raise InvariantViolation(f"return {e.return_id} is {rma.status}; only a received one is refunded")
        rma.status = "refunded"
    _refund(change, e.amount, e.parts)


@_on(ev.RefundFailed)
def _refund_failed(change: Change, e: ev.RefundFailed) -> None:
    rma = change.return_(e.return_id)
    if rma.status != "received":
        raise InvariantViolation(f"return {e.return_id} is {rma.status}; only a received one awaits refund")
    rma.status = "refund_failed"


@_on(ev.AppeasementGranted)
def _appeased(change: Change, e: ev.AppeasementGranted) -> None:
    _refund(change, e.amount, e.parts)


def _refund(change: Change, amount: Decimal, parts: list[ev.RefundPart]) -> None:
    """Money goes back the way it came: each part against its capture, never beyond what is left of it."""
    if amount < 0 or any(p.amount <= 0 for p in parts):
        raise InvariantViolation(f"a refund gives money back: {amount} in parts {[str(p.amount) for p in parts]}")
    if sum((p.amount for p in parts), Decimal(0)) != amount:
        raise InvariantViolation(f"refund parts do not add up to {amount}")
    for part in parts:
        fo = change.fulfillment_order(part.fulfillment_order_id)
        if part.amount > fo.refundable:
            raise InvariantViolation(f"refund of {part.amount} exceeds {fo.refundable} left on {fo.id}")
        fo.refunded += part.amount
    change.payment.refunded += amount


@_on(ev.ExchangeRequested)
def _exchange_requested(change: Change, e: ev.ExchangeRequested) -> None:
    """The replacement joins the order's lines (a sku new to it as a line of its own), paid for by the return."""
    order = change.order
    if any(x.id == e.exchange_id for x in order.exchanges):
        raise InvariantViolation(f"exchange {e.exchange_id} exists already")
    if order.return_(e.return_id).status != "requested":
        raise InvariantViolation(f"exchange {e.exchange_id} needs a return still to be received")
    if (refusal := replacement_refusal(order, e.lines)) is not None:
        raise InvariantViolation(str(refusal))
    if e.difference > 0 and order.authorization(e.authorization_id).amount < e.difference:
        raise InvariantViolation(f"the difference {e.difference} is not authorized")
    for q in e.lines:
        if order.find_line(q.sku) is None:
            change.add_line(
                LineState(sku=q.sku, unit_price=q.unit_price, ordered=q.quantity, tax_rate=order.added_rate_for(q.sku))
            )
        else:
            change.line(q.sku).ordered += q.quantity
    change.add_exchange(
        ExchangeState(
            id=e.exchange_id,
            return_id=e.return_id,
            lines=e.lines,
            credit=e.credit,
            difference=e.difference,
            authorization_id=e.authorization_id,
        )
    )


@_on(ev.AttentionNeeded)
def _attention_needed(change: Change, e: ev.AttentionNeeded) -> None:
    change.order.attention = Attention(reason=f"{e.step}: {e.reason}", since=e.at)


@_on(ev.AttentionCleared)
def _attention_cleared(change: Change, e: ev.AttentionCleared) -> None:
    change.order.attention = None


@_on(ev.StepFailed)
def _step_failed(change: Change, e: ev.StepFailed) -> None:
    """The timeline shows it; the order itself is unchanged."""
