"""The Order aggregate: state rebuilt from events, with its invariants checked on every apply.

Its parts are in domain/order_state.py; how each event changes it in domain/order_checkout.py,
order_fulfillment.py and order_service.py; its status in domain/order_status.py and its service rules in
domain/refusals.py. The parts and the status names are importable from here too."""

from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal

from pydantic import BaseModel, Field

from domain import events as ev
from domain import order_checkout, order_fulfillment, order_service, refusals
from domain.errors import InvariantViolation, Refusal
from domain.models import Address, PlaceOrder, SkuQuantity
from domain.money import quantize
from domain.order_change import Change
from domain.order_state import (
    CLOSED_FULFILLMENT,
    Attention,
    AuthorizationState,
    ExchangeState,
    FulfillmentOrderState,
    FulfillmentStatus,
    LineState,
    PaymentState,
    ReturnState,
)
from domain.order_status import FINAL_STATUSES, OrderStatus
from domain.tax import added_tax

# event class -> how such an event changes the order
HANDLERS = {**order_checkout.HANDLERS, **order_fulfillment.HANDLERS, **order_service.HANDLERS}

__all__ = [
    "CLOSED_FULFILLMENT",
    "FINAL_STATUSES",
    "Attention",
    "AuthorizationState",
    "ExchangeState",
    "FulfillmentOrderState",
    "FulfillmentStatus",
    "LineState",
    "Order",
    "OrderStatus",
    "PaymentState",
    "ReturnState",
]


