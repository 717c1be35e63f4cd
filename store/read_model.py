"""The order read model: a projection of each workflow's events, and the queries screens make of it.

Writes are idempotent (events keyed by sequence, rows upserted with a version guard), so a retried
projection activity changes nothing twice and a late retry never overwrites newer state. A batch is one
transaction with one statement per table, each a prepared text() statement (see `_UPSERT_ORDER`).
"""

from collections.abc import Mapping
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from psycopg.errors import NotNullViolation
from pydantic import BaseModel
from pydantic_core import to_json
from sqlalchemy import Connection, Engine, TextClause, and_, or_, select, text
from sqlalchemy.exc import DataError, IntegrityError

from domain import events as ev
from domain.models import PlaceOrder, SkuQuantity
from domain.money import quantize
from domain.order import CLOSED_FULFILLMENT, FulfillmentOrderState, LineState, Order
from store.tables import fulfillment_orders, invoices, order_events, order_lines, orders, payments, returns


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
    refunded: Decimal
    invoice_id: str | None
    promised_date: date | None


class ReturnSummary(BaseModel):
    return_id: str
    rma: str
    status: str  # requested, received, refunded, refund_failed
    method: str  # mail, in_store
    location_id: str
    label: str | None
    lines: list[SkuQuantity]
    received: list[ev.ReturnedLine]
    refund_amount: Decimal


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


class ProjectionError(BaseModel):
    """Part of the order the read model could not write (a value its column cannot hold): the order went on, this
    summary misses it. Agents see why and since when; the workflow's history has everything."""

    reason: str
    at: datetime


class OrderAttention(BaseModel):
    """The order cannot go on by itself (a step failed for good, a partner stayed silent past its deadline, a
    refund the gateway refused): why a person must look, and since when. Agents and operators only."""

    reason: str
    since: datetime


def _attention(row: Mapping[Any, Any]) -> OrderAttention | None:
    if row["attention_reason"] is None:
        return None
    return OrderAttention(reason=row["attention_reason"], since=row["attention_since"])


class OrderSummary(BaseModel):
    order_id: str
    workflow_id: str
    status: str
    channel: str
    customer: dict[str, Any]
    currency: str
    total: Decimal
    delivery_method: str
    # the latest date a fulfillment order (not rejected or canceled) promised
    promised_date: date | None = None
    # while units wait for stock: when the order stops waiting and cancels them
    backordered_until: datetime | None = None
    shipping_address: dict[str, Any]
    fraud_score: int | None
    lines: list[LineSummary]
    fulfillment_orders: list[FulfillmentOrderSummary]
    shipments: list[ShipmentSummary]
    payment: PaymentTotals
    payments: list[PaymentRecord]
    invoices: list[InvoiceSummary]
    returns: list[ReturnSummary]
    timeline: list[TimelineEntry]
    placed_at: datetime
    updated_at: datetime
    projection_error: ProjectionError | None = None
    # null unless the order needs a person; agents and operators only
    attention: OrderAttention | None = None


class OrderListItem(BaseModel):
    order_id: str
    status: str
    channel: str
    customer_id: str
    currency: str
    total: Decimal
    placed_at: datetime
    # null unless the order needs a person; agents and operators only
    attention: OrderAttention | None = None


# The projection's statements, built once: PostgreSQL's INSERT .. ON CONFLICT constructs are never cached by
# SQLAlchemy (the dialect's Insert sets inherit_cache = False), so they would be compiled again on every batch.
# Plain text() is cached by its string, and psycopg prepares it server-side after a few executions. Each table is
# written by one statement per batch: its rows travel as one JSON array unpacked by jsonb_to_recordset.
_UPSERT_ORDER = text(
    """
    INSERT INTO orders (order_id, workflow_id, status, channel, customer_id, customer, currency, total,
        authorized, captured, refunded, voided, delivery_method, shipping_address, fraud_score, version,
        placed_at, promised_date, backordered_until, attention_reason, attention_since)
    VALUES (:order_id, :workflow_id, :status, :channel, :customer_id, CAST(:customer AS jsonb), :currency, :total,
        :authorized, :captured, :refunded, :voided, :delivery_method, CAST(:shipping_address AS jsonb), :fraud_score,
        :version,
        COALESCE(:placed_at, (SELECT o.placed_at FROM orders o WHERE o.order_id = CAST(:order_id AS varchar))),
        :promised_date, :backordered_until, :attention_reason, :attention_since)
    ON CONFLICT (order_id) DO UPDATE SET
        workflow_id = excluded.workflow_id, status = excluded.status, channel = excluded.channel,
        customer_id = excluded.customer_id, customer = excluded.customer, currency = excluded.currency,
        total = excluded.total, authorized = excluded.authorized, captured = excluded.captured,
        refunded = excluded.refunded, voided = excluded.voided, delivery_method = excluded.delivery_method,
        shipping_address = excluded.shipping_address, fraud_score = excluded.fraud_score,
        version = excluded.version, promised_date = excluded.promised_date,
        backordered_until = excluded.backordered_until, attention_reason = excluded.attention_reason,
        attention_since = excluded.attention_since, updated_at = now()
    WHERE orders.version <= excluded.version
    RETURNING version
    """
)

