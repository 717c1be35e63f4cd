"""Invoices and credit memos on real PostgreSQL: numbered without gaps or duplicates per series, under concurrent
projections, retried batches and rolled-back ones; each kept as issued."""

import threading
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import Engine, text

from activities.contracts import ProjectionBatch
from domain import events as ev
from domain.ids import workflow_id_for
from domain.models import SkuQuantity
from domain.order import Order
from store.document_queries import DocumentQueries
from store.order_documents import DocumentWriter
from store.order_projection import OrderProjection
from tests.orders import place_order

pytestmark = pytest.mark.db
D = Decimal
# a year no other test issues documents in, so its series is this module's alone
NOW = datetime(2031, 3, 1, tzinfo=UTC)


def clock(start: datetime = NOW) -> Iterator[datetime]:
    minute = 0
    while True:
        minute += 1
        yield start + timedelta(minutes=minute)


def batch_of(order: Order, events: list[ev.OrderEvent]) -> ProjectionBatch:
    recorded = []
    for event in events:
        order.apply(event)
        recorded.append(ev.RecordedEvent(seq=order.version, event=event))
    return ProjectionBatch(
        workflow_id=workflow_id_for(order.order_id), order=order.model_copy(deep=True), events=recorded
    )


def invoiced_order(start: datetime = NOW) -> tuple[Order, ProjectionBatch, ProjectionBatch]:
    """A Japanese order of 3 x tea (105 yen, reduced) and a toy (1100 yen, standard) from one location, and the
    batch that ships, captures and invoices it."""
    order_id, at = f"DOC-{uuid.uuid4().hex[:8]}", clock(start)
    order = Order(order_id=order_id)
    lines = [
        {"sku": "TEA-1", "quantity": 3, "unit_price": "105", "tax_class": "reduced"},
        {"sku": "TOY-1", "quantity": 1, "unit_price": "1100", "tax_class": "standard"},
    ]
    body = place_order(order_id, lines=lines)
    units = [SkuQuantity(sku="TEA-1", quantity=3), SkuQuantity(sku="TOY-1", quantity=1)]
    fo = f"{order_id}-F1"
    placed = batch_of(
        order,
        [
            ev.OrderPlaced(at=next(at), actor="customer:C-1", order=body),
            ev.PaymentAuthorized(at=next(at), authorization_id=f"auth_{order_id}", amount=D(1415)),
            ev.InventoryReserved(at=next(at), location_id="DC-1", lines=units),
            ev.FulfillmentOrderCreated(at=next(at), fulfillment_order_id=fo, location_id="DC-1", lines=units),
        ],
    )
    invoiced = batch_of(
        order,
        [
            ev.ShipmentShipped(at=next(at), fulfillment_order_id=fo, carrier="yamato", tracking_number=f"T{order_id}"),
            ev.PaymentCaptured(at=next(at), transaction_id=f"cap_{order_id}", fulfillment_order_id=fo, amount=D(1415)),
            ev.InvoiceIssued(at=next(at), invoice_id=f"inv_{order_id}", fulfillment_order_id=fo, amount=D(1415)),
        ],
    )
    return order, placed, invoiced


def documents_of(engine: Engine, order_id: str) -> list[tuple[str, str, dict[str, Any]]]:
    with engine.connect() as conn:
        rows = conn.execute(
            text("SELECT number, kind, snapshot FROM documents WHERE order_id = :o ORDER BY issued_at"), {"o": order_id}
        ).all()
    return [(r[0], r[1], r[2]) for r in rows]


def series(engine: Engine, name: str) -> tuple[list[int], int]:
    """The sequences a series has given, in order, and its counter."""
    with engine.connect() as conn:
        taken = conn.execute(
            text("SELECT sequence FROM documents WHERE series = :s ORDER BY sequence"), {"s": name}
        ).scalars()
        counter = conn.execute(text("SELECT last_number FROM document_series WHERE series = :s"), {"s": name})
        return [int(n) for n in taken], int(counter.scalar_one_or_none() or 0)


