"""One event's change to an order, made copy-on-write so that applying an event costs what it touches.

A part the event writes (a line, a fulfillment order, the payment ...) is copied as it is first written, into a
copy of the list or dict that holds it; nothing else is copied. The parts the order had are never written, so
undoing a refused event only puts the order's own fields back, and whoever still holds a part or a list read
before the event sees it as it was. Handlers therefore write parts only through a Change, and replace a list
inside a part (a fulfillment order's lines) rather than change it in place."""

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

from pydantic import BaseModel

from domain.errors import InvariantViolation
from domain.events_base import Event
from domain.order_state import (
    AuthorizationState,
    ExchangeState,
    FulfillmentOrderState,
    LineState,
    PaymentState,
    ReturnState,
)
from domain.order_status import shipping_status

if TYPE_CHECKING:
    from domain.order import Order

# the order's lists of parts, copied on write
_LISTS = ("lines", "fulfillment_orders", "returns", "exchanges")

Part = TypeVar("Part", bound=BaseModel)
E = TypeVar("E", bound=Event)
Handler = Callable[["Change", Any], None]


class Change:
    """What one event writes of an order: handlers read `order` and write the parts they get from here."""

    def __init__(self, order: "Order") -> None:
        self.order = order
        self._before: dict[str, Any] = {name: getattr(order, name) for name in type(order).model_fields}
        # the parts written, by list and position in it: the invariants are checked on these alone
        self._written: dict[str, dict[int, Any]] = {name: {} for name in _LISTS}
        self._authorizations: set[str] = set()
        self._payment: PaymentState | None = None
        self._own: set[int] = set()  # ids of the parts this change made: written in place from then on

    # -- the parts an event writes -----------------------------------------------------------------
    def line(self, sku: str) -> LineState:
        return self._writable("lines", self.order.line(sku))

    def fulfillment_order(self, fulfillment_order_id: str) -> FulfillmentOrderState:
        return self._writable("fulfillment_orders", self.order.fulfillment_order(fulfillment_order_id))

    def return_(self, return_id: str) -> ReturnState:
        return self._writable("returns", self.order.return_(return_id))

    def exchange(self, exchange_id: str) -> ExchangeState:
        return self._writable("exchanges", self.order.exchange(exchange_id))

    @property
    def payment(self) -> PaymentState:
        if self._payment is None:
            self._payment = self.order.payment = self.order.payment.model_copy()
            self._payment.authorizations = dict(self._payment.authorizations)
        return self._payment

    def authorization(self, authorization_id: str | None) -> AuthorizationState:
        found = self.order.authorization(authorization_id)
        assert authorization_id is not None  # the order has no authorization under None
        if id(found) in self._own:
            return found
        written = self.payment.authorizations[authorization_id] = self._made(found.model_copy())
        self._authorizations.add(authorization_id)
        return written

    def add_line(self, line: LineState) -> None:
        self._append("lines", line)

    def add_fulfillment_order(self, fo: FulfillmentOrderState) -> None:
        self._append("fulfillment_orders", fo)

    def add_return(self, rma: ReturnState) -> None:
        self._append("returns", rma)

    def add_exchange(self, exchange: ExchangeState) -> None:
        self._append("exchanges", exchange)

    def add_authorization(self, authorization_id: str, authorization: AuthorizationState) -> None:
        self.payment.authorizations[authorization_id] = self._made(authorization)
        self._authorizations.add(authorization_id)

    def follow_fulfillment(self) -> None:
        """The order's status and backorder as its fulfillment orders and lines now have them."""
        self.order.status, self.order.backordered_until = shipping_status(self.order)

    # -- accepting or undoing it -------------------------------------------------------------------
    def check_invariants(self) -> None:
        """The invariants of what this change wrote; the parts it did not write kept theirs."""
        if self._payment is not None:
            _check_payment(self._payment, self._authorizations)
        exchanges: list[ExchangeState] = _by_position(self._written["exchanges"])
        for exchange in exchanges:
            if exchange.charged > exchange.charge:
                raise InvariantViolation(f"exchange {exchange.id} would charge {exchange.charged} > {exchange.charge}")
        lines: list[LineState] = _by_position(self._written["lines"])
        for line in lines:
            _check_line(line)

    def undo(self) -> None:
        """Put the order's own fields back: the lists and parts they held were never written."""
        for name, value in self._before.items():
            if getattr(self.order, name) is not value:
                setattr(self.order, name, value)

    # -- copy on write ------------------------------------------------------------------------------
    def _writable(self, field: str, part: Part) -> Part:
        if id(part) in self._own:
            return part
        items = self._list(field)
        position = next(i for i, item in enumerate(items) if item is part)
        written = items[position] = self._made(part.model_copy())
        self._written[field][position] = written
        return written

    def _append(self, field: str, part: BaseModel) -> None:
        items = self._list(field)
        self._written[field][len(items)] = part
        items.append(self._made(part))

    def _list(self, field: str) -> list[Any]:
        """The order's list, copied on its first write in this change: a list read before keeps what it held."""
        items: list[Any] = getattr(self.order, field)
        if items is self._before[field]:
            items = list(items)
            setattr(self.order, field, items)
        return items

    def _made(self, part: Part) -> Part:
        self._own.add(id(part))  # the part stays referenced by the order, so its id is not reused meanwhile
        return part


class HandlerTable:
    """Event class -> the function that applies such an event to a Change."""

    def __init__(self) -> None:
        self.handlers: dict[type[Event], Handler] = {}

    def on(self, event_type: type[E]) -> Callable[[Callable[[Change, E], None]], Callable[[Change, E], None]]:
        def register(handler: Callable[[Change, E], None]) -> Callable[[Change, E], None]:
            if event_type in self.handlers:
                raise TypeError(f"{event_type.__name__} has a handler already")
            self.handlers[event_type] = handler
            return handler

        return register


def _by_position(written: dict[int, Part]) -> list[Part]:
    """In the order they sit on the order, as a check of the whole order would come across them."""
    return [written[i] for i in sorted(written)]


def _check_payment(p: PaymentState, written: set[str]) -> None:
    if p.captured + p.voided > p.authorized:
        raise InvariantViolation(f"captured {p.captured} plus voided {p.voided} would exceed authorized {p.authorized}")
    if p.refunded > p.captured:
        raise InvariantViolation(f"refunded {p.refunded} would exceed captured {p.captured}")
    for auth_id, auth in p.authorizations.items():
        if auth_id in written and auth.capturable < 0:
            raise InvariantViolation(f"authorization {auth_id} would be captured or voided beyond {auth.amount}")


def _check_line(line: LineState) -> None:
    if line.unallocated < 0:
        raise InvariantViolation(
            f"{line.sku}: canceled {line.canceled} + allocated {line.allocated} exceed ordered {line.ordered}"
        )
    if not line.returned <= line.delivered <= line.shipped <= line.allocated:
        raise InvariantViolation(
            f"{line.sku}: needs returned <= delivered <= shipped <= allocated, got "
            f"{line.returned}/{line.delivered}/{line.shipped}/{line.allocated}"
        )
