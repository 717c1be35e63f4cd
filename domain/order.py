"""The Order aggregate: state rebuilt from events, with its invariants checked on every apply."""

from collections.abc import Sequence
from datetime import date, datetime
from decimal import Decimal
from typing import Literal

from pydantic import BaseModel, Field

from domain import events as ev
from domain.errors import InvariantViolation
from domain.models import MAX_AMOUNT, MAX_QUANTITY, Address, PlaceOrder, SkuQuantity
from domain.money import quantize

OrderStatus = Literal[
    "pending",
    "on_hold",
    "accepted",
    "backordered",
    "ready_for_pickup",
    "partially_shipped",
    "shipped",
    "delivered",
    "completed",
    "payment_declined",
    "unavailable",
    "canceled",
]
FINAL_STATUSES: frozenset[str] = frozenset({"completed", "payment_declined", "unavailable", "canceled"})


class LineState(BaseModel):
    sku: str
    unit_price: Decimal
    ordered: int
    allocated: int = 0
    shipped: int = 0
    delivered: int = 0
    canceled: int = 0
    returned: int = 0

    @property
    def unallocated(self) -> int:
        return self.ordered - self.canceled - self.allocated


FulfillmentStatus = Literal["released", "ready_for_pickup", "shipped", "delivered", "canceled", "rejected", "withdrawn"]
# fulfillment orders that no longer hold or move any units
CLOSED_FULFILLMENT: frozenset[str] = frozenset({"canceled", "rejected", "withdrawn"})


class FulfillmentOrderState(BaseModel):
    id: str
    location_id: str
    lines: list[SkuQuantity]
    status: FulfillmentStatus = "released"
    carrier: str | None = None
    tracking_number: str | None = None
    captured: Decimal = Decimal(0)
    capture_id: str | None = None
    refunded: Decimal = Decimal(0)
    invoice_id: str | None = None
    promised_date: date | None = None
    reship: bool = False  # units sent again at no charge: not counted on the order's lines
    exchange_id: str | None = None  # the replacement of an exchange: charged only beyond the returned value

    @property
    def refundable(self) -> Decimal:
        return self.captured - self.refunded

    @property
    def open(self) -> bool:
        """Still to leave its location: released to it, or waiting there for the customer."""
        return self.status in ("released", "ready_for_pickup")


class ReturnState(BaseModel):
    id: str
    rma: str
    lines: list[SkuQuantity]
    method: str
    location_id: str
    label: str | None
    refund_amount: Decimal
    status: Literal["requested", "received", "refunded", "refund_failed"] = "requested"
    received: list[ev.ReturnedLine] = []


class ExchangeState(BaseModel):
    id: str
    return_id: str
    lines: list[ev.ExchangeLine]
    credit: Decimal
    difference: Decimal
    authorization_id: str | None
    charged: Decimal = Decimal(0)

    @property
    def charge(self) -> Decimal:
        """What the replacement costs beyond the returned units, captured as it ships."""
        return max(self.difference, Decimal(0))


class AuthorizationState(BaseModel):
    amount: Decimal
    captured: Decimal = Decimal(0)
    voided: Decimal = Decimal(0)
    expires_at: datetime | None = None

    @property
    def capturable(self) -> Decimal:
        return self.amount - self.captured - self.voided


class PaymentState(BaseModel):
    authorization_id: str | None = None  # the checkout's; an exchange may add its own in `authorizations`
    authorized: Decimal = Decimal(0)
    captured: Decimal = Decimal(0)
    refunded: Decimal = Decimal(0)
    voided: Decimal = Decimal(0)
    authorizations: dict[str, AuthorizationState] = {}

    @property
    def capturable(self) -> Decimal:
        return self.authorized - self.captured - self.voided

    def open_authorizations(self) -> list[str]:
        """Authorizations with money still held on the customer's card, checkout's first."""
        return [auth_id for auth_id, auth in self.authorizations.items() if auth.capturable > 0]


