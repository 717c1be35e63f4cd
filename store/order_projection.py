"""The order projection: each batch of a workflow's events written to the read model.

Writes are idempotent (events keyed by sequence, rows upserted with a version guard), so a retried projection
activity changes nothing twice and a late retry never overwrites newer state. A batch is one transaction with one
statement per table (`store.projection_rows`); the events' statement also writes each new event to the outbox, which
the relay hands to subscribers (events_out/), so an event goes out exactly when it is on the timeline.
"""

from typing import Any

from psycopg.errors import NotNullViolation
from pydantic_core import to_json
from sqlalchemy import Connection, Engine, TextClause
from sqlalchemy.exc import DataError, IntegrityError

from activities.contracts import ProjectionBatch
from domain import events as ev
from domain.models import PlaceOrder
from store.order_documents import DocumentWriter
from store.projection_rows import (
    FLAG_PROJECTION_ERROR,
    INSERT_EVENTS,
    INSERT_INVOICES,
    INSERT_PAYMENTS,
    UPSERT_FULFILLMENT_ORDERS,
    UPSERT_LINES,
    UPSERT_ORDER,
    UPSERT_RETURNS,
    event_row,
    fulfillment_order_row,
    invoice_row,
    line_row,
    order_row,
    payment_rows,
    return_rows,
)


def _json(value: object) -> str:
    """JSON for a statement's parameter: decimals as exact strings, times in ISO 8601, models as their fields."""
    encoded: bytes = to_json(value)
    return encoded.decode()


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
            conn.execute(FLAG_PROJECTION_ERROR, {"order_id": order.order_id, "reason": reason})
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
        written = self._order(order_row(batch, placed))
        if written is None:
            return  # a newer batch is already projected (this retry is stale), or the order's row cannot be written
        self._rows("order_lines", UPSERT_LINES, key, [line_row(line) for line in order.lines], "sku")
        if order.fulfillment_orders:
            fos = [fulfillment_order_row(fo) for fo in order.fulfillment_orders]
            self._rows("fulfillment_orders", UPSERT_FULFILLMENT_ORDERS, key, fos, "id")
        if order.returns:
            self._rows("returns", UPSERT_RETURNS, key, return_rows(order, batch.events), "return_id")
        if not batch.events:
            return
        self._rows("order_events", INSERT_EVENTS, key, [event_row(item) for item in batch.events], "seq")
        money = {**key, "currency": order.currency}
        payments_rows = [row for item in batch.events for row in payment_rows(item.event)]
        if payments_rows:
            self._rows("payments", INSERT_PAYMENTS, money, payments_rows, "transaction_id")
        invoiced = [invoice_row(item.event) for item in batch.events if isinstance(item.event, ev.InvoiceIssued)]
        if invoiced:
            self._rows("invoices", INSERT_INVOICES, money, invoiced, "invoice_id")
        self._documents(batch, placed)

    def _documents(self, batch: ProjectionBatch, placed: PlaceOrder) -> None:
        """The batch's invoices and credit memos, numbered in this transaction (store.order_documents)."""
        writer = DocumentWriter(self._conn)
        if not self._tolerant:
            writer.write(batch.order, placed, batch.events)
            return
        try:
            with self._conn.begin_nested():
                writer.write(batch.order, placed, batch.events)
        except _DATA_ERRORS as err:
            self.skipped.append(f"documents: {_cause(err)}")

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
        fresh = self._conn.execute(UPSERT_ORDER, row).first()
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
