"""The agent console's queries on PostgreSQL: orders by e-mail and the days placed, and a customer's record."""

import uuid
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import Engine

from domain import events as ev
from domain.models import SkuQuantity
from domain.order import Order
from store.console_queries import ConsoleQueries, CurrencyTotals, OrderFilters
from store.order_projection import OrderProjection
from tests.db.test_read_model import batch_of
from tests.orders import place_order

pytestmark = pytest.mark.db


def placed(
    engine: Engine, customer_id: str, email: str, at: datetime, channel: str = "web", shipped: bool = False
) -> str:
    """A JPY order of 2 x A-1 at 1000 for the customer, placed at `at`; `shipped`: one unit shipped and captured."""
    order_id = f"CQ-{uuid.uuid4().hex[:8]}"
    order = Order(order_id=order_id)
    body = place_order(
        order_id,
        channel=channel,
        customer={"id": customer_id, "email": email, "name": "Aiko Sato"},
        lines=[{"sku": "A-1", "quantity": 2, "unit_price": "1000"}],
    )
    line = SkuQuantity(sku="A-1", quantity=2)
    fo = f"{order_id}-F1"
    events: list[ev.OrderEvent] = [
        ev.OrderPlaced(at=at, actor=f"customer:{customer_id}", order=body),
        ev.PaymentAuthorized(at=at, authorization_id=f"auth_{order_id}", amount=Decimal(2000)),
        ev.InventoryReserved(at=at, location_id="DC-1", lines=[line]),
        ev.FulfillmentOrderCreated(
            at=at, fulfillment_order_id=fo, location_id="DC-1", lines=[line], promised_date=at.date()
        ),
    ]
    if shipped:
        events += [
            ev.ShipmentShipped(at=at, fulfillment_order_id=fo, carrier="ups", tracking_number=f"T{order_id}"),
            ev.PaymentCaptured(at=at, transaction_id=f"cap_{order_id}", fulfillment_order_id=fo, amount=Decimal(2000)),
        ]
    OrderProjection(engine).project(batch_of(order, events))
    return order_id


def test_orders_are_found_by_e_mail_whatever_its_case_and_by_the_days_placed(engine: Engine) -> None:
    # given a customer's three orders on the 1st, 2nd and 3rd of March, under one e-mail written two ways
    customer = f"C-{uuid.uuid4().hex[:8]}"
    email = f"{customer.lower()}@Example.com"
    march = datetime(2025, 3, 1, 23, 30, tzinfo=UTC)
    first = placed(engine, customer, email, march)
    second = placed(engine, customer, email.upper(), march + timedelta(days=1), channel="agent")
    third = placed(engine, customer, email, march + timedelta(days=2))
    queries = ConsoleQueries(engine)

    # when they are searched by the e-mail in lower case, then all three are found, newest first
    by_email = queries.search(OrderFilters(email=email.lower()))
    assert [o.order_id for o in by_email] == [third, second, first]

    # when by the 2nd to the 3rd of March, then the first (late on the 1st) is not among them
    by_days = queries.search(
        OrderFilters(customer_id=customer, placed_from=date(2025, 3, 2), placed_to=date(2025, 3, 3))
    )
    assert [o.order_id for o in by_days] == [third, second]

    # when by the agent channel as well, then only the one an agent placed
    assert [o.order_id for o in queries.search(OrderFilters(email=email, channel="agent"))] == [second]

    # when by an e-mail nobody has, then none
    assert queries.search(OrderFilters(email=f"nobody-{customer}@example.com")) == []


def test_a_customers_record_has_every_order_and_what_was_ordered_spent_and_refunded(engine: Engine) -> None:
    # given a customer with two orders, one of them shipped and captured
    customer = f"C-{uuid.uuid4().hex[:8]}"
    at = datetime(2025, 4, 1, tzinfo=UTC)
    older = placed(engine, customer, "a@example.com", at, shipped=True)
    newer = placed(engine, customer, "b@example.com", at + timedelta(hours=1))
    # when the console reads their record
    record = ConsoleQueries(engine).customer(customer)
    # then it has both orders, newest first, the profile of the latest, and the totals in their currency
    assert record is not None
    assert [o.order_id for o in record.orders] == [newer, older]
    assert record.profile["email"] == "b@example.com"
    assert record.totals == [
        CurrencyTotals(currency="JPY", ordered=Decimal(4000), spent=Decimal(2000), refunded=Decimal(0))
    ]
    # and a customer no order names has none
    assert ConsoleQueries(engine).customer(f"C-none-{customer}") is None