class Attention(BaseModel):
    reason: str
    since: datetime


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
    held: bool = False  # waiting for a fraud review: reserved, not yet handed to any location
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
        total = sum((self.line(q.sku).unit_price * q.quantity for q in lines), Decimal(0))
        return quantize(total, self.currency)

    @property
    def is_final(self) -> bool:
        return self.status in FINAL_STATUSES

    # -- changing --------------------------------------------------------------------------
    def apply(self, event: ev.OrderEvent) -> None:
        """Apply one event, or raise InvariantViolation and leave the order unchanged."""
        draft = self.model_copy(deep=True)
        draft._mutate(event)
        draft._check_invariants()
        draft.version += 1
        for name in type(self).model_fields:
            setattr(self, name, getattr(draft, name))

    def _mutate(self, event: ev.OrderEvent) -> None:
        match event:
            case ev.OrderPlaced(order=placed):
                if self.placed is not None:
                    raise InvariantViolation("order already placed")
                self.placed = placed
                self.lines = [
                    LineState(sku=ln.sku, unit_price=ln.unit_price, ordered=ln.quantity) for ln in placed.lines
                ]
            case ev.FraudScreened(score=score):
                self.fraud_score = score
            case ev.PaymentAuthorized(authorization_id=auth_id, amount=amount):
                if auth_id in self.payment.authorizations:
                    raise InvariantViolation(f"authorization {auth_id} is recorded already")
                self.payment.authorization_id = self.payment.authorization_id or auth_id
                self.payment.authorizations[auth_id] = AuthorizationState(amount=amount, expires_at=event.expires_at)
                self.payment.authorized += amount
            case ev.AuthorizationRenewed(expiring_id=old_id, authorization_id=new_id, amount=amount):
                self._renew(old_id, new_id, amount, event.expires_at)
            case ev.AttentionNeeded(step=step, reason=reason, at=at):
                self.attention = Attention(reason=f"{step}: {reason}", since=at)
            case ev.AttentionCleared():
                self.attention = None
            case ev.PartnerAskedAgain():
                pass  # the timeline shows it
            case ev.PaymentDeclined():
                self.status = "payment_declined"
            case ev.InventoryReserved(lines=lines, reship=reship):
                for q in lines:
                    self.line(q.sku)  # a reship, too, is of the order's own skus
                    if not reship:
                        self.line(q.sku).allocated += q.quantity
            case ev.OrderUnavailable():
                self.status = "unavailable"
            case ev.AuthorizationVoided(authorization_id=auth_id, amount=amount):
                self._authorization(auth_id).voided += amount
                self.payment.voided += amount
            case ev.FulfillmentOrderCreated(
                fulfillment_order_id=fo_id, location_id=loc, lines=lines, promised_date=promised
            ):
                if any(fo.id == fo_id for fo in self.fulfillment_orders):
                    raise InvariantViolation(f"fulfillment order {fo_id} exists already")
                if event.exchange_id is not None:
                    self.exchange(event.exchange_id)
                self.fulfillment_orders.append(
                    FulfillmentOrderState(
                        id=fo_id,
                        location_id=loc,
                        lines=lines,
                        promised_date=promised,
                        reship=event.reship,
                        exchange_id=event.exchange_id,
                    )
                )
                self._derive_shipping_status()
            case ev.FulfillmentOrderRejected(fulfillment_order_id=fo_id):
                self._take_back(fo_id, "rejected")
            case ev.LinesBackordered(until=until):
                self.backordered_until = until
                self._derive_shipping_status()
            case ev.ReadyForPickup(fulfillment_order_id=fo_id):
                fo = self.fulfillment_order(fo_id)
                if fo.status != "released":
                    raise InvariantViolation(f"{fo_id} is {fo.status}, it cannot become ready for pickup")
                fo.status = "ready_for_pickup"
                self._derive_shipping_status()
            case ev.PickedUp(fulfillment_order_id=fo_id):
                fo = self.fulfillment_order(fo_id)
                if fo.status != "ready_for_pickup":
                    raise InvariantViolation(f"{fo_id} is {fo.status}, it cannot be picked up")
                fo.status = "delivered"
                for q in fo.lines:
                    self.line(q.sku).shipped += q.quantity
                    self.line(q.sku).delivered += q.quantity
                self._derive_shipping_status()
            case ev.ShipmentShipped(fulfillment_order_id=fo_id, carrier=carrier, tracking_number=tracking):
                fo = self.fulfillment_order(fo_id)
                if fo.status != "released":
                    raise InvariantViolation(f"{fo_id} is {fo.status}, it cannot ship again")
                fo.status, fo.carrier, fo.tracking_number = "shipped", carrier, tracking
                for q in fo.lines if not fo.reship else []:
                    self.line(q.sku).shipped += q.quantity
                self._derive_shipping_status()
            case ev.PaymentCaptured(fulfillment_order_id=fo_id, amount=amount, transaction_id=tx_id):
                fo = self.fulfillment_order(fo_id)
                fo.captured += amount
                fo.capture_id = tx_id
                self._authorization(event.authorization_id or self.payment.authorization_id).captured += amount
                if fo.exchange_id is not None:
                    self.exchange(fo.exchange_id).charged += amount
                self.payment.captured += amount
            case ev.InvoiceIssued(fulfillment_order_id=fo_id, invoice_id=invoice_id):
                self.fulfillment_order(fo_id).invoice_id = invoice_id
            case ev.ShipmentDelivered(fulfillment_order_id=fo_id):
                fo = self.fulfillment_order(fo_id)
                if fo.status != "shipped":
                    raise InvariantViolation(f"{fo_id} is {fo.status}, it cannot be delivered")
                fo.status = "delivered"
                for q in fo.lines if not fo.reship else []:
                    self.line(q.sku).delivered += q.quantity
                self._derive_shipping_status()
            case ev.ItemsCanceled(lines=lines):
                self._cancel(lines)
            case ev.OrderCompleted():
                self.status = "completed"
            case ev.ReturnRequested() as requested:
                self._request_return(requested)
            case ev.ReturnReceived(return_id=return_id, lines=received):
                self._receive_return(return_id, received)
            case ev.RefundIssued(return_id=return_id, amount=amount, parts=parts):
                if return_id is not None:
                    rma = self.return_(return_id)
                    if rma.status not in ("received", "refund_failed"):
                        raise InvariantViolation(f"return {return_id} is {rma.status}; only a received one is refunded")
                    rma.status = "refunded"
                self._refund(amount, parts)
            case ev.AppeasementGranted(amount=amount, parts=parts):
                self._refund(amount, parts)
            case ev.ExchangeRequested() as requested:
                self._exchange(requested)
            case ev.RefundFailed(return_id=return_id):
                rma = self.return_(return_id)
                if rma.status != "received":
                    raise InvariantViolation(f"return {return_id} is {rma.status}; only a received one awaits refund")
                rma.status = "refund_failed"
            case ev.StepFailed():
                pass  # the timeline shows it; the order itself is unchanged
            case ev.AddressChanged(address=address):
                refusal = self.address_change_refusal()
                if refusal is not None:
                    raise InvariantViolation(refusal)
                self.ship_to = address
            case ev.FulfillmentOrderWithdrawn(fulfillment_order_id=fo_id):
                self._take_back(fo_id, "withdrawn")
            case ev.OrderHeld():
                if not self.fulfillment_orders:
                    raise InvariantViolation("only an allocated order can be held for review")
                self.held = True
                self.status = "on_hold"
            case ev.ReviewDecided(approved=approved):
                if not self.held:
                    raise InvariantViolation("the order is not held for review")
                self.held = False
                if approved:
                    self._derive_shipping_status()

    def _renew(self, old_id: str, new_id: str, amount: Decimal, expires_at: datetime | None) -> None:
        """The expiring authorization's capturable amount moves to the new one, which takes its place for the
        checkout or the exchange it paid for; the gateway voids the old one."""
        old = self._authorization(old_id)
        if amount != old.capturable:
            raise InvariantViolation(f"renewal of {old_id} must carry its {old.capturable} left, not {amount}")
        if new_id in self.payment.authorizations:
            raise InvariantViolation(f"authorization {new_id} is recorded already")
        old.voided += amount
        self.payment.voided += amount
        self.payment.authorizations[new_id] = AuthorizationState(amount=amount, expires_at=expires_at)
        self.payment.authorized += amount
        if self.payment.authorization_id == old_id:
            self.payment.authorization_id = new_id
        for exchange in self.exchanges:
            if exchange.authorization_id == old_id:
                exchange.authorization_id = new_id

    def _authorization(self, auth_id: str | None) -> AuthorizationState:
        if auth_id is None or auth_id not in self.payment.authorizations:
            raise InvariantViolation(f"order {self.order_id} has no authorization {auth_id}")
        return self.payment.authorizations[auth_id]

    def _exchange(self, requested: ev.ExchangeRequested) -> None:
        if any(x.id == requested.exchange_id for x in self.exchanges):
            raise InvariantViolation(f"exchange {requested.exchange_id} exists already")
        if self.return_(requested.return_id).status != "requested":
            raise InvariantViolation(f"exchange {requested.exchange_id} needs a return still to be received")
        refusal = self.replacement_refusal(requested.lines)
        if refusal is not None:
            raise InvariantViolation(refusal)
        if requested.difference > 0 and self._authorization(requested.authorization_id).amount < requested.difference:
            raise InvariantViolation(f"the difference {requested.difference} is not authorized")
        for q in requested.lines:
            known = self.find_line(q.sku)
            if known is None:
                self.lines.append(LineState(sku=q.sku, unit_price=q.unit_price, ordered=q.quantity))
            else:
                known.ordered += q.quantity
        self.exchanges.append(
            ExchangeState(
                id=requested.exchange_id,
                return_id=requested.return_id,
                lines=requested.lines,
                credit=requested.credit,
                difference=requested.difference,
                authorization_id=requested.authorization_id,
            )
        )

    def _take_back(self, fo_id: str, status: Literal["rejected", "withdrawn"]) -> None:
        """A released fulfillment order comes back from its location: its units are unallocated again."""
        fo = self.fulfillment_order(fo_id)
        if fo.status != "released":
            raise InvariantViolation(f"{fo_id} is {fo.status}; only a released one can be {status}")
        fo.status = status
        for q in fo.lines if not fo.reship else []:  # a reship's units were never the order's allocation
            self.line(q.sku).allocated -= q.quantity
        self._derive_shipping_status()

    def _cancel(self, lines: list[SkuQuantity]) -> None:
        for q in lines:
            line = self.line(q.sku)
            # unallocated (backordered) units go first: canceling them releases nothing
            from_unallocated = min(q.quantity, line.unallocated)
            line.canceled += q.quantity
            # the rest come off fulfillment orders that have not left their location
            from_allocated = min(q.quantity - from_unallocated, line.allocated - line.shipped)
            line.allocated -= from_allocated
            for fo in self.fulfillment_orders:
                if from_allocated == 0 or not fo.open or fo.reship:
                    continue
                kept = []
                for held in fo.lines:
                    taken = min(held.quantity, from_allocated) if held.sku == q.sku else 0
                    from_allocated -= taken
                    if held.quantity > taken:
                        kept.append(SkuQuantity(sku=held.sku, quantity=held.quantity - taken))
                fo.lines = kept
                if not fo.lines:
                    fo.status = "canceled"
        if all(line.canceled == line.ordered for line in self.lines):
            self.status = "canceled"
        elif self.fulfillment_orders:
            self._derive_shipping_status()

    def _request_return(self, requested: ev.ReturnRequested) -> None:
        if any(r.id == requested.return_id for r in self.returns):
            raise InvariantViolation(f"return {requested.return_id} exists already")
        refusal = self.return_refusal(requested.lines)
        if refusal is not None:
            raise InvariantViolation(refusal)
        self.returns.append(
            ReturnState(
                id=requested.return_id,
                rma=requested.rma,
                lines=requested.lines,
                method=requested.method,
                location_id=requested.location_id,
                label=requested.label,
                refund_amount=requested.refund_amount,
            )
        )

    def _receive_return(self, return_id: str, received: list[ev.ReturnedLine]) -> None:
        rma = self.return_(return_id)
        if rma.status != "requested":
            raise InvariantViolation(f"return {return_id} was received already")
        expected = {q.sku: q.quantity for q in rma.lines}
        for unit in received:
            if unit.quantity > expected.get(unit.sku, 0):
                raise InvariantViolation(f"return {return_id} did not announce {unit.quantity} x {unit.sku}")
            expected[unit.sku] -= unit.quantity
            self.line(unit.sku).returned += unit.quantity
        rma.status, rma.received = "received", received

    def _refund(self, amount: Decimal, parts: list[ev.RefundPart]) -> None:
        if amount < 0 or any(p.amount <= 0 for p in parts):
            raise InvariantViolation(f"a refund gives money back: {amount} in parts {[str(p.amount) for p in parts]}")
        if sum((p.amount for p in parts), Decimal(0)) != amount:
            raise InvariantViolation(f"refund parts do not add up to {amount}")
        for part in parts:
            fo = self.fulfillment_order(part.fulfillment_order_id)
            if part.amount > fo.refundable:
                raise InvariantViolation(f"refund of {part.amount} exceeds {fo.refundable} left on {fo.id}")
            fo.refunded += part.amount
        self.payment.refunded += amount

    @property
    def delivery_address(self) -> Address | None:
        return self.ship_to or (self.placed.shipping_address if self.placed else None)

    # -- service rules -----------------------------------------------------------------------
    def reship_refusal(self, lines: list[SkuQuantity]) -> str | None:
        """Lost or damaged units are sent again only for what was delivered and is not returned or resent."""
        if self.status in ("pending", "on_hold") or (self.is_final and self.status != "completed"):
            return f"the order is {self.status}: nothing to reship"
        if self.status == "completed":
            return "the order's service window has closed"
        if (twice := _named_twice(lines)) is not None:
            return twice
        for q in lines:
            line = self.find_line(q.sku)
            if line is None:
                return f"the order has no line for {q.sku}"
            resent = sum(r.quantity for fo in self.fulfillment_orders if fo.reship for r in fo.lines if r.sku == q.sku)
            left = line.delivered - line.returned - resent
            if q.quantity > left:
                return f"{q.sku}: {q.quantity} asked, but only {left} delivered unit(s) can be reshipped"
        return None

    def exchange(self, exchange_id: str) -> ExchangeState:
        for exchange in self.exchanges:
            if exchange.id == exchange_id:
                return exchange
        raise InvariantViolation(f"order {self.order_id} has no exchange {exchange_id}")

    def replacement_refusal(self, lines: list[ev.ExchangeLine]) -> str | None:
        """A replacement is of skus at one price each: a sku on the order keeps the price it was sold at."""
        if not lines:
            return "an exchange needs at least one replacement line"
        if (twice := _named_twice(lines)) is not None:
            return twice
        for q in lines:
            if q.unit_price > MAX_AMOUNT or q.quantity > MAX_QUANTITY:
                return f"{q.sku}: {q.quantity} at {q.unit_price} is more than an order may come to ({MAX_AMOUNT})"
            if quantize(q.unit_price, self.currency) != q.unit_price:
                return f"{q.sku}: {q.unit_price} has more decimals than {self.currency} allows"
            known = self.find_line(q.sku)
            if known is not None and known.unit_price != q.unit_price:
                return f"{q.sku} is on the order at {known.unit_price}; its replacement is priced the same"
        if (value := self.replacement_value(lines)) + self.payment.authorized > MAX_AMOUNT:
            return (
                f"the replacement is worth {value} {self.currency}: with the {self.payment.authorized} authorized "
                f"already, more than an order may come to ({MAX_AMOUNT})"
            )
        return None

    def replacement_value(self, lines: list[ev.ExchangeLine]) -> Decimal:
        return quantize(sum((q.unit_price * q.quantity for q in lines), Decimal(0)), self.currency)

    def charge_for(self, fo: FulfillmentOrderState) -> tuple[Decimal, str | None]:
        """What shipping a fulfillment order captures, and against which authorization: a reship nothing, an
        exchange's replacement what is left of its difference, any other its lines' value."""
        if fo.reship:
            return Decimal(0), None
        if fo.exchange_id is None:
            return self.amount_of(fo.lines), self.payment.authorization_id
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

    def address_change_refusal(self) -> str | None:
        if self.placed is not None and self.placed.delivery_method == "pickup":
            return "a pickup order is collected at its store and has no delivery address"
        if self.is_final or self.status == "pending":
            return f"the order is {self.status}; its address can no longer change"
        if self.held:
            return "the order is on hold for review: decide the review first"
        moved = [fo.id for fo in self.fulfillment_orders if fo.status in ("shipped", "delivered", "ready_for_pickup")]
        if moved:
            return f"{', '.join(moved)} already left its location: the address can change only before shipment"
        return None

    def return_(self, return_id: str) -> ReturnState:
        for rma in self.returns:
            if rma.id == return_id:
                return rma
        raise InvariantViolation(f"order {self.order_id} has no return {return_id}")

    def returnable(self, sku: str) -> int:
        """Delivered units of the sku not yet returned nor on an open return."""
        line = self.line(sku)
        pending = sum(q.quantity for r in self.returns if r.status == "requested" for q in r.lines if q.sku == sku)
        return line.delivered - line.returned - pending

    def return_refusal(self, lines: list[SkuQuantity]) -> str | None:
        if not lines:
            return "a return needs at least one line"
        if (twice := _named_twice(lines)) is not None:
            return twice
        for q in lines:
            if self.find_line(q.sku) is None:
                return f"the order has no line for {q.sku}"
            left = self.returnable(q.sku)
            if q.quantity > left:
                delivered = self.line(q.sku).delivered
                return f"{q.sku}: {q.quantity} asked, but only {left} of {delivered} delivered unit(s) can be returned"
        return None

    @property
    def refundable(self) -> Decimal:
        return self.payment.captured - self.payment.refunded

    def appeasement_refusal(self, amount: Decimal) -> str | None:
        if amount <= 0:
            return "an appeasement must be a positive amount"
        if quantize(amount, self.currency) != amount:
            return f"{amount} has more decimals than {self.currency} allows"
        if amount > self.refundable:
            return f"{amount} is above the {self.refundable} {self.currency} captured and not yet refunded"
        return None

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

    def cancel_refusal(self, lines: list[SkuQuantity] | None) -> str | None:
        """Why these lines (None: everything still cancelable) cannot be canceled now, or None if they can."""
        if self.status == "pending":
            return "the order is still being placed; try again in a moment"
        if self.is_final:
            return f"the order is {self.status} and can no longer be canceled"
        wanted = lines if lines is not None else self.cancelable_lines()
        if not wanted:
            return "everything on the order has shipped or is canceled already: use a return"
        if (twice := _named_twice(wanted)) is not None:
            return twice
        for q in wanted:
            line = self.find_line(q.sku)
            if line is None:
                return f"the order has no line for {q.sku}"
            exchanged = self.exchange_units_unshipped(q.sku)
            open_units = line.ordered - line.canceled - line.shipped - exchanged
            if q.quantity > open_units and exchanged:
                return (
                    f"{q.sku}: only {open_units} can be canceled; {exchanged} are an exchange's replacement, "
                    "paid for by its return"
                )
            if q.quantity > open_units:
                if line.shipped:
                    return (
                        f"{q.sku}: only {open_units} of {line.ordered} can be canceled; the rest shipped — use a return"
                    )
                return f"{q.sku}: only {open_units} of {line.ordered} can still be canceled"
        return None

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

    def _derive_shipping_status(self) -> None:
        if self.status in ("completed", "payment_declined", "unavailable"):
            return
        if self.held and any(line.canceled < line.ordered for line in self.lines):
            self.status = "on_hold"
            return
        states = {fo.status for fo in self.fulfillment_orders} - CLOSED_FULFILLMENT
        waiting = any(line.unallocated > 0 for line in self.lines)
        if not waiting:
            self.backordered_until = None
        moved = bool(states & {"shipped", "delivered"})
        if not states and not waiting:
            self.status = "canceled"
        elif waiting and self.backordered_until is not None:
            self.status = "partially_shipped" if moved else "backordered"
        elif waiting:
            self.status = "partially_shipped" if moved else "accepted"  # being rerouted
        elif states == {"delivered"}:
            self.status = "delivered"
        elif states <= {"ready_for_pickup", "delivered"} and "ready_for_pickup" in states:
            self.status = "ready_for_pickup"
        elif states == {"released"} or states == {"released", "ready_for_pickup"}:
            self.status = "accepted"
        elif states & {"released", "ready_for_pickup"}:
            self.status = "partially_shipped"
        else:
            self.status = "shipped"

    def _check_invariants(self) -> None:
        p = self.payment
        if p.captured + p.voided > p.authorized:
            raise InvariantViolation(
                f"captured {p.captured} plus voided {p.voided} would exceed authorized {p.authorized}"
            )
        if p.refunded > p.captured:
            raise InvariantViolation(f"refunded {p.refunded} would exceed captured {p.captured}")
        for auth_id, auth in p.authorizations.items():
            if auth.capturable < 0:
                raise InvariantViolation(f"authorization {auth_id} would be captured or voided beyond {auth.amount}")
        for exchange in self.exchanges:
            if exchange.charged > exchange.charge:
                raise InvariantViolation(f"exchange {exchange.id} would charge {exchange.charged} > {exchange.charge}")
        for line in self.lines:
            if line.unallocated < 0:
                raise InvariantViolation(
                    f"{line.sku}: canceled {line.canceled} + allocated {line.allocated} exceed ordered {line.ordered}"
                )
            if not line.returned <= line.delivered <= line.shipped <= line.allocated:
                raise InvariantViolation(
                    f"{line.sku}: needs returned <= delivered <= shipped <= allocated, got "
                    f"{line.returned}/{line.delivered}/{line.shipped}/{line.allocated}"
                )


def _named_twice(lines: Sequence[SkuQuantity | ev.ExchangeLine]) -> str | None:
    """The refusal of a request naming a sku on two lines: each would be checked alone and could overdraw it."""
    seen: set[str] = set()
    for q in lines:
        if q.sku in seen:
            return f"name each sku once: {q.sku} is on two lines; add up the quantities"
        seen.add(q.sku)
    return None