# Rows that did not change are left alone (no new row version, updated_at kept).
_UPSERT_LINES = text(
    """
    INSERT INTO order_lines (order_id, sku, unit_price, ordered, allocated, shipped, delivered, canceled, returned)
    SELECT :order_id, r.sku, r.unit_price, r.ordered, r.allocated, r.shipped, r.delivered, r.canceled, r.returned
    FROM jsonb_to_recordset(CAST(:rows AS jsonb)) AS r(sku text, unit_price numeric, ordered int, allocated int,
        shipped int, delivered int, canceled int, returned int)
    ON CONFLICT (order_id, sku) DO UPDATE SET
        unit_price = excluded.unit_price, ordered = excluded.ordered, allocated = excluded.allocated,
        shipped = excluded.shipped, delivered = excluded.delivered, canceled = excluded.canceled,
        returned = excluded.returned
    WHERE (order_lines.unit_price, order_lines.ordered, order_lines.allocated, order_lines.shipped,
           order_lines.delivered, order_lines.canceled, order_lines.returned)
        IS DISTINCT FROM (excluded.unit_price, excluded.ordered, excluded.allocated, excluded.shipped,
           excluded.delivered, excluded.canceled, excluded.returned)
    """
)

_UPSERT_FULFILLMENT_ORDERS = text(
    """
    INSERT INTO fulfillment_orders (id, order_id, location_id, status, lines, carrier, tracking_number, captured,
        refunded, invoice_id, promised_date)
    SELECT r.id, :order_id, r.location_id, r.status, r.lines, r.carrier, r.tracking_number, r.captured,
        r.refunded, r.invoice_id, r.promised_date
    FROM jsonb_to_recordset(CAST(:rows AS jsonb)) AS r(id text, location_id text, status text, lines jsonb,
        carrier text, tracking_number text, captured numeric, refunded numeric, invoice_id text, promised_date date)
    ON CONFLICT (id) DO UPDATE SET
        order_id = excluded.order_id, location_id = excluded.location_id, status = excluded.status,
        lines = excluded.lines, carrier = excluded.carrier, tracking_number = excluded.tracking_number,
        captured = excluded.captured, refunded = excluded.refunded, invoice_id = excluded.invoice_id,
        promised_date = excluded.promised_date, updated_at = now()
    WHERE (fulfillment_orders.order_id, fulfillment_orders.location_id, fulfillment_orders.status,
           fulfillment_orders.lines, fulfillment_orders.carrier, fulfillment_orders.tracking_number,
           fulfillment_orders.captured, fulfillment_orders.refunded, fulfillment_orders.invoice_id,
           fulfillment_orders.promised_date)
        IS DISTINCT FROM (excluded.order_id, excluded.location_id, excluded.status, excluded.lines,
           excluded.carrier, excluded.tracking_number, excluded.captured, excluded.refunded, excluded.invoice_id,
           excluded.promised_date)
    """
)

