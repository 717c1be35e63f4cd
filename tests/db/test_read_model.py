"""The read model answers the screens' questions: an order's lines, payments, returns and timeline as projected
(what a stale or repeated batch does: test_projection_writes.py)."""

import uuid
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import Engine, select

from activities.contracts import ProjectionBatch
from domain import events as ev
from domain.ids import workflow_id_for
from domain.models import SkuQuantity
from domain.order import Order
from store.order_projection import OrderProjection
from store.order_queries import OrderQueries
from store.read_model import OrderSummary, ReturnSummary
from store.tables import order_events, orders
from tests.orders import place_order

pytestmark = pytest.mark.db
NOW = datetime(2026, 11, 1, tzinfo=UTC)


def record(order: Order, events: list[ev.OrderEvent]) -> list[ev.RecordedEvent]:
    recorded = []
    for event in events:
        order.apply(event)
        recorded.append(ev.RecordedEvent(seq=order.version, event=event))
    return recorded


def batch_of(order: Order, events: list[ev.OrderEvent]) -> ProjectionBatch:
    """Apply the events and make the batch the workflow would send: the order as it now stands and the events."""
    recorded = record(order, events)
    return ProjectionBatch(
        workflow_id=workflow_id_for(order.order_id), order=order.model_copy(deep=True), events=recorded
    )


def clock() -> Iterator[datetime]:
    """Event times a minute apart, so rows ordered by time come out in the order they happened."""
    minute = 0
    while True:
        minute += 1
        yield NOW + timedelta(minutes=minute)


def new_order_id() -> str:
    return f"RM-{uuid.uuid4().hex[:8]}"


def read(engine: Engine, order_id: str) -> OrderSummary:
    summary = OrderQueries(engine).get(order_id)
    assert summary is not None
    return summary


def placed_two_location_order(order_id: str, at: Iterator[datetime]) -> tuple[Order, ProjectionBatch]:
    """A USD order of 2 x A (19.99) from DC-1 and 1 x B (5.50) from ST-2, authorized and released to both."""
    order = Order(order_id=order_id)
    a, b = SkuQuantity(sku="A-1", quantity=2), SkuQuantity(sku="B-2", quantity=1)
    body = place_order(
        order_id,
        currency="USD",
        lines=[
            {"sku": "A-1", "quantity": 2, "unit_price": "19.99"},
            {"sku": "B-2", "quantity": 1, "unit_price": "5.5"},
        ],
    )
    first = batch_of(
        order,
        [
            ev.OrderPlaced(at=next(at), actor="customer:C-1", order=body),
            ev.PaymentAuthorized(at=next(at), authorization_id=f"auth_{order_id}", amount=Decimal("45.48")),
            ev.InventoryReserved(at=next(at), location_id="DC-1", lines=[a]),
            ev.InventoryReserved(at=next(at), location_id="ST-2", lines=[b]),
            ev.FulfillmentOrderCreated(
                at=next(at),
                fulfillment_order_id=f"{order_id}-F1",
                location_id="DC-1",
                lines=[a],
                promised_date=date(2026, 11, 4),
            ),
            ev.FulfillmentOrderCreated(
                at=next(at),
                fulfillment_order_id=f"{order_id}-F2",
                location_id="ST-2",
                lines=[b],
                promised_date=date(2026, 11, 5),
            ),
        ],
    )
    return order, first


def shipped_captured_and_delivered(order: Order, at: Iterator[datetime]) -> ProjectionBatch:
    oid = order.order_id
    events: list[ev.OrderEvent] = []
    for n, amount in ((1, "39.98"), (2, "5.50")):
        fo = f"{oid}-F{n}"
        events += [
            ev.ShipmentShipped(at=next(at), fulfillment_order_id=fo, carrier="ups", tracking_number=f"T{n}{oid}"),
            ev.PaymentCaptured(
                at=next(at), transaction_id=f"cap_{n}{oid}", fulfillment_order_id=fo, amount=Decimal(amount)
            ),
            ev.InvoiceIssued(at=next(at), invoice_id=f"inv_{n}{oid}", fulfillment_order_id=fo, amount=Decimal(amount)),
            ev.ShipmentDelivered(at=next(at), fulfillment_order_id=fo, tracking_number=f"T{n}{oid}"),
        ]
    return batch_of(order, events)