class Order(BaseModel):
    """Everything the order is, derived only from its events."""

    order_id: str
    status: OrderStatus = "pending"
    placed: PlaceOrder | None = None
    fraud_score: int | None = None
    lines: list[LineState] = []
    fulfillment_orders: list[FulfillmentOrderState] = []
    returns: list[ReturnState] = []
    exchanges: list[ExchangeState] = []
    backordered_until: datetime | None = None
    # reserved, not yet handed to any location: waiting for a fraud review, its account's approver, or both
    held: bool = False
    awaiting_review: bool = False
    awaiting_approval: bool = False
    ship_to: Address | None = None  # where it goes now: the checkout's address unless changed since
    payment: PaymentState = Field(default_factory=PaymentState)
    attention: Attention | None = None  # why a person must look, and since when
    version: int = 0

    @classmethod
    def from_events(cls, order_id: str, history: list[ev.OrderEvent]) -> "Order":
        order = cls(order_id=order_id)
        for event in history:
            order.apply(event)
        return order

    # -- reading ---------------------------------------------------------------------------
    @property
    def currency(self) -> str:
        return self.placed.currency if self.placed else "XXX"

    @property
    def total(self) -> Decimal:
        return self.placed.total if self.placed else Decimal(0)

    def line(self, sku: str) -> LineState:
        line = self.find_line(sku)
        if line is None:
            raise InvariantViolation(f"order {self.order_id} has no line for sku {sku}")
        return line

    def find_line(self, sku: str) -> LineState | None:
        return next((line for line in self.lines if line.sku == sku), None)

    def fulfillment_order(self, fulfillment_order_id: str) -> FulfillmentOrderState:
        for fo in self.fulfillment_orders:
            if fo.id == fulfillment_order_id:
                return fo
        raise InvariantViolation(f"order {self.order_id} has no fulfillment order {fulfillment_order_id}")

    def amount_of(self, lines: list[SkuQuantity]) -> Decimal:
        """What the units cost the customer: their prices, and the tax added on top where prices are quoted without
        it, rounded once per rate for these units (as their shipment's invoice or their refund's credit memo)."""
        priced = [(self.line(q.sku), q.quantity) for q in lines]
        total = quantize(sum((line.unit_price * n for line, n in priced), Decimal(0)), self.currency)
        return total + added_tax(((line.tax_rate, line.unit_price * n) for line, n in priced), self.currency)

    def added_rate_for(self, sku: str) -> Decimal | None:
        """The rate added on top of a sku's price: its line's, or for a sku new to the order (an exchange's
        replacement) the highest the order's lines were quoted; None where prices have their tax in them."""
        line = self.find_line(sku)
        if line is not None:
            return line.tax_rate
        return max((ln.tax_rate for ln in self.lines if ln.tax_rate is not None), default=None)

    @property
    def is_final(self) -> bool:
        return self.status in FINAL_STATUSES

    @property
    def delivery_address(self) -> Address | None:
        return self.ship_to or (self.placed.shipping_address if self.placed else None)

    def authorization(self, authorization_id: str | None) -> AuthorizationState:
        if authorization_id is None or authorization_id not in self.payment.authorizations:
            raise InvariantViolation(f"order {self.order_id} has no authorization {authorization_id}")
        return self.payment.authorizations[authorization_id]

    def exchange(self, exchange_id: str) -> ExchangeState:
        for exchange in self.exchanges:
            if exchange.id == exchange_id:
                return exchange
        raise InvariantViolation(f"order {self.order_id} has no exchange {exchange_id}")

    def return_(self, return_id: str) -> ReturnState:
        for rma in self.returns:
            if rma.id == return_id:
                return rma
        raise InvariantViolation(f"order {self.order_id} has no return {return_id}")

    def replacement_value(self, lines: Sequence[ev.ExchangeLine]) -> Decimal:
        total = quantize(sum((q.unit_price * q.quantity for q in lines), Decimal(0)), self.currency)
        return total + added_tax(
            ((self.added_rate_for(q.sku), q.unit_price * q.quantity) for q in lines), self.currency
        )

    def charge_for(self, fo: FulfillmentOrderState) -> tuple[Decimal, str | None]:
        """What shipping a fulfillment order captures, and against which authorization: a reship nothing, an
        exchange's replacement what is left of its difference, any other its lines' value."""
        if fo.reship:
            return Decimal(0), None
        if fo.exchange_id is None:
            amount, auth_id = self.amount_of(fo.lines), self.payment.authorization_id
            if auth_id is not None and any(line.tax_rate is not None for line in self.lines):
                # each shipment rounds its own added tax: the last may find a minor unit less left than it rounds to
                amount = min(amount, self.authorization(auth_id).capturable)
            return amount, auth_id
        exchange = self.exchange(fo.exchange_id)
        return min(self.amount_of(fo.lines), exchange.charge - exchange.charged), exchange.authorization_id

    def exchange_units_unshipped(self, sku: str) -> int:
        """Replacement units of the sku not yet shipped: kept out of a cancel, the return pays for them."""
        promised = sum(q.quantity for x in self.exchanges for q in x.lines if q.sku == sku)
        shipped = sum(
            q.quantity
            for fo in self.fulfillment_orders
            if fo.exchange_id is not None and fo.status in ("shipped", "delivered")
            for q in fo.lines
            if q.sku == sku
        )
        line = self.line(sku)
        return max(0, min(promised - shipped, line.ordered - line.canceled - line.shipped))

    def returnable(self, sku: str) -> int:
        """Delivered units of the sku not yet returned nor on an open return."""
        line = self.line(sku)
        pending = sum(q.quantity for r in self.returns if r.status == "requested" for q in r.lines if q.sku == sku)
        return line.delivered - line.returned - pending

    @property
    def refundable(self) -> Decimal:
        return self.payment.captured - self.payment.refunded

    def refund_parts(self, amount: Decimal, prefer_skus: set[str] | None = None) -> list[ev.RefundPart]:
        """Split a refund over the captures, those that shipped the preferred skus first, then in order."""

        def preference(fo: FulfillmentOrderState) -> int:
            return 0 if prefer_skus and any(q.sku in prefer_skus for q in fo.lines) else 1

        parts, left = [], amount
        for fo in sorted(self.fulfillment_orders, key=preference):
            if left <= 0:
                break
            take = min(left, fo.refundable)
            if take > 0 and fo.capture_id is not None:
                parts.append(ev.RefundPart(fulfillment_order_id=fo.id, transaction_id=fo.capture_id, amount=take))
                left -= take
        if left > 0:
            raise InvariantViolation(f"only {amount - left} of {amount} can be refunded")
        return parts

    def unallocated_lines(self) -> list[SkuQuantity]:
        return [SkuQuantity(sku=ln.sku, quantity=ln.unallocated) for ln in self.lines if ln.unallocated > 0]

    def cancelable_lines(self, *, include_exchanges: bool = False) -> list[SkuQuantity]:
        """Units not shipped yet; an exchange's replacement only when everything stops (`include_exchanges`)."""
        wanted = []
        for line in self.lines:
            left = line.ordered - line.canceled - line.shipped
            if not include_exchanges:
                left -= self.exchange_units_unshipped(line.sku)
            if left > 0:
                wanted.append(SkuQuantity(sku=line.sku, quantity=left))
        return wanted

    # -- service rules, as the reasons a person reads (domain/refusals.py has them typed) ----------
    def cancel_refusal(self, lines: list[SkuQuantity] | None) -> str | None:
        """Why these lines (None: everything still cancelable) cannot be canceled now, or None if they can."""
        return _reason(refusals.cancel_refusal(self, lines))

    def return_refusal(self, lines: list[SkuQuantity]) -> str | None:
        return _reason(refusals.return_refusal(self, lines))

    def reship_refusal(self, lines: list[SkuQuantity]) -> str | None:
        """Lost or damaged units are sent again only for what was delivered and is not returned or resent."""
        return _reason(refusals.reship_refusal(self, lines))

    def replacement_refusal(self, lines: list[ev.ExchangeLine]) -> str | None:
        """A replacement is of skus at one price each: a sku on the order keeps the price it was sold at."""
        return _reason(refusals.replacement_refusal(self, lines))

    def address_change_refusal(self) -> str | None:
        return _reason(refusals.address_change_refusal(self))

    def appeasement_refusal(self, amount: Decimal) -> str | None:
        return _reason(refusals.appeasement_refusal(self, amount))

    # -- changing --------------------------------------------------------------------------
    def apply(self, event: ev.OrderEvent) -> None:
        """Apply one event, or raise InvariantViolation and leave the order unchanged. Only the parts the event
        writes are copied, and the parts read before it keep what they had (domain/order_change.py)."""
        change = Change(self)
        try:
            HANDLERS[type(event)](change, event)
            change.check_invariants()
        except BaseException:
            change.undo()
            raise
        self.version += 1


def _reason(refusal: Refusal | None) -> str | None:
    return None if refusal is None else str(refusal)