_UPSERT_RETURNS = text(
    """
    INSERT INTO returns (return_id, order_id, rma, status, method, location_id, label, lines, received,
        refund_amount, created_at)
    SELECT r.return_id, :order_id, r.rma, r.status, r.method, r.location_id, r.label, r.lines, r.received,
        r.refund_amount, COALESCE(r.requested_at, now())
    FROM jsonb_to_recordset(CAST(:rows AS jsonb)) AS r(return_id text, rma text, status text, method text,
        location_id text, label text, lines jsonb, received jsonb, refund_amount numeric, requested_at timestamptz)
    ON CONFLICT (return_id) DO UPDATE SET
        rma = excluded.rma, status = excluded.status, method = excluded.method,
        location_id = excluded.location_id, label = excluded.label, lines = excluded.lines,
        received = excluded.received, refund_amount = excluded.refund_amount, updated_at = now()
    WHERE (returns.rma, returns.status, returns.method, returns.location_id, returns.label, returns.lines,
           returns.received, returns.refund_amount)
        IS DISTINCT FROM (excluded.rma, excluded.status, excluded.method, excluded.location_id, excluded.label,
           excluded.lines, excluded.received, excluded.refund_amount)
    """
)

_INSERT_EVENTS = text(
    """
    INSERT INTO order_events (order_id, seq, type, at, actor, summary, data)
    SELECT :order_id, r.seq, r.type, r.at, r.actor, r.summary, r.data
    FROM jsonb_to_recordset(CAST(:rows AS jsonb)) AS r(seq int, type text, at timestamptz, actor text,
        summary text, data jsonb)
    ON CONFLICT DO NOTHING
    """
)

_INSERT_PAYMENTS = text(
    """
    INSERT INTO payments (transaction_id, order_id, kind, amount, currency, fulfillment_order_id, at)
    SELECT r.transaction_id, :order_id, r.kind, r.amount, :currency, r.fulfillment_order_id, r.at
    FROM jsonb_to_recordset(CAST(:rows AS jsonb)) AS r(transaction_id text, kind text, amount numeric,
        fulfillment_order_id text, at timestamptz)
    ON CONFLICT DO NOTHING
    """
)

_INSERT_INVOICES = text(
    """
    INSERT INTO invoices (invoice_id, order_id, fulfillment_order_id, amount, currency, issued_at)
    SELECT r.invoice_id, :order_id, r.fulfillment_order_id, r.amount, :currency, r.issued_at
    FROM jsonb_to_recordset(CAST(:rows AS jsonb)) AS r(invoice_id text, fulfillment_order_id text, amount numeric,
        issued_at timestamptz)
    ON CONFLICT DO NOTHING
    """
)


def _json(value: object) -> str:
    """JSON for a statement's parameter: decimals as exact strings, times in ISO 8601, models as their fields."""
    encoded: bytes = to_json(value)
    return encoded.decode()


_FLAG_PROJECTION_ERROR = text(
    """
    UPDATE orders SET projection_error = :reason, projection_error_at = now()
    WHERE order_id = CAST(:order_id AS varchar)
    """
)

# What a row the database cannot hold raises: a value too long or out of range, or a constraint it breaks. Anything
# else (a lost connection, a timeout) is raised for the activity to retry.
_DATA_ERRORS = (DataError, IntegrityError)


class OrderProjection:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def project(self, batch: ProjectionBatch) -> str | None:
        """Write the batch in one transaction, one statement per table; a batch older than the projected order
        (a late retry) changes nothing.

        A row the database cannot hold never blocks the order: the batch is written again without it (every other
        row, each table's rows one by one where its statement failed), the order is flagged with the reason
        (`projection_error`), and the reason is returned for the caller to log. None when everything was written."""
        order, placed = batch.order, batch.order.placed
        if placed is None:
            raise ValueError(f"order {order.order_id} has no OrderPlaced event to project")
        try:
            with self._engine.begin() as conn:
                _Writer(conn, tolerant=False).write(batch, placed)
            return None
        except _DATA_ERRORS as err:
            if isinstance(err.orig, NotNullViolation) and err.orig.diag.column_name == "placed_at":
                raise ValueError(
                    f"order {order.order_id} is projected for the first time without its OrderPlaced event"
                ) from err
        with self._engine.begin() as conn:
            writer = _Writer(conn, tolerant=True)
            writer.write(batch, placed)
            if not writer.skipped:
                return None
            reason = "; ".join(writer.skipped)
            conn.execute(_FLAG_PROJECTION_ERROR, {"order_id": order.order_id, "reason": reason})
        return reason