def test_an_order_is_projected_once_and_read_back_with_lines_payments_and_timeline(engine: Engine) -> None:
    # given an accepted order's first batch of events, projected twice (a retried activity)
    order_id = f"RM-{uuid.uuid4().hex[:8]}"
    order = Order(order_id=order_id)
    lines = [SkuQuantity(sku="LEGO-76419", quantity=1)]
    first = record(
        order,
        [
            ev.OrderPlaced(
                at=NOW,
                actor="customer:C-7",
                order=place_order(order_id, customer={"id": "C-7", "email": "a@b.co", "name": "Aiko Sato"}),
            ),
            ev.PaymentAuthorized(at=NOW, authorization_id=f"auth_{order_id}", amount=Decimal(24980)),
            ev.InventoryReserved(at=NOW, location_id="DC-TOKYO", lines=lines),
            ev.FulfillmentOrderCreated(
                at=NOW, fulfillment_order_id=f"{order_id}-F1", location_id="DC-TOKYO", lines=lines
            ),
        ],
    )
    projection, queries = OrderProjection(engine), OrderQueries(engine)
    batch = ProjectionBatch(workflow_id=workflow_id_for(order_id), order=order.model_copy(deep=True), events=first)
    projection.project(batch)
    projection.project(batch)

    # when it ships and that batch is projected, then the first batch is retried late
    shipped = record(
        order,
        [
            ev.ShipmentShipped(
                at=NOW, fulfillment_order_id=f"{order_id}-F1", carrier="yamato", tracking_number=f"T{order_id}"
            )
        ],
    )
    projection.project(ProjectionBatch(workflow_id=workflow_id_for(order_id), order=order, events=shipped))
    projection.project(batch)

    # then the summary shows the newest state, each event once, and the authorization
    summary = queries.get(order_id)
    assert summary is not None
    assert summary.status == "shipped"
    assert [t.seq for t in summary.timeline] == [1, 2, 3, 4, 5]
    assert summary.timeline[0].actor == "customer:C-7"
    assert summary.lines[0].shipped == 1 and summary.lines[0].allocated == 1
    assert str(summary.payment.authorized) == "24980"
    assert [p.kind for p in summary.payments] == ["authorize"]
    assert summary.shipments[0].tracking_number == f"T{order_id}"
    # and a carrier's tracking number resolves to the order
    assert queries.fulfillment_orders_of_tracking(f"T{order_id}") == [(order_id, f"{order_id}-F1")]
    # and agents find it by customer, status and channel
    assert [o.order_id for o in queries.search(customer_id="C-7", status="shipped", channel="web")] == [order_id]
    assert queries.search(customer_id="C-7", status="delivered") == []


def test_an_unknown_order_reads_as_none(engine: Engine) -> None:
    assert OrderQueries(engine).get("nope") is None


