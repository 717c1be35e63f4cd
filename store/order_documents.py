"""Invoices and credit memos, numbered without gaps per series in the projection's own transaction.

Each InvoiceIssued becomes an invoice (series `INV-<year>`), each refund and appeasement a credit memo (`CRN-<year>`).
A series' counter row is locked before the document is looked for, so two transactions projecting the same event
cannot both number it, and a number is only taken with the document that uses it: a rolled-back batch gives it back,
a retried batch finds its document and takes none.
"""

from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal
from typing import Any

from pydantic_core import to_json
from sqlalchemy import Connection, text

from domain import events as ev
from domain.accounts import due_date
from domain.models import InvoicePayment, PlaceOrder
from domain.order import Order
from domain.tax import TaxableAmount, TaxBreakdown
from integrations.tax import RulesEngine, TaxCalculator, TaxPlace

# The demo merchant; a registration number is what Japan's qualified invoices (適格請求書) must show.
SELLER: Mapping[str, str] = {
    "name": "株式会社デモストア",
    "registration_number": "T1234567890123",
    "address": "東京都千代田区丸の内1-1-1",
}

_LOCK_SERIES = text("INSERT INTO document_series (series, last_number) VALUES (:series, 0) ON CONFLICT DO NOTHING")
_SELECT_SERIES = text("SELECT last_number FROM document_series WHERE series = :series FOR UPDATE")
_EXISTING = text("SELECT number FROM documents WHERE kind = :kind AND source_id = :source_id")
_NEXT = text("UPDATE document_series SET last_number = last_number + 1 WHERE series = :series RETURNING last_number")
_INSERT = text(
    """
    INSERT INTO documents (number, series, sequence, kind, source_id, order_id, issued_at, snapshot)
    VALUES (:number, :series, :sequence, :kind, :source_id, :order_id, :issued_at, CAST(:snapshot AS jsonb))
    """
)


def _rates(breakdown: TaxBreakdown) -> list[dict[str, Decimal]]:
    return [{"rate": r.rate, "taxable": r.taxable, "tax": r.tax} for r in breakdown.rates]


def _payment_terms(placed: PlaceOrder, issued_at: datetime) -> dict[str, Any]:
    """How the invoice is to be paid: on account, the purchase order it answers and the day its terms make it due."""
    payment = placed.payment
    if not isinstance(payment, InvoicePayment):
        return {"method": payment.method}
    terms = payment.terms or "net30"  # the API always sets the account's terms; net30 is what API.md shows
    return {
        "method": "invoice",
        "account_id": payment.account_id,
        "purchase_order": payment.purchase_order,
        "terms": terms,
        "due_date": due_date(issued_at, terms),
    }


class DocumentWriter:
    def __init__(self, conn: Connection, calculator: TaxCalculator | None = None) -> None:
        self._conn = conn
        self._calculator = calculator or RulesEngine()

    def write(self, order: Order, placed: PlaceOrder, events: list[ev.RecordedEvent]) -> list[str]:
        """The numbers of the documents the events issue (new or already issued), in the events' order."""
        drafts = [d for item in events if (d := self._draft(order, placed, item.event)) is not None]
        # series locked in one order by every transaction, so two batches never deadlock over them
        for series in sorted({d["series"] for d in drafts}):
            self._conn.execute(_LOCK_SERIES, {"series": series})
            self._conn.execute(_SELECT_SERIES, {"series": series})
        return [self._issue(d) for d in drafts]

    def _issue(self, draft: dict[str, Any]) -> str:
        found = self._conn.execute(_EXISTING, draft).scalar_one_or_none()
        if found is not None:
            return str(found)
        sequence = int(self._conn.execute(_NEXT, draft).scalar_one())
        number = f"{draft['series']}-{sequence:06d}"
        snapshot = {**draft["snapshot"], "number": number}
        self._conn.execute(
            _INSERT, {**draft, "number": number, "sequence": sequence, "snapshot": to_json(snapshot).decode()}
        )
        return number

    def _draft(self, order: Order, placed: PlaceOrder, event: ev.OrderEvent) -> dict[str, Any] | None:
        match event:
            case ev.InvoiceIssued(invoice_id=source, fulfillment_order_id=fo_id, amount=amount):
                kind, prefix, reason = "invoice", "INV", None
                fo = next((f for f in order.fulfillment_orders if f.id == fo_id), None)
                units = {q.sku: q.quantity for q in fo.lines} if fo else {}
                lines, breakdown = self._lines(order, placed, units)
            case (
                ev.RefundIssued(refund_id=source, amount=amount)
                | ev.AppeasementGranted(refund_id=source, amount=amount)
            ):
                kind, prefix = "credit_memo", "CRN"
                reason = event.reason if isinstance(event, ev.AppeasementGranted) else "return"
                # an amount paid back, not units: split pro rata over the rates of the fulfillment order it pays
                # back (as the order's summary splits it), the units still ordered when it names several or none
                paid_back = {p.fulfillment_order_id for p in event.parts}
                fo = next((f for f in order.fulfillment_orders if {f.id} == paid_back), None)
                if fo is not None:
                    units = {q.sku: q.quantity for q in fo.lines}
                else:
                    units = {line.sku: line.ordered - line.canceled for line in order.lines}
                _, of = self._lines(order, placed, units)
                breakdown = self._calculator.apportion(amount, of, order.currency)
                lines = []
            case _:
                return None
        address = order.delivery_address or placed.shipping_address
        snapshot = {
            "kind": kind,
            "order_id": order.order_id,
            "issued_at": event.at,
            "currency": order.currency,
            "seller": dict(SELLER),
            "buyer": {"customer": placed.customer.model_dump(mode="json"), "address": address.model_dump(mode="json")},
            "lines": lines,
            "tax": _rates(breakdown),
            "prices_include_tax": breakdown.prices_include_tax,
            "total": amount,
            "tax_total": breakdown.tax,
            "reason": reason,
            "payment": _payment_terms(placed, event.at) if kind == "invoice" else None,
            "requested_delivery_date": placed.requested_delivery_date,
        }
        series = f"{prefix}-{event.at.year}"
        return {
            "series": series,
            "kind": kind,
            "source_id": source,
            "order_id": order.order_id,
            "issued_at": event.at,
            "snapshot": snapshot,
        }

    def _lines(
        self, order: Order, placed: PlaceOrder, units: Mapping[str, int]
    ) -> tuple[list[dict[str, Any]], TaxBreakdown]:
        address = order.delivery_address or placed.shipping_address
        priced = [(line, units[line.sku]) for line in order.lines if units.get(line.sku, 0) > 0]
        amounts = [TaxableAmount(line.unit_price * n, line.tax_class or "standard") for line, n in priced]
        breakdown = self._calculator.document_tax(
            amounts, ship_to=TaxPlace(country=address.country, postal_code=address.postal_code), currency=order.currency
        )
        # a country the rules do not know gives no rates: its lines are listed without one
        rates = dict(enumerate(breakdown.line_rates))
        lines = [
            {"sku": line.sku, "quantity": n, "unit_price": line.unit_price, "amount": a.amount, "rate": rates.get(i)}
            for i, ((line, n), a) in enumerate(zip(priced, amounts, strict=True))
        ]
        return lines, breakdown
