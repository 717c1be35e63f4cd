"""The order summary's tax per rate: from each line's tax class as captured, the address it ships to and the
currency, rounded once per rate."""

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from alembic import command
from sqlalchemy import Engine, create_engine, text

from activities.contracts import ProjectionBatch
from domain import events as ev
from domain.ids import workflow_id_for
from domain.models import SkuQuantity
from domain.order import Order
from domain.tax import DEFAULT_RULES
from integrations.tax import RulesEngine, TaxCalculator
from store.catalog import ProductCatalog, ProductDetails
from store.db import make_engine, sqlalchemy_url
from store.migrate import alembic_config
from store.order_projection import OrderProjection
from store.order_queries import OrderQueries
from store.read_model import OrderSummary, RateTax
from tests.orders import place_order

pytestmark = pytest.mark.db
NOW = datetime(2026, 11, 1, tzinfo=UTC)
D = Decimal
TORONTO = {"name": "A", "line1": "1 King St W", "city": "Toronto", "postal_code": "M5H 1A1", "country": "CA"}


def sku(name: str) -> str:
    return f"{name}-{uuid.uuid4().hex[:6]}"


def project(
    engine: Engine, order: Order, events: list[ev.OrderEvent], tax: TaxCalculator | None = None
) -> OrderSummary:
    recorded = []
    for event in events:
        order.apply(event)
        recorded.append(ev.RecordedEvent(seq=order.version, event=event))
    batch = ProjectionBatch(
        workflow_id=workflow_id_for(order.order_id), order=order.model_copy(deep=True), events=recorded
    )
    assert OrderProjection(engine).project(batch) is None
    summary = OrderQueries(engine, tax=tax).get(order.order_id)
    assert summary is not None
    return summary


def placed(
    engine: Engine, lines: list[dict[str, Any]], tax: TaxCalculator | None = None, **overrides: Any
) -> tuple[Order, OrderSummary]:
    order_id = f"TX-{uuid.uuid4().hex[:8]}"
    order = Order(order_id=order_id)
    body = place_order(order_id, lines=lines, **overrides)
    return order, project(engine, order, [ev.OrderPlaced(at=NOW, actor="customer:C-1", order=body)], tax)


def test_a_japanese_order_has_its_tax_per_rate(engine: Engine) -> None:
    # given an order of three 105-yen snacks (reduced) and a 1100-yen toy (standard), tax included
    tea, toy = sku("TEA"), sku("TOY")
    lines = [
        {"sku": tea, "quantity": 3, "unit_price": "105", "tax_class": "reduced"},
        {"sku": toy, "quantity": 1, "unit_price": "1100", "tax_class": "standard"},
    ]
    # when it is projected and read
    _, summary = placed(engine, lines)
    # then its tax is given per rate, each rounded once (315 x 8/108 = 23.33 -> 23)
    assert summary.tax == [
        RateTax(rate=D("0.08"), taxable=D(315), tax=D(23)),
        RateTax(rate=D("0.10"), taxable=D(1100), tax=D(100)),
    ]
    assert summary.prices_include_tax
    assert {line.sku: line.tax_class for line in summary.lines} == {tea: "reduced", toy: "standard"}
    # and each line has its rate and its share of that rate's tax
    assert {line.sku: (line.tax_rate, line.tax) for line in summary.lines} == {
        tea: (D("0.08"), D(23)),
        toy: (D("0.10"), D(100)),
    }
    # and it reads as API.md has it: money and rates as decimal strings
    assert summary.model_dump(mode="json")["tax"][0] == {"rate": "0.08", "taxable": "315", "tax": "23"}


def test_canceled_units_are_not_taxed(engine: Engine) -> None:
    # given an order of two toys at 1100 yen
    toy = sku("TOY")
    order, _ = placed(engine, [{"sku": toy, "quantity": 2, "unit_price": "1100", "tax_class": "standard"}])
    # when one is canceled
    canceled = ev.ItemsCanceled(at=NOW, lines=[SkuQuantity(sku=toy, quantity=1)], reason="changed mind")
    summary = project(engine, order, [canceled])
    # then the tax is that of the one left
    assert summary.tax == [RateTax(rate=D("0.10"), taxable=D(1100), tax=D(100))]
    assert [(line.tax_rate, line.tax) for line in summary.lines] == [(D("0.10"), D(100))]


