"""The service rules of an order: why a request of a customer or an agent is refused as the order stands now.

Each rule is a pure function of the order and the request, giving the typed refusal with its reason, or None
when the request may go ahead."""

from collections.abc import Sequence
from decimal import Decimal
from typing import TYPE_CHECKING

from domain.errors import (
    AddressChangeRefused,
    AppeasementRefused,
    ApprovalRefused,
    CancelRefused,
    ExchangeRefused,
    Refusal,
    ReshipRefused,
    ReturnRefused,
    ReviewRefused,
)
from domain.events_service import ExchangeLine
from domain.models import MAX_AMOUNT, MAX_QUANTITY, SkuQuantity
from domain.money import quantize

if TYPE_CHECKING:
    from domain.order import Order


def raise_if(refusal: Refusal | None) -> None:
    """A validator's refusal: the caller hears the reason at once and nothing enters the history."""
    if refusal is not None:
        raise refusal


def cancel_refusal(order: "Order", lines: Sequence[SkuQuantity] | None) -> CancelRefused | None:
    """Why these lines (None: everything still cancelable) cannot be canceled now, or None if they can."""
    if order.status == "pending":
        return CancelRefused("the order is still being placed; try again in a moment")
    if order.is_final:
        return CancelRefused(f"the order is {order.status} and can no longer be canceled")
    wanted = lines if lines is not None else order.cancelable_lines()
    if not wanted:
        return CancelRefused("everything on the order has shipped or is canceled already: use a return")
    if (twice := named_twice(wanted)) is not None:
        return CancelRefused(twice)
    for q in wanted:
        line = order.find_line(q.sku)
        if line is None:
            return CancelRefused(f"the order has no line for {q.sku}")
        exchanged = order.exchange_units_unshipped(q.sku)
        open_units = line.ordered - line.canceled - line.shipped - exchanged
        if q.quantity <= open_units:
            continue
        if exchanged:
            return CancelRefused(
                f"{q.sku}: only {open_units} can be canceled; {exchanged} are an exchange's replacement, "
                "paid for by its return"
            )
        if line.shipped:
            return CancelRefused(
                f"{q.sku}: only {open_units} of {line.ordered} can be canceled; the rest shipped — use a return"
            )
        return CancelRefused(f"{q.sku}: only {open_units} of {line.ordered} can still be canceled")
    return None


def return_refusal(order: "Order", lines: Sequence[SkuQuantity]) -> ReturnRefused | None:
    """Only delivered units come back, each once: not those returned already nor on a return still open."""
    if not lines:
        return ReturnRefused("a return needs at least one line")
    if (twice := named_twice(lines)) is not None:
        return ReturnRefused(twice)
    for q in lines:
        line = order.find_line(q.sku)
        if line is None:
            return ReturnRefused(f"the order has no line for {q.sku}")
        left = order.returnable(q.sku)
        if q.quantity > left:
            return ReturnRefused(
                f"{q.sku}: {q.quantity} asked, but only {left} of {line.delivered} delivered unit(s) can be returned"
            )
    return None


def reship_refusal(order: "Order", lines: Sequence[SkuQuantity]) -> ReshipRefused | None:
    """Lost or damaged units are sent again only for what was delivered and is not returned or resent."""
    if order.status in ("pending", "on_hold") or (order.is_final and order.status != "completed"):
        return ReshipRefused(f"the order is {order.status}: nothing to reship")
    if order.status == "completed":
        return ReshipRefused("the order's service window has closed")
    if (twice := named_twice(lines)) is not None:
        return ReshipRefused(twice)
    for q in lines:
        line = order.find_line(q.sku)
        if line is None:
            return ReshipRefused(f"the order has no line for {q.sku}")
        left = line.delivered - line.returned - _resent(order, q.sku)
        if q.quantity > left:
            return ReshipRefused(f"{q.sku}: {q.quantity} asked, but only {left} delivered unit(s) can be reshipped")
    return None


