"""The Order aggregate: state rebuilt from events, with its invariants checked on every apply."""

from decimal import Decimal
from typing import Literal

from pydantic import BaseModel, Field

from domain import events as ev
from domain.errors import InvariantViolation
from domain.models import PlaceOrder, SkuQuantity
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


class FulfillmentOrderState(BaseModel):
    id: str
    location_id: str
    lines: list[SkuQuantity]
    status: Literal["released", "shipped", "delivered", "canceled"] = "released"
    carrier: str | None = None
    tracking_number: str | None = None
    captured: Decimal = Decimal(0)
    invoice_id: str | None = None


class PaymentState(BaseModel):
    authorization_id: str | None = None
    authorized: Decimal = Decimal(0)
    captured: Decimal = Decimal(0)
    refunded: Decimal = Decimal(0)
    voided: Decimal = Decimal(0)

    @property
    def capturable(self) -> Decimal:
        return self.authorized - self.captured - self.voided


class Order(BaseModel):
    """Everything the order is, derived only from its events."""

    order_id: str
    status: OrderStatus = "pending"
    placed: PlaceOrder | None = None
    fraud_score: int | None = None
    lines: list[LineState] = []
    fulfillment_orders: list[FulfillmentOrderState] = []
    payment: PaymentState = Field(default_factory=PaymentState)
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
        for line in self.lines:
            if line.sku == sku:
                return line
        raise InvariantViolation(f"order {self.order_id} has no line for sku {sku}")

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
                self.payment.authorization_id = auth_id
                self.payment.authorized += amount
            case ev.PaymentDeclined():
                self.status = "payment_declined"
            case ev.InventoryReserved(lines=lines):
                for q in lines:
                    self.line(q.sku).allocated += q.quantity
            case ev.OrderUnavailable():
                self.status = "unavailable"
            case ev.AuthorizationVoided(amount=amount):
                self.payment.voided += amount
            case ev.FulfillmentOrderCreated(fulfillment_order_id=fo_id, location_id=loc, lines=lines):
                if any(fo.id == fo_id for fo in self.fulfillment_orders):
                    raise InvariantViolation(f"fulfillment order {fo_id} exists already")
                self.fulfillment_orders.append(FulfillmentOrderState(id=fo_id, location_id=loc, lines=lines))
                self.status = "accepted"
            case ev.ShipmentShipped(fulfillment_order_id=fo_id, carrier=carrier, tracking_number=tracking):
                fo = self.fulfillment_order(fo_id)
                if fo.status != "released":
                    raise InvariantViolation(f"{fo_id} is {fo.status}, it cannot ship again")
                fo.status, fo.carrier, fo.tracking_number = "shipped", carrier, tracking
                for q in fo.lines:
                    self.line(q.sku).shipped += q.quantity
                self._derive_shipping_status()
            case ev.PaymentCaptured(fulfillment_order_id=fo_id, amount=amount):
                self.fulfillment_order(fo_id).captured += amount
                self.payment.captured += amount
            case ev.InvoiceIssued(fulfillment_order_id=fo_id, invoice_id=invoice_id):
                self.fulfillment_order(fo_id).invoice_id = invoice_id
            case ev.ShipmentDelivered(fulfillment_order_id=fo_id):
                fo = self.fulfillment_order(fo_id)
                if fo.status != "shipped":
                    raise InvariantViolation(f"{fo_id} is {fo.status}, it cannot be delivered")
                fo.status = "delivered"
                for q in fo.lines:
                    self.line(q.sku).delivered += q.quantity
                self._derive_shipping_status()
            case ev.ItemsCanceled(lines=lines):
                self._cancel(lines)
            case ev.OrderCompleted():
                self.status = "completed"

    def _cancel(self, lines: list[SkuQuantity]) -> None:
        for q in lines:
            line = self.line(q.sku)
            line.canceled += q.quantity
            # units not yet shipped come off their fulfillment orders; unallocated units need nothing
            from_allocated = min(q.quantity, line.allocated - line.shipped)
            line.allocated -= from_allocated
            for fo in self.fulfillment_orders:
                if from_allocated == 0 or fo.status != "released":
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

    def cancel_refusal(self, lines: list[SkuQuantity] | None) -> str | None:
        """Why these lines (None: everything still cancelable) cannot be canceled now, or None if they can."""
        if self.status == "pending":
            return "the order is still being placed; try again in a moment"
        if self.is_final:
            return f"the order is {self.status} and can no longer be canceled"
        wanted = lines if lines is not None else self.cancelable_lines()
        if not wanted:
            return "everything on the order has shipped or is canceled already: use a return"
        for q in wanted:
            line = next((ln for ln in self.lines if ln.sku == q.sku), None)
            if line is None:
                return f"the order has no line for {q.sku}"
            open_units = line.ordered - line.canceled - line.shipped
            if q.quantity > open_units:
                if line.shipped:
                    return (
                        f"{q.sku}: only {open_units} of {line.ordered} can be canceled; the rest shipped — use a return"
                    )
                return f"{q.sku}: only {open_units} of {line.ordered} can still be canceled"
        return None

    def cancelable_lines(self) -> list[SkuQuantity]:
        return [
            SkuQuantity(sku=line.sku, quantity=line.ordered - line.canceled - line.shipped)
            for line in self.lines
            if line.ordered - line.canceled - line.shipped > 0
        ]

    def _derive_shipping_status(self) -> None:
        states = {fo.status for fo in self.fulfillment_orders} - {"canceled"}
        if not states:
            self.status = "canceled"
        elif states == {"released"}:
            self.status = "accepted"
        elif states == {"delivered"}:
            self.status = "delivered"
        elif "released" in states:
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