def test_a_line_canceled_in_full_has_no_tax(engine: Engine) -> None:
    # given an order of a toy and a tea
    tea, toy = sku("TEA"), sku("TOY")
    lines = [
        {"sku": tea, "quantity": 1, "unit_price": "1080", "tax_class": "reduced"},
        {"sku": toy, "quantity": 1, "unit_price": "1100", "tax_class": "standard"},
    ]
    order, _ = placed(engine, lines)
    # when the tea is canceled
    summary = project(engine, order, [ev.ItemsCanceled(at=NOW, lines=[SkuQuantity(sku=tea, quantity=1)], reason="x")])
    # then its rate is gone from the order and the line has no rate or tax
    assert [r.rate for r in summary.tax] == [D("0.10")]
    assert {line.sku: (line.tax_rate, line.tax) for line in summary.lines}[tea] == (None, D(0))


def test_a_line_without_a_captured_class_takes_the_catalogs_once(engine: Engine) -> None:
    # given a food the catalog sells at the reduced rate, on a line that captured no class
    tea = sku("TEA")
    catalog = ProductCatalog(engine)
    catalog.put(tea, ProductDetails(name="Tea", prices={"JPY": D(1080)}, tax_class="reduced"))
    order, summary = placed(engine, [{"sku": tea, "quantity": 1, "unit_price": "1080"}])
    # then the line is taxed at the catalog's class when it was written
    assert summary.tax == [RateTax(rate=D("0.08"), taxable=D(1080), tax=D(80))]
    # when the catalog reclassifies it afterwards and the order changes
    catalog.put(tea, ProductDetails(name="Tea", prices={"JPY": D(1080)}, tax_class="standard"))
    summary = project(engine, order, [ev.FraudScreened(at=NOW, score=1)])
    # then the order keeps the class it had
    assert [r.rate for r in summary.tax] == [D("0.08")]


def test_a_canadian_order_has_the_tax_added_on_top_by_province(engine: Engine) -> None:
    # given a CAD order shipped to Ontario, read with Canada's rules
    toy = sku("TOY")
    lines = [{"sku": toy, "quantity": 1, "unit_price": "19.99", "tax_class": "standard"}]
    # when it is projected and read
    _, summary = placed(engine, lines, RulesEngine(DEFAULT_RULES), currency="CAD", shipping_address=TORONTO)
    # then Ontario's HST is added on top, to the cent
    assert summary.tax == [RateTax(rate=D("0.13"), taxable=D("19.99"), tax=D("2.60"))]
    assert not summary.prices_include_tax