class _Writer:
    """One batch's statements on one connection. Tolerant, a statement the database refuses for its data is rolled
    back to a savepoint and its rows tried one at a time; what still fails is skipped and named in `skipped`."""

    def __init__(self, conn: Connection, *, tolerant: bool) -> None:
        self._conn = conn
        self._tolerant = tolerant
        self.skipped: list[str] = []

    def write(self, batch: ProjectionBatch, placed: PlaceOrder) -> None:
        order = batch.order
        key = {"order_id": order.order_id}
        written = self._order(_order_row(batch, placed))
        if written is None:
            return  # a newer batch is already projected (this retry is stale), or the order's row cannot be written
        self._rows("order_lines", _UPSERT_LINES, key, [_line_row(line) for line in order.lines], "sku")
        if order.fulfillment_orders:
            fos = [_fulfillment_order_row(fo) for fo in order.fulfillment_orders]
            self._rows("fulfillment_orders", _UPSERT_FULFILLMENT_ORDERS, key, fos, "id")
        if order.returns:
            self._rows("returns", _UPSERT_RETURNS, key, _return_rows(order, batch.events), "return_id")
        if not batch.events:
            return
        self._rows("order_events", _INSERT_EVENTS, key, [_event_row(item) for item in batch.events], "seq")
        money = {**key, "currency": order.currency}
        payments_rows = [row for item in batch.events for row in _payment_rows(item.event)]
        if payments_rows:
            self._rows("payments", _INSERT_PAYMENTS, money, payments_rows, "transaction_id")
        invoiced = [_invoice_row(item.event) for item in batch.events if isinstance(item.event, ev.InvoiceIssued)]
        if invoiced:
            self._rows("invoices", _INSERT_INVOICES, money, invoiced, "invoice_id")

    def _order(self, row: dict[str, Any]) -> int | None:
        """The order's row, or None when it is stale or (tolerant) cannot be written: nothing else can be then."""
        if not self._tolerant:
            return self._upsert_order(row)
        try:
            with self._conn.begin_nested():
                return self._upsert_order(row)
        except _DATA_ERRORS as err:
            self.skipped.append(f"orders: {_cause(err)}")
            return None

    def _upsert_order(self, row: dict[str, Any]) -> int | None:
        fresh = self._conn.execute(_UPSERT_ORDER, row).first()
        return None if fresh is None else int(fresh[0])

    def _rows(
        self, table: str, statement: TextClause, params: dict[str, Any], rows: list[dict[str, Any]], name: str
    ) -> None:
        if not self._tolerant:
            self._conn.execute(statement, {**params, "rows": _json(rows)})
            return
        try:
            with self._conn.begin_nested():
                self._conn.execute(statement, {**params, "rows": _json(rows)})
            return
        except _DATA_ERRORS:
            pass  # find the rows that cannot be written; the others are
        for row in rows:
            try:
                with self._conn.begin_nested():
                    self._conn.execute(statement, {**params, "rows": _json([row])})
            except _DATA_ERRORS as err:
                self.skipped.append(f"{table} {row.get(name)}: {_cause(err)}")


def _cause(err: DataError | IntegrityError) -> str:
    """The database's own words for a refused row, on one line."""
    return str(err.orig).strip().splitlines()[0] if err.orig is not None else str(err)


def _order_row(batch: ProjectionBatch, placed: PlaceOrder) -> dict[str, Any]:
    order = batch.order
    promises = [fo.promised_date for fo in order.fulfillment_orders if fo.status not in CLOSED_FULFILLMENT]
    return {
        "order_id": order.order_id,
        "workflow_id": batch.workflow_id,
        "status": order.status,
        "channel": placed.channel,
        "customer_id": placed.customer.id,
        "customer": placed.customer.model_dump_json(),
        "currency": placed.currency,
        "total": order.total,
        "authorized": order.payment.authorized,
        "captured": order.payment.captured,
        "refunded": order.payment.refunded,
        "voided": order.payment.voided,
        "delivery_method": placed.delivery_method,
        "shipping_address": (order.delivery_address or placed.shipping_address).model_dump_json(),
        "fraud_score": order.fraud_score,
        "version": order.version,
        # NULL: keep the time projected with the first batch (the statement looks it up)
        "placed_at": next((i.event.at for i in batch.events if isinstance(i.event, ev.OrderPlaced)), None),
        "promised_date": max((d for d in promises if d is not None), default=None),
        "backordered_until": order.backordered_until,
        "attention_reason": None if order.attention is None else order.attention.reason,
        "attention_since": None if order.attention is None else order.attention.since,
    }