def test_a_return_its_refund_and_an_appeasement_show_as_typed_returns_refund_rows_and_totals(engine: Engine) -> None:
    # given a delivered USD order shipped from two locations and captured per shipment
    order_id, at = new_order_id(), clock()
    order, placed = placed_two_location_order(order_id, at)
    projection = OrderProjection(engine)
    projection.project(placed)
    projection.project(shipped_captured_and_delivered(order, at))

    # when one unit of A comes back by mail and is refunded, and an agent grants 22.00 of goodwill
    returned = SkuQuantity(sku="A-1", quantity=1)
    requested = ev.ReturnRequested(
        at=next(at),
        actor="customer:C-1",
        return_id=f"{order_id}-R1",
        rma=f"RMA-{order_id}-R1",
        lines=[returned],
        reason="too small",
        method="mail",
        location_id="DC-1",
        label=f"https://labels.example/{order_id}-R1.pdf",
        refund_amount=Decimal("19.99"),
    )
    projection.project(batch_of(order, [requested]))
    received = ev.ReturnedLine(sku="A-1", quantity=1, condition="resellable")
    refund_parts = order.refund_parts(Decimal("19.99"), prefer_skus={"A-1"})
    projection.project(
        batch_of(
            order,
            [
                ev.ReturnReceived(at=next(at), actor="partner", return_id=f"{order_id}-R1", lines=[received]),
                ev.RefundIssued(
                    at=next(at),
                    refund_id=f"{order_id}-RF1",
                    return_id=f"{order_id}-R1",
                    amount=Decimal("19.99"),
                    parts=refund_parts,
                ),
            ],
        )
    )
    goodwill_parts = order.refund_parts(Decimal("22.00"))
    projection.project(
        batch_of(
            order,
            [
                ev.AppeasementGranted(
                    at=next(at),
                    actor="agent:A-1",
                    refund_id=f"{order_id}-AP1",
                    amount=Decimal("22.00"),
                    reason="late delivery",
                    parts=goodwill_parts,
                )
            ],
        )
    )

    # then the return reads back typed, refunded, with what came back and the refund in cents
    summary = read(engine, order_id)
    assert summary.returns == [
        ReturnSummary(
            return_id=f"{order_id}-R1",
            rma=f"RMA-{order_id}-R1",
            status="refunded",
            method="mail",
            location_id="DC-1",
            label=f"https://labels.example/{order_id}-R1.pdf",
            lines=[returned],
            received=[received],
            refund_amount=Decimal("19.99"),
        )
    ]
    assert str(summary.returns[0].refund_amount) == "19.99"
    assert summary.lines[0].returned == 1
    # and each refund part is a payment row keyed by refund id and capture, against its fulfillment order
    assert [(p.kind, p.transaction_id, str(p.amount), p.fulfillment_order_id) for p in summary.payments] == [
        ("authorize", f"auth_{order_id}", "45.48", None),
        ("capture", f"cap_1{order_id}", "39.98", f"{order_id}-F1"),
        ("capture", f"cap_2{order_id}", "5.50", f"{order_id}-F2"),
        ("refund", f"{order_id}-RF1:cap_1{order_id}", "19.99", f"{order_id}-F1"),
        ("appeasement", f"{order_id}-AP1:cap_1{order_id}", "19.99", f"{order_id}-F1"),
        ("appeasement", f"{order_id}-AP1:cap_2{order_id}", "2.01", f"{order_id}-F2"),
    ]
    # and the totals and each fulfillment order's refunded amount add up
    assert (str(summary.payment.captured), str(summary.payment.refunded)) == ("45.48", "41.99")
    assert [(fo.id, str(fo.captured), str(fo.refunded)) for fo in summary.fulfillment_orders] == [
        (f"{order_id}-F1", "39.98", "39.98"),
        (f"{order_id}-F2", "5.50", "2.01"),
    ]
    # and the timeline tells the story in words, with who did it
    assert [(t.type, t.actor, t.summary) for t in summary.timeline[-4:]] == [
        ("ReturnRequested", "customer:C-1", ev.describe(requested)),
        ("ReturnReceived", "partner", f"Return {order_id}-R1 received: 1 x A-1 resellable"),
        ("RefundIssued", "system", f"Refunded 19.99 for return {order_id}-R1"),
        ("AppeasementGranted", "agent:A-1", "Goodwill refund of 22.00 by agent:A-1: late delivery"),
    ]
    assert summary.timeline[-4].summary.startswith(f"Return RMA-{order_id}-R1 of 1 x A-1 by mail")
    # and returns and refunds leave the status alone
    assert summary.status == "delivered"


