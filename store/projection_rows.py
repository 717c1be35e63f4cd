"""What the order projection writes: one statement per table, and the rows each takes from a batch.

The statements are built once: PostgreSQL's INSERT .. ON CONFLICT constructs are never cached by SQLAlchemy (the
dialect's Insert sets inherit_cache = False), so they would be compiled again on every batch. Plain text() is cached
by its string, and psycopg prepares it server-side after a few executions. Each table is written by one statement
per batch: its rows travel as one JSON array unpacked by jsonb_to_recordset, so a row's keys are the statement's
recordset columns.
"""

from decimal import Decimal
from typing import Any

from sqlalchemy import text

from activities.contracts import ProjectionBatch
from domain import events as ev
from domain.ids import refund_part_transaction_id, void_transaction_id
from domain.models import PlaceOrder
from domain.order import CLOSED_FULFILLMENT, FulfillmentOrderState, LineState, Order

UPSERT_ORDER = text(
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

# Rows that did not change are left alone (no new row version, updated_at kept). A line's tax class is written once,
# with the line: the one captured at checkout, else (a line an exchange added) the catalog's then, so a product
# reclassified later never changes the tax of an order already placed.
UPSERT_LINES = text(
    """
    INSERT INTO order_lines (order_id, sku, unit_price, ordered, allocated, shipped, delivered, canceled, returned,
        tax_class)
    SELECT :order_id, r.sku, r.unit_price, r.ordered, r.allocated, r.shipped, r.delivered, r.canceled, r.returned,
        COALESCE(r.tax_class, (SELECT p.tax_class FROM products p WHERE p.sku = r.sku), 'standard')
    FROM jsonb_to_recordset(CAST(:rows AS jsonb)) AS r(sku text, unit_price numeric, ordered int, allocated int,
        shipped int, delivered int, canceled int, returned int, tax_class text)
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

UPSERT_FULFILLMENT_ORDERS = text(
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

UPSERT_RETURNS = text(
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

# The events new to order_events go to the outbox in the same statement (so the same transaction): a retried batch
# inserts no event, so it adds no outbox row either, and an event the timeline cannot hold is not sent out.
INSERT_EVENTS = text(
    """
    WITH fresh AS (
        INSERT INTO order_events (order_id, seq, type, at, actor, summary, data)
        SELECT :order_id, r.seq, r.type, r.at, r.actor, r.summary, r.data
        FROM jsonb_to_recordset(CAST(:rows AS jsonb)) AS r(seq int, type text, at timestamptz, actor text,
            summary text, data jsonb)
        ON CONFLICT DO NOTHING
        RETURNING order_id, seq, type, at, data
    )
    INSERT INTO outbox (order_id, sequence, type, occurred_at, data)
    SELECT order_id, seq, type, at, data FROM fresh ORDER BY seq
    ON CONFLICT DO NOTHING
    """
)

INSERT_PAYMENTS = text(
    """
    INSERT INTO payments (transaction_id, order_id, kind, amount, currency, fulfillment_order_id, at)
    SELECT r.transaction_id, :order_id, r.kind, r.amount, :currency, r.fulfillment_order_id, r.at
    FROM jsonb_to_recordset(CAST(:rows AS jsonb)) AS r(transaction_id text, kind text, amount numeric,
        fulfillment_order_id text, at timestamptz)
    ON CONFLICT DO NOTHING
    """
)

INSERT_INVOICES = text(
    """
    INSERT INTO invoices (invoice_id, order_id, fulfillment_order_id, amount, currency, issued_at)
    SELECT r.invoice_id, :order_id, r.fulfillment_order_id, r.amount, :currency, r.issued_at
    FROM jsonb_to_recordset(CAST(:rows AS jsonb)) AS r(invoice_id text, fulfillment_order_id text, amount numeric,
        issued_at timestamptz)
    ON CONFLICT DO NOTHING
    """
)

FLAG_PROJECTION_ERROR = text(
    """
    UPDATE orders SET projection_error = :reason, projection_error_at = now()
    WHERE order_id = CAST(:order_id AS varchar)
    """
)


def order_row(batch: ProjectionBatch, placed: PlaceOrder) -> dict[str, Any]:
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


def line_row(line: LineState) -> dict[str, Any]:
    return {
        "sku": line.sku,
        "unit_price": line.unit_price,
        "ordered": line.ordered,
        "allocated": line.allocated,
        "shipped": line.shipped,
        "delivered": line.delivered,
        "canceled": line.canceled,
        "returned": line.returned,
        "tax_class": line.tax_class,
    }


def fulfillment_order_row(fo: FulfillmentOrderState) -> dict[str, Any]:
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


def return_rows(order: Order, recorded: list[ev.RecordedEvent]) -> list[dict[str, Any]]:
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


def event_row(item: ev.RecordedEvent) -> dict[str, Any]:
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


def payment_rows(event: ev.OrderEvent) -> list[dict[str, Any]]:
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
            return [row(void_transaction_id(i), "void", a, None)]
        case ev.RefundIssued(refund_id=r, parts=parts):
            return [
                row(refund_part_transaction_id(r, p.transaction_id), "refund", p.amount, p.fulfillment_order_id)
                for p in parts
            ]
        case ev.AppeasementGranted(refund_id=r, parts=parts):
            return [
                row(refund_part_transaction_id(r, p.transaction_id), "appeasement", p.amount, p.fulfillment_order_id)
                for p in parts
            ]
    return []


def invoice_row(event: ev.InvoiceIssued) -> dict[str, Any]:
    return {
        "invoice_id": event.invoice_id,
        "fulfillment_order_id": event.fulfillment_order_id,
        "amount": event.amount,
        "issued_at": event.at,
    }