def _line_row(line: LineState) -> dict[str, Any]:
    return {
        "sku": line.sku,
        "unit_price": line.unit_price,
        "ordered": line.ordered,
        "allocated": line.allocated,
        "shipped": line.shipped,
        "delivered": line.delivered,
        "canceled": line.canceled,
        "returned": line.returned,
    }


def _fulfillment_order_row(fo: FulfillmentOrderState) -> dict[str, Any]:
    return {
        "id": fo.id,
        "location_id": fo.location_id,
        "status": fo.status,
        "lines": fo.lines,
        "carrier": fo.carrier,
        "tracking_number": fo.tracking_number,
        "captured": fo.captured,
        "refunded": fo.refunded,
        "invoice_id": fo.invoice_id,
        "promised_date": fo.promised_date,
    }


def _return_rows(order: Order, recorded: list[ev.RecordedEvent]) -> list[dict[str, Any]]:
    # A return's row is created with the batch that requested it: it is dated by that event.
    requested_at = {i.event.return_id: i.event.at for i in recorded if isinstance(i.event, ev.ReturnRequested)}
    return [
        {
            "return_id": r.id,
            "rma": r.rma,
            "status": r.status,
            "method": r.method,
            "location_id": r.location_id,
            "label": r.label,
            "lines": r.lines,
            "received": r.received,
            "refund_amount": r.refund_amount,
            "requested_at": requested_at.get(r.id),
        }
        for r in order.returns
    ]


def _event_row(item: ev.RecordedEvent) -> dict[str, Any]:
    event = item.event
    return {
        "seq": item.seq,
        "type": event.type,
        "at": event.at,
        "actor": event.actor,
        "summary": ev.describe(event),
        "data": _without_payment_token(event),
    }


def _without_payment_token(event: ev.OrderEvent) -> object:
    """The event as the timeline keeps it: a checkout's payment method, never its token (only the gateway has it)."""
    if not isinstance(event, ev.OrderPlaced):
        return event
    data = event.model_dump(mode="json")
    data["order"]["payment"].pop("token", None)
    return data


def _payment_rows(event: ev.OrderEvent) -> list[dict[str, Any]]:
    """The payments rows of a money event: one per authorization, capture or void; one per part of a refund
    or appeasement (each part goes back to one capture), keyed `<refund id>:<capture transaction id>`."""

    def row(transaction_id: str, kind: str, amount: Decimal, fulfillment_order_id: str | None) -> dict[str, Any]:
        return {
            "transaction_id": transaction_id,
            "kind": kind,
            "amount": amount,
            "fulfillment_order_id": fulfillment_order_id,
            "at": event.at,
        }

    match event:
        case ev.PaymentAuthorized(authorization_id=i, amount=a):
            return [row(i, "authorize", a, None)]
        case ev.PaymentCaptured(transaction_id=i, amount=a, fulfillment_order_id=f):
            return [row(i, "capture", a, f)]
        case ev.AuthorizationVoided(authorization_id=i, amount=a):
            return [row(f"{i}:void", "void", a, None)]
        case ev.RefundIssued(refund_id=r, parts=parts):
            return [row(f"{r}:{p.transaction_id}", "refund", p.amount, p.fulfillment_order_id) for p in parts]
        case ev.AppeasementGranted(refund_id=r, parts=parts):
            return [row(f"{r}:{p.transaction_id}", "appeasement", p.amount, p.fulfillment_order_id) for p in parts]
    return []