def replacement_refusal(order: "Order", lines: Sequence[ExchangeLine]) -> ExchangeRefused | None:
    """A replacement is of skus at one price each: a sku on the order keeps the price it was sold at."""
    if not lines:
        return ExchangeRefused("an exchange needs at least one replacement line")
    if (twice := named_twice(lines)) is not None:
        return ExchangeRefused(twice)
    for q in lines:
        if q.unit_price > MAX_AMOUNT or q.quantity > MAX_QUANTITY:
            return ExchangeRefused(
                f"{q.sku}: {q.quantity} at {q.unit_price} is more than an order may come to ({MAX_AMOUNT})"
            )
        if quantize(q.unit_price, order.currency) != q.unit_price:
            return ExchangeRefused(f"{q.sku}: {q.unit_price} has more decimals than {order.currency} allows")
        known = order.find_line(q.sku)
        if known is not None and known.unit_price != q.unit_price:
            return ExchangeRefused(f"{q.sku} is on the order at {known.unit_price}; its replacement is priced the same")
    if (value := order.replacement_value(lines)) + order.payment.authorized > MAX_AMOUNT:
        return ExchangeRefused(
            f"the replacement is worth {value} {order.currency}: with the {order.payment.authorized} authorized "
            f"already, more than an order may come to ({MAX_AMOUNT})"
        )
    return None


def address_change_refusal(order: "Order") -> AddressChangeRefused | None:
    """The address changes only while nothing of the order has left its location, nor is waiting at a store."""
    if order.placed is not None and order.placed.delivery_method == "pickup":
        return AddressChangeRefused("a pickup order is collected at its store and has no delivery address")
    if order.is_final or order.status == "pending":
        return AddressChangeRefused(f"the order is {order.status}; its address can no longer change")
    if order.held:
        return AddressChangeRefused("the order is on hold for review: decide the review first")
    moved = [fo.id for fo in order.fulfillment_orders if fo.status in ("shipped", "delivered", "ready_for_pickup")]
    if moved:
        return AddressChangeRefused(
            f"{', '.join(moved)} already left its location: the address can change only before shipment"
        )
    return None


def review_refusal(order: "Order") -> ReviewRefused | None:
    """A fraud review decides an order held for one; one held only for its account's approver waits for that."""
    if not order.held or order.status != "on_hold":
        return ReviewRefused(f"the order is {order.status}, not on hold for review")
    if order.awaiting_approval and not order.awaiting_review:
        return ReviewRefused("the order waits for its account's approver, not for a fraud review: use its approval")
    return None


def approval_refusal(order: "Order") -> ApprovalRefused | None:
    """An approver decides an order on hold for one; a canceled order's approval is over."""
    if not order.awaiting_approval or order.status != "on_hold":
        return ApprovalRefused(f"the order is {order.status}, not waiting for its account's approver")
    return None


def appeasement_refusal(order: "Order", amount: Decimal) -> AppeasementRefused | None:
    """Goodwill money goes back only out of what was captured and not refunded yet, in the order's currency."""
    if amount <= 0:
        return AppeasementRefused("an appeasement must be a positive amount")
    if quantize(amount, order.currency) != amount:
        return AppeasementRefused(f"{amount} has more decimals than {order.currency} allows")
    if amount > order.refundable:
        return AppeasementRefused(
            f"{amount} is above the {order.refundable} {order.currency} captured and not yet refunded"
        )
    return None


def named_twice(lines: Sequence[SkuQuantity | ExchangeLine]) -> str | None:
    """The reason to refuse a request naming a sku on two lines: each would be checked alone and could overdraw it."""
    seen: set[str] = set()
    for q in lines:
        if q.sku in seen:
            return f"name each sku once: {q.sku} is on two lines; add up the quantities"
        seen.add(q.sku)
    return None


def _resent(order: "Order", sku: str) -> int:
    """Units of the sku sent again already, at no charge."""
    return sum(q.quantity for fo in order.fulfillment_orders if fo.reship for q in fo.lines if q.sku == sku)
