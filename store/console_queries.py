"""The read model as the agent console asks it: orders by any of what an agent knows, and a customer's record."""

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import Engine, and_, func, select

from domain.money import quantize
from store.order_queries import _attention, _money
from store.read_model import OrderListItem
from store.tables import orders


@dataclass(frozen=True)
class OrderFilters:
    """What an agent searches orders by; every filter given must hold."""

    customer_id: str | None = None
    email: str | None = None
    status: str | None = None
    channel: str | None = None
    # placed on or after this day, and on or before that one (whole days, UTC)
    placed_from: date | None = None
    placed_to: date | None = None
    attention: bool | None = None
    limit: int = 100


@dataclass(frozen=True)
class CurrencyTotals:
    currency: str
    ordered: Decimal
    # what was taken from the customer (captured) and what was given back (refunded)
    spent: Decimal
    refunded: Decimal


@dataclass(frozen=True)
class CustomerRecord:
    customer_id: str
    # the customer as their latest order names them (id, e-mail, name, phone, locale)
    profile: dict[str, Any]
    orders: list[OrderListItem]
    totals: list[CurrencyTotals] = field(default_factory=list)


def _placed_between(placed_from: date | None, placed_to: date | None) -> list[Any]:
    conditions = []
    if placed_from:
        conditions.append(orders.c.placed_at >= datetime.combine(placed_from, time.min, tzinfo=UTC))
    if placed_to:
        conditions.append(orders.c.placed_at < datetime.combine(placed_to + timedelta(days=1), time.min, tzinfo=UTC))
    return conditions


class ConsoleQueries:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def search(self, filters: OrderFilters) -> list[OrderListItem]:
        """Orders matching every filter given, newest first; the e-mail matches whatever its case."""
        conditions: list[Any] = []
        if filters.customer_id:
            conditions.append(orders.c.customer_id == filters.customer_id)
        if filters.email:
            conditions.append(func.lower(orders.c.customer.op("->>")("email")) == filters.email.strip().lower())
        if filters.status:
            conditions.append(orders.c.status == filters.status)
        if filters.channel:
            conditions.append(orders.c.channel == filters.channel)
        conditions += _placed_between(filters.placed_from, filters.placed_to)
        if filters.attention is not None:
            needing = orders.c.attention_reason.is_not(None)
            conditions.append(needing if filters.attention else ~needing)
        stmt = (
            select(orders)
            .where(and_(True, *conditions))
            .order_by(orders.c.placed_at.desc(), orders.c.order_id)
            .limit(filters.limit)
        )
        with self._engine.connect() as conn:
            rows = conn.execute(stmt).mappings().all()
        return [OrderListItem.model_validate({**_money(r, r["currency"]), "attention": _attention(r)}) for r in rows]

    def customer(self, customer_id: str) -> CustomerRecord | None:
        """The customer, every order of theirs (newest first) and, per currency, what they ordered, what was
        captured from them and what was refunded to them; None when no order names them."""
        found = self.search(OrderFilters(customer_id=customer_id, limit=10_000))
        if not found:
            return None
        totals_stmt = (
            select(
                orders.c.currency,
                func.sum(orders.c.total),
                func.sum(orders.c.captured),
                func.sum(orders.c.refunded),
            )
            .where(orders.c.customer_id == customer_id)
            .group_by(orders.c.currency)
            .order_by(orders.c.currency)
        )
        latest = select(orders.c.customer).where(orders.c.order_id == found[0].order_id)
        with self._engine.connect() as conn:
            sums = conn.execute(totals_stmt).all()
            profile = conn.execute(latest).scalar_one()
        totals = [
            CurrencyTotals(currency=c, ordered=quantize(o, c), spent=quantize(s, c), refunded=quantize(r, c))
            for c, o, s, r in sums
        ]
        return CustomerRecord(customer_id=customer_id, profile=dict(profile), orders=found, totals=totals)