def _invoice_row(event: ev.InvoiceIssued) -> dict[str, Any]:
    return {
        "invoice_id": event.invoice_id,
        "fulfillment_order_id": event.fulfillment_order_id,
        "amount": event.amount,
        "issued_at": event.at,
    }


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
                select(payments)
                .where(payments.c.order_id == order_id)
                .order_by(payments.c.at, payments.c.transaction_id)
            ).mappings()
            invs = conn.execute(
                select(invoices).where(invoices.c.order_id == order_id).order_by(invoices.c.issued_at)
            ).mappings()
            rets = conn.execute(
                select(returns)
                .where(returns.c.order_id == order_id)
                .order_by(returns.c.created_at, returns.c.return_id)
            ).mappings()
            timeline = conn.execute(
                select(order_events).where(order_events.c.order_id == order_id).order_by(order_events.c.seq)
            ).mappings()
            return OrderSummary(
                **{k: row[k] for k in ("order_id", "workflow_id", "status", "channel", "customer", "currency")},
                total=quantize(row["total"], currency),
                delivery_method=row["delivery_method"],
                promised_date=row["promised_date"],
                backordered_until=row["backordered_until"],
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
                returns=[ReturnSummary.model_validate(_money(r, currency)) for r in rets],
                timeline=[TimelineEntry.model_validate(dict(t)) for t in timeline],
                placed_at=row["placed_at"],
                updated_at=row["updated_at"],
                projection_error=None
                if row["projection_error"] is None
                else ProjectionError(reason=row["projection_error"], at=row["projection_error_at"]),
                attention=_attention(row),
            )

    def search(
        self,
        customer_id: str | None = None,
        status: str | None = None,
        channel: str | None = None,
        limit: int = 100,
        attention: bool | None = None,
    ) -> list[OrderListItem]:
        """Orders newest first. `attention`: True for those that need a person, False for those that do not."""
        conditions = []
        if customer_id:
            conditions.append(orders.c.customer_id == customer_id)
        if status:
            conditions.append(orders.c.status == status)
        if channel:
            conditions.append(orders.c.channel == channel)
        if attention is not None:
            needing = orders.c.attention_reason.is_not(None)
            conditions.append(needing if attention else ~needing)
        stmt = select(orders).where(and_(True, *conditions)).order_by(orders.c.placed_at.desc()).limit(limit)
        with self._engine.connect() as conn:
            rows = conn.execute(stmt).mappings().all()
        return [OrderListItem.model_validate({**_money(r, r["currency"]), "attention": _attention(r)}) for r in rows]

    def backordered_orders_needing(self, sku: str) -> list[str]:
        """Orders waiting for stock of `sku`, oldest first: backordered (or partially shipped with the rest
        backordered) with units of that sku neither canceled nor allocated."""
        waiting = (order_lines.c.ordered - order_lines.c.canceled - order_lines.c.allocated) > 0
        stmt = (
            select(orders.c.order_id)
            .join(order_lines, order_lines.c.order_id == orders.c.order_id)
            .where(
                order_lines.c.sku == sku,
                waiting,
                or_(
                    orders.c.status == "backordered",
                    and_(orders.c.status == "partially_shipped", orders.c.backordered_until.is_not(None)),
                ),
            )
            .order_by(orders.c.placed_at, orders.c.order_id)
        )
        with self._engine.connect() as conn:
            return list(conn.execute(stmt).scalars())

    def fulfillment_orders_of_tracking(self, tracking_number: str) -> list[tuple[str, str]]:
        """(order id, fulfillment order id) of every fulfillment order in the parcel: several fulfillment orders, of
        one order or of several, may share a tracking number."""
        stmt = (
            select(fulfillment_orders.c.order_id, fulfillment_orders.c.id)
            .where(fulfillment_orders.c.tracking_number == tracking_number)
            .order_by(fulfillment_orders.c.order_id, fulfillment_orders.c.id)
        )
        with self._engine.connect() as conn:
            return [(row[0], row[1]) for row in conn.execute(stmt)]

    def parcel_of_tracking(self, tracking_number: str) -> list[tuple[str, str, str | None]]:
        """(order id, fulfillment order id, carrier) of every fulfillment order in the parcel, as
        `fulfillment_orders_of_tracking` with the carrier each was handed to."""
        stmt = (
            select(fulfillment_orders.c.order_id, fulfillment_orders.c.id, fulfillment_orders.c.carrier)
            .where(fulfillment_orders.c.tracking_number == tracking_number)
            .order_by(fulfillment_orders.c.order_id, fulfillment_orders.c.id)
        )
        with self._engine.connect() as conn:
            return [(row[0], row[1], row[2]) for row in conn.execute(stmt)]

    def location_of_fulfillment_order(self, fulfillment_order_id: str) -> str | None:
        """The location a fulfillment order was released to; None if the read model has not recorded it."""
        stmt = select(fulfillment_orders.c.location_id).where(fulfillment_orders.c.id == fulfillment_order_id)
        with self._engine.connect() as conn:
            return conn.execute(stmt).scalar_one_or_none()

    def location_of_return(self, return_id: str) -> str | None:
        """The location a return is sent back to; None if the read model has not recorded it."""
        stmt = select(returns.c.location_id).where(returns.c.return_id == return_id)
        with self._engine.connect() as conn:
            return conn.execute(stmt).scalar_one_or_none()