def test_an_invoice_and_a_credit_memo_are_numbered_and_keep_what_they_said(engine: Engine) -> None:
    # given an order shipped and invoiced
    order, placed, invoiced = invoiced_order()
    projection = OrderProjection(engine)
    projection.project(placed)
    projection.project(invoiced)
    # when an appeasement is granted on it
    part = ev.RefundPart(
        fulfillment_order_id=f"{order.order_id}-F1", transaction_id=f"cap_{order.order_id}", amount=D(108)
    )
    projection.project(
        batch_of(
            order,
            [
                ev.AppeasementGranted(
                    at=NOW + timedelta(hours=1), refund_id="apz_1", amount=D(108), reason="late", parts=[part]
                )
            ],
        )
    )
    # then the invoice is in its year's INV series and the appeasement has a credit memo in CRN
    (inv_number, inv_kind, invoice), (crn_number, crn_kind, memo) = documents_of(engine, order.order_id)
    assert (inv_kind, inv_number[:9], crn_kind, crn_number[:9]) == ("invoice", "INV-2031-", "credit_memo", "CRN-2031-")
    assert invoice["number"] == inv_number and len(inv_number) == len("INV-2031-000001")
    # and the invoice says who sold (with a registration number) and bought, its lines and its tax rounded per rate
    assert invoice["seller"]["registration_number"].startswith("T")
    assert invoice["buyer"]["customer"]["id"] == "C-1"
    assert [line["sku"] for line in invoice["lines"]] == ["TEA-1", "TOY-1"]
    assert invoice["tax"] == [
        {"rate": "0.08", "taxable": "315", "tax": "23"},
        {"rate": "0.10", "taxable": "1100", "tax": "100"},
    ]
    assert invoice["total"] == "1415"
    # and the credit memo its amount split over the order's rates, the parts adding up to it
    assert memo["total"] == "108" and memo["reason"] == "late"
    assert sum(D(str(r["taxable"])) for r in memo["tax"]) == D(108)
    # and both read back as issued, the order's oldest first, each by its number
    queries = DocumentQueries(engine)
    assert queries.of_order(order.order_id) == [invoice, memo]
    assert queries.get(crn_number) == memo and queries.get("CRN-1999-000001") is None


def test_a_retried_batch_numbers_nothing_twice(engine: Engine) -> None:
    # given an order whose invoice is projected
    order, placed, invoiced = invoiced_order()
    projection = OrderProjection(engine)
    projection.project(placed)
    projection.project(invoiced)
    before = documents_of(engine, order.order_id)
    counter = series(engine, "INV-2031")[1]
    # when the same batch is projected again (a retried activity)
    assert projection.project(invoiced) is None
    # then it keeps its one number and the series took none
    assert documents_of(engine, order.order_id) == before and len(before) == 1
    assert series(engine, "INV-2031")[1] == counter


def test_a_rolled_back_batch_leaves_no_gap(engine: Engine) -> None:
    # given an order placed, and its invoice numbered in a transaction that then fails
    order, placed, invoiced = invoiced_order()
    OrderProjection(engine).project(placed)
    with pytest.raises(RuntimeError), engine.begin() as conn:
        DocumentWriter(conn).write(invoiced.order, invoiced.order.placed, invoiced.events)  # type: ignore[arg-type]
        raise RuntimeError("the batch fails after its documents")
    assert documents_of(engine, order.order_id) == []
    # when the batch is projected again and succeeds
    OrderProjection(engine).project(invoiced)
    # then the series has every number once, none missing
    taken, counter = series(engine, "INV-2031")
    assert taken == list(range(1, counter + 1))


def test_concurrent_projections_number_without_gaps_or_duplicates(engine: Engine) -> None:
    # given twelve orders placed
    orders = [invoiced_order() for _ in range(12)]
    for _, placed, _ in orders:
        OrderProjection(engine).project(placed)
    # when their invoices are projected at once, from as many threads, each one twice
    start = threading.Barrier(len(orders))
    failures: list[BaseException] = []

    def project(batch: ProjectionBatch) -> None:
        start.wait()
        try:
            for _ in range(2):
                assert OrderProjection(engine).project(batch) is None
        except BaseException as err:  # reported by the test, not lost in the thread
            failures.append(err)

    threads = [threading.Thread(target=project, args=(invoiced,)) for _, _, invoiced in orders]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    # then every order has one invoice, and the series' numbers run 1..N with no gap and no number twice
    assert failures == []
    numbers = [n for order, _, _ in orders for n, _, _ in documents_of(engine, order.order_id)]
    assert len(numbers) == len(set(numbers)) == len(orders)
    taken, counter = series(engine, "INV-2031")
    assert taken == list(range(1, counter + 1))
