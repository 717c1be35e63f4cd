"""The order read model: a projection of each workflow's events, and the queries screens make of it.

Writes are idempotent (events keyed by sequence, rows upserted with a version guard), so a retried
projection activity changes nothing twice and a late retry never overwrites newer state.
"""

from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal
from typing import Any

from pydantic import BaseModel
from sqlalchemy import Engine, and_, func, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.engine import Connection

from domain import events as ev
from domain.money import quantize
from domain.order import Order
from store.tables import fulfillment_orders, invoices, order_events, order_lines, orders, payments


class ProjectionBatch(BaseModel):
    """The order as it stands and the events recorded since the last batch."""

    workflow_id: str
    order: Order
    events: list[ev.RecordedEvent]


class LineSummary(BaseModel):
    sku: str
    unit_price: Decimal
    ordered: int
    allocated: int
    shipped: int
    delivered: int
    canceled: int
    returned: int


class FulfillmentOrderSummary(BaseModel):
    id: str
    location_id: str
    status: str
    lines: list[dict[str, Any]]
    carrier: str | None
    tracking_number: str | None
    captured: Decimal
    invoice_id: str | None


class ShipmentSummary(BaseModel):
    fulfillment_order_id: str
    carrier: str
    tracking_number: str
    status: str


class PaymentTotals(BaseModel):
    authorized: Decimal
    captured: Decimal
    refunded: Decimal
    voided: Decimal


class PaymentRecord(BaseModel):
    transaction_id: str
    kind: str
    amount: Decimal
    fulfillment_order_id: str | None
    at: datetime


class InvoiceSummary(BaseModel):
    invoice_id: str
    fulfillment_order_id: str
    amount: Decimal
    issued_at: datetime


class TimelineEntry(BaseModel):
    seq: int
    type: str
    at: datetime
    actor: str
    summary: str


class OrderSummary(BaseModel):
    order_id: str
    workflow_id: str
    status: str
    channel: str
    customer: dict[str, Any]
    currency: str
    total: Decimal
    delivery_method: str
    shipping_address: dict[str, Any]
    fraud_score: int | None
    lines: list[LineSummary]
    fulfillment_orders: list[FulfillmentOrderSummary]
    shipments: list[ShipmentSummary]
    payment: PaymentTotals
    payments: list[PaymentRecord]
    invoices: list[InvoiceSummary]
    returns: list[dict[str, Any]]
    timeline: list[TimelineEntry]
    placed_at: datetime
    updated_at: datetime


class OrderListItem(BaseModel):
    order_id: str
    status: str
    channel: str
    customer_id: str
    currency: str
    total: Decimal
    placed_at: datetime


_MONEY_EVENTS = {
    "PaymentAuthorized": "authorize",
    "PaymentCaptured": "capture",
    "AuthorizationVoided": "void",
}


class OrderProjection:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def project(self, batch: ProjectionBatch) -> None:
        order, placed = batch.order, batch.order.placed
        if placed is None:
            raise ValueError(f"order {order.order_id} has no OrderPlaced event to project")
        with self._engine.begin() as conn:
            placed_at = _placed_at(conn, order.order_id, batch.events)
            row = {
                "order_id": order.order_id,
                "workflow_id": batch.workflow_id,
                "status": order.status,
                "channel": placed.channel,
                "customer_id": placed.customer.id,
                "customer": placed.customer.model_dump(mode="json"),
                "currency": placed.currency,
                "total": order.total,
                "authorized": order.payment.authorized,
                "captured": order.payment.captured,
                "refunded": order.payment.refunded,
                "voided": order.payment.voided,
                "delivery_method": placed.delivery_method,
                "shipping_address": placed.shipping_address.model_dump(mode="json"),
                "fraud_score": order.fraud_score,
                "version": order.version,
                "placed_at": placed_at,
            }
            stmt = insert(orders).values(row)
            newer = {k: stmt.excluded[k] for k in row if k not in ("order_id", "placed_at")}
            result = conn.execute(
                stmt.on_conflict_do_update(
                    index_elements=["order_id"],
                    set_={**newer, "updated_at": func.now()},
                    where=orders.c.version <= stmt.excluded.version,
                ).returning(orders.c.version)
            ).first()
            if result is None:
                return  # a newer batch is already projected; this retry is stale
            self._lines(conn, order)
            self._fulfillment_orders(conn, order)
            self._events(conn, order, batch.events)

    @staticmethod
    def _lines(conn: Connection, order: Order) -> None:
        for line in order.lines:
            values = line.model_dump(include=set(LineSummary.model_fields))
            stmt = insert(order_lines).values(order_id=order.order_id, **values)
            conn.execute(stmt.on_conflict_do_update(index_elements=["order_id", "sku"], set_=values))

    @staticmethod
    def _fulfillment_orders(conn: Connection, order: Order) -> None:
        for fo in order.fulfillment_orders:
            values = {
                "order_id": order.order_id,
                "location_id": fo.location_id,
                "status": fo.status,
                "lines": [q.model_dump() for q in fo.lines],
                "carrier": fo.carrier,
                "tracking_number": fo.tracking_number,
                "captured": fo.captured,
                "invoice_id": fo.invoice_id,
            }
            stmt = insert(fulfillment_orders).values(id=fo.id, **values)
            conn.execute(stmt.on_conflict_do_update(index_elements=["id"], set_={**values, "updated_at": func.now()}))

    @staticmethod
    def _events(conn: Connection, order: Order, recorded: list[ev.RecordedEvent]) -> None:
        for item in recorded:
            event = item.event
            conn.execute(
                insert(order_events)
                .values(
                    order_id=order.order_id,
                    seq=item.seq,
                    type=event.type,
                    at=event.at,
                    actor=event.actor,
                    summary=ev.describe(event),
                    data=event.model_dump(mode="json"),
                )
                .on_conflict_do_nothing()
            )
            kind = _MONEY_EVENTS.get(event.type)
            if kind is not None:
                conn.execute(
                    insert(payments)
                    .values(
                        transaction_id=_transaction_id(event),
                        order_id=order.order_id,
                        kind=kind,
                        amount=getattr(event, "amount"),  # noqa: B009 - every money event has one
                        currency=order.currency,
                        fulfillment_order_id=getattr(event, "fulfillment_order_id", None),
                        at=event.at,
                    )
                    .on_conflict_do_nothing()
                )
            if isinstance(event, ev.InvoiceIssued):
                conn.execute(
                    insert(invoices)
                    .values(
                        invoice_id=event.invoice_id,
                        order_id=order.order_id,
                        fulfillment_order_id=event.fulfillment_order_id,
                        amount=event.amount,
                        currency=order.currency,
                        issued_at=event.at,
                    )
                    .on_conflict_do_nothing()
                )