def test_each_invoice_and_appeasement_has_its_tax_per_rate(engine: Engine) -> None:
    # given an order of a 1080-yen tea (reduced) and a 1100-yen toy (standard) shipped together, captured, invoiced
    tea, toy = sku("TEA"), sku("TOY")
    lines = [
        {"sku": tea, "quantity": 1, "unit_price": "1080", "tax_class": "reduced"},
        {"sku": toy, "quantity": 1, "unit_price": "1100", "tax_class": "standard"},
    ]
    order, _ = placed(engine, lines)
    fo = f"{order.order_id}-F1"
    units = [SkuQuantity(sku=tea, quantity=1), SkuQuantity(sku=toy, quantity=1)]
    project(
        engine,
        order,
        [
            ev.PaymentAuthorized(at=NOW, authorization_id=f"auth_{fo}", amount=D(2180)),
            ev.InventoryReserved(at=NOW, location_id="DC-1", lines=units),
            ev.FulfillmentOrderCreated(at=NOW, fulfillment_order_id=fo, location_id="DC-1", lines=units),
            ev.ShipmentShipped(at=NOW, fulfillment_order_id=fo, carrier="ups", tracking_number=f"T-{fo}"),
            ev.PaymentCaptured(at=NOW, transaction_id=f"cap_{fo}", fulfillment_order_id=fo, amount=D(2180)),
            ev.InvoiceIssued(at=NOW, invoice_id=f"inv_{fo}", fulfillment_order_id=fo, amount=D(2180)),
        ],
    )
    # when a 1000-yen appeasement is granted
    goodwill = ev.AppeasementGranted(
        at=NOW,
        actor="agent:A-1",
        refund_id=f"{fo}-AP1",
        amount=D(1000),
        reason="late delivery",
        parts=order.refund_parts(D(1000)),
    )
    summary = project(engine, order, [goodwill])
    # then the fulfillment order and its invoice have the tax of what they bill, per rate
    billed = [RateTax(rate=D("0.08"), taxable=D(1080), tax=D(80)), RateTax(rate=D("0.10"), taxable=D(1100), tax=D(100))]
    assert summary.fulfillment_orders[0].tax == billed
    assert summary.invoices[0].tax == billed
    # and the appeasement is split pro rata by what was paid at each rate (1080 : 1100), its tax in each part
    (appeasement,) = [p for p in summary.payments if p.kind == "appeasement"]
    assert appeasement.tax == [
        RateTax(rate=D("0.08"), taxable=D(495), tax=D(37)),
        RateTax(rate=D("0.10"), taxable=D(505), tax=D(46)),
    ]
    # and a capture carries no tax of its own: its invoice does
    assert [p.tax for p in summary.payments if p.kind == "capture"] == [[]]


@pytest.fixture
def database_at_0012(engine: Engine) -> Iterator[str]:
    """A database of its own on the test server, migrated up to 0012 (order lines without a tax class)."""
    name = f"oms_tax_{uuid.uuid4().hex[:10]}"
    admin = create_engine(engine.url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = engine.url.set(database=name).render_as_string(hide_password=False)
    try:
        command.upgrade(alembic_config(url), "0012")
        yield url
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE "{name}" WITH (FORCE)'))
        admin.dispose()


def test_the_migration_gives_lines_written_before_the_catalogs_class(database_at_0012: str) -> None:
    # given lines projected before the tax class was kept: a food the catalog sells reduced, a sku it no longer has
    old = make_engine(database_at_0012, pool_size=1)
    with old.begin() as conn:
        conn.execute(text("INSERT INTO products (sku, name, prices, tax_class) VALUES ('TEA', 'Tea', '{}', 'reduced')"))
        conn.execute(
            text(
                "INSERT INTO orders (order_id, workflow_id, status, channel, customer_id, customer, currency, total, "
                "authorized, captured, refunded, voided, delivery_method, shipping_address, version, placed_at) "
                "VALUES ('OLD-1', 'order-OLD-1', 'accepted', 'web', 'C-1', '{}', 'JPY', 2180, 0, 0, 0, 0, "
                "'standard', '{}', 1, now())"
            )
        )
        conn.execute(
            text(
                "INSERT INTO order_lines (order_id, sku, unit_price, ordered, allocated, shipped, delivered, canceled, "
                "returned) VALUES ('OLD-1', 'TEA', 1080, 1, 0, 0, 0, 0, 0), ('OLD-1', 'GONE', 1100, 1, 0, 0, 0, 0, 0)"
            )
        )
    old.dispose()
    # when the database is migrated
    command.upgrade(alembic_config(database_at_0012), "head")
    # then each line has the catalog's class, and standard where the catalog has none
    migrated = make_engine(database_at_0012, pool_size=1)
    try:
        with migrated.connect() as conn:
            found = {row.sku: row.tax_class for row in conn.execute(text("SELECT sku, tax_class FROM order_lines"))}
        assert found == {"TEA": "reduced", "GONE": "standard"}
    finally:
        migrated.dispose()
    # when it is migrated back, then the lines are as they were
    command.downgrade(alembic_config(database_at_0012), "0012")
    back = create_engine(sqlalchemy_url(database_at_0012))
    try:
        with back.connect() as conn:
            columns = conn.execute(
                text("SELECT column_name FROM information_schema.columns WHERE table_name = 'order_lines'")
            ).scalars()
            assert "tax_class" not in set(columns)
    finally:
        back.dispose()