def test_an_exchange_a_failed_refund_and_a_failed_step_show_in_lines_payments_returns_and_timeline(
    engine: Engine,
) -> None:
    # given a delivered USD order
    order_id, at = new_order_id(), clock()
    order, placed = placed_two_location_order(order_id, at)
    projection = OrderProjection(engine)
    projection.project(placed)
    projection.project(shipped_captured_and_delivered(order, at))

    # when a unit of A (19.99) is exchanged for a new sku C at 25.00, its difference authorized on its own,
    returned = SkuQuantity(sku="A-1", quantity=1)
    requested = ev.ReturnRequested(
        at=next(at),
        actor="agent:A-1",
        return_id=f"{order_id}-R1",
        rma=f"RMA-{order_id}-1",
        lines=[returned],
        reason="exchange: size",
        method="mail",
        location_id="DC-1",
        label="YMT-RET-1",
        refund_amount=Decimal(0),
    )
    replacement = ev.ExchangeLine(sku="C-3", quantity=1, unit_price=Decimal("25.00"))
    projection.project(
        batch_of(
            order,
            [
                requested,
                ev.PaymentAuthorized(at=next(at), authorization_id=f"auth_x_{order_id}", amount=Decimal("5.01")),
                ev.ExchangeRequested(
                    at=next(at),
                    actor="agent:A-1",
                    exchange_id=f"{order_id}-X1",
                    return_id=f"{order_id}-R1",
                    lines=[replacement],
                    credit=Decimal("19.99"),
                    difference=Decimal("5.01"),
                    authorization_id=f"auth_x_{order_id}",
                    reason="size",
                ),
            ],
        )
    )
    # and the returned unit arrives (nothing to refund) though its restock fails, and a return of B is received
    # but the gateway refuses its refund
    other = f"{order_id}-R2"
    projection.project(
        batch_of(
            order,
            [
                ev.ReturnReceived(
                    at=next(at),
                    return_id=f"{order_id}-R1",
                    lines=[ev.ReturnedLine(sku="A-1", quantity=1, condition="resellable")],
                ),
                ev.StepFailed(at=next(at), step="restock 1 unit(s) at DC-1", reason="location closed"),
                ev.RefundIssued(
                    at=next(at), refund_id=f"RF-{order_id}-R1", return_id=f"{order_id}-R1", amount=Decimal(0), parts=[]
                ),
                requested.model_copy(
                    update={
                        "return_id": other,
                        "rma": f"RMA-{order_id}-2",
                        "lines": [SkuQuantity(sku="B-2", quantity=1)],
                        "refund_amount": Decimal("5.50"),
                        "reason": "broken",
                    }
                ),
                ev.ReturnReceived(
                    at=next(at), return_id=other, lines=[ev.ReturnedLine(sku="B-2", quantity=1, condition="damaged")]
                ),
                ev.RefundFailed(at=next(at), return_id=other, amount=Decimal("5.50"), reason="card closed"),
            ],
        )
    )

    # then the new line, the second authorization, the return's state and the timeline all read back
    summary = read(engine, order_id)
    assert {(line.sku, line.ordered, str(line.unit_price)) for line in summary.lines} >= {("C-3", 1, "25.00")}
    assert str(summary.payment.authorized) == "50.49"
    assert [(p.kind, str(p.amount)) for p in summary.payments if p.transaction_id == f"auth_x_{order_id}"] == [
        ("authorize", "5.01")
    ]
    assert [r.status for r in summary.returns] == ["refunded", "refund_failed"]
    told = {t.type: t.summary for t in summary.timeline}
    assert "charge 5.01 on shipment" in told["ExchangeRequested"]
    assert "an operator must see to it" in told["StepFailed"]
    assert "an agent must settle it" in told["RefundFailed"]


def test_the_read_model_keeps_the_payment_method_but_never_the_token(engine: Engine) -> None:
    # given an order placed with a distinctive card token
    order_id = new_order_id()
    order = Order(order_id=order_id)
    placed = place_order(order_id, payment={"method": "card", "token": "tok_only_the_gateway_knows_7731"})
    batch = batch_of(order, [ev.OrderPlaced(at=NOW, actor="customer:C-1", order=placed)])
    # when it is projected
    OrderProjection(engine).project(batch)
    # then no row of the order holds the token, while the timeline still says how it was paid
    with engine.connect() as conn:
        stored = [
            str(dict(row))
            for table in (orders, order_events)
            for row in conn.execute(select(table).where(table.c.order_id == order_id)).mappings()
        ]
    assert stored and not any("tok_only_the_gateway_knows_7731" in row for row in stored)
    assert any('"method": "card"' in row or "'method': 'card'" in row for row in stored)


def test_a_pickup_order_says_at_which_store_it_is_collected(engine: Engine) -> None:
    # given an order placed for pickup at a store
    order_id = new_order_id()
    order = Order(order_id=order_id)
    placed = place_order(order_id, delivery_method="pickup", pickup_location_id="STORE-SHIBUYA")
    # when it is projected
    OrderProjection(engine).project(batch_of(order, [ev.OrderPlaced(at=NOW, actor="customer:C-1", order=placed)]))
    # then its summary names the store, as a reorder needs
    summary = OrderQueries(engine).get(order_id)
    assert summary is not None
    assert (summary.delivery_method, summary.pickup_location_id) == ("pickup", "STORE-SHIBUYA")