def _transaction_id(event: ev.OrderEvent) -> str:
    match event:
        case ev.PaymentAuthorized(authorization_id=i):
            return i
        case ev.PaymentCaptured(transaction_id=i):
            return i
        case ev.AuthorizationVoided(authorization_id=i):
            return f"{i}:void"
    raise ValueError(f"{event.type} moves no money")


def _placed_at(conn: Connection, order_id: str, recorded: list[ev.RecordedEvent]) -> datetime:
    for item in recorded:
        if isinstance(item.event, ev.OrderPlaced):
            return item.event.at
    existing = conn.execute(select(orders.c.placed_at).where(orders.c.order_id == order_id)).scalar()
    if existing is None:
        raise ValueError(f"order {order_id} is projected for the first time without its OrderPlaced event")
    placed: datetime = existing
    return placed


def _money(row: Mapping[Any, Any], currency: str) -> dict[str, Any]:
    """The row with its amounts in the currency's minor unit (the column keeps four decimals for any currency)."""
    return {k: quantize(v, currency) if isinstance(v, Decimal) else v for k, v in row.items()}


class OrderQueries:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def get(self, order_id: str) -> OrderSummary | None:
        with self._engine.connect() as conn:
            row = conn.execute(select(orders).where(orders.c.order_id == order_id)).mappings().first()
            if row is None:
                return None
            lines = conn.execute(
                select(order_lines).where(order_lines.c.order_id == order_id).order_by(order_lines.c.sku)
            ).mappings()
            fos = conn.execute(
                select(fulfillment_orders)
                .where(fulfillment_orders.c.order_id == order_id)
                .order_by(fulfillment_orders.c.id)
            ).mappings()
            currency = row["currency"]
            fo_list = [FulfillmentOrderSummary.model_validate(_money(fo, currency)) for fo in fos]
            pays = conn.execute(
                select(payments).where(payments.c.order_id == order_id).order_by(payments.c.at)
            ).mappings()
            invs = conn.execute(
                select(invoices).where(invoices.c.order_id == order_id).order_by(invoices.c.issued_at)
            ).mappings()
            timeline = conn.execute(
                select(order_events).where(order_events.c.order_id == order_id).order_by(order_events.c.seq)
            ).mappings()
            return OrderSummary(
                **{k: row[k] for k in ("order_id", "workflow_id", "status", "channel", "customer", "currency")},
                total=quantize(row["total"], currency),
                delivery_method=row["delivery_method"],
                shipping_address=row["shipping_address"],
                fraud_score=row["fraud_score"],
                lines=[LineSummary.model_validate(_money(line, currency)) for line in lines],
                fulfillment_orders=fo_list,
                shipments=[
                    ShipmentSummary(
                        fulfillment_order_id=fo.id,
                        carrier=fo.carrier,
                        tracking_number=fo.tracking_number,
                        status="delivered" if fo.status == "delivered" else "in_transit",
                    )
                    for fo in fo_list
                    if fo.carrier and fo.tracking_number
                ],
                payment=PaymentTotals.model_validate(_money(row, currency)),
                payments=[PaymentRecord.model_validate(_money(p, currency)) for p in pays],
                invoices=[InvoiceSummary.model_validate(_money(i, currency)) for i in invs],
                returns=[],
                timeline=[TimelineEntry.model_validate(dict(t)) for t in timeline],
                placed_at=row["placed_at"],
                updated_at=row["updated_at"],
            )

    def search(
        self, customer_id: str | None = None, status: str | None = None, channel: str | None = None, limit: int = 100
    ) -> list[OrderListItem]:
        conditions = []
        if customer_id:
            conditions.append(orders.c.customer_id == customer_id)
        if status:
            conditions.append(orders.c.status == status)
        if channel:
            conditions.append(orders.c.channel == channel)
        stmt = select(orders).where(and_(True, *conditions)).order_by(orders.c.placed_at.desc()).limit(limit)
        with self._engine.connect() as conn:
            rows = conn.execute(stmt).mappings().all()
        return [OrderListItem.model_validate(_money(r, r["currency"])) for r in rows]

    def fulfillment_order_of_tracking(self, tracking_number: str) -> tuple[str, str] | None:
        with self._engine.connect() as conn:
            row = conn.execute(
                select(fulfillment_orders.c.order_id, fulfillment_orders.c.id).where(
                    fulfillment_orders.c.tracking_number == tracking_number
                )
            ).first()
        return (row[0], row[1]) if row else None
