"""What operators read across orders: how many are in each status and channel, how long orders spend in each
phase of their timeline, and which need a person.

Every figure covers the orders placed within one window (`since` <= placed_at < `until`, either end open), so a
chart and its table always count the same orders.
"""

from datetime import datetime
from typing import Any, get_args

from pydantic import BaseModel
from sqlalchemy import ColumnElement, Engine, Select, and_, case, extract, func, select

from domain.models import Channel
from domain.order_status import STATUSES
from store.tables import order_events, orders

# The lifecycle's order, so a chart reads left to right as orders move; a status not listed follows, by name.
STATUS_ORDER = STATUSES
CHANNEL_ORDER: tuple[str, ...] = get_args(Channel)
# An order counts as delivered (its last parcel arrived) only once its status says every parcel did.
_DELIVERED_STATUSES = ("delivered", "completed")
ATTENTION_LIST_LIMIT = 50


class Count(BaseModel):
    label: str
    count: int


class PhaseTime(BaseModel):
    """How long the orders that went through a phase spent in it, in seconds; None when no order did."""

    phase: str
    orders: int
    p50_seconds: float | None
    p90_seconds: float | None


class AttentionItem(BaseModel):
    order_id: str
    status: str
    reason: str
    since: datetime


class Insights(BaseModel):
    since: datetime | None
    until: datetime | None
    total: int
    by_status: list[Count]
    by_channel: list[Count]
    phases: list[PhaseTime]
    attention_count: int
    # the newest first, at most ATTENTION_LIST_LIMIT
    attention: list[AttentionItem]


# The phases, as (name, from mark, to mark): marks are the first OrderPlaced, the first ShipmentShipped (the first
# parcel left) and the last ShipmentDelivered (the last parcel arrived) on the order's timeline.
PHASES = (
    ("placed → shipped", "placed", "shipped"),
    ("shipped → delivered", "shipped", "delivered"),
    ("placed → delivered", "placed", "delivered"),
)


def _ordered(counts: dict[str, int], order: tuple[str, ...]) -> list[Count]:
    known = [Count(label=label, count=counts[label]) for label in order if label in counts]
    rest = [Count(label=label, count=counts[label]) for label in sorted(set(counts) - set(order))]
    return known + rest


class InsightQueries:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def snapshot(
        self, since: datetime | None = None, until: datetime | None = None, attention_limit: int = ATTENTION_LIST_LIMIT
    ) -> Insights:
        window = self._window(since, until)
        with self._engine.connect() as conn:
            by_status = {r[0]: r[1] for r in conn.execute(self._count_by(orders.c.status, window))}
            by_channel = {r[0]: r[1] for r in conn.execute(self._count_by(orders.c.channel, window))}
            phase_row = conn.execute(self._phase_times(window)).mappings().one()
            needing = and_(window, orders.c.attention_reason.is_not(None))
            attention_count = conn.execute(select(func.count()).select_from(orders).where(needing)).scalar_one()
            attention_rows = conn.execute(
                select(orders.c.order_id, orders.c.status, orders.c.attention_reason, orders.c.attention_since)
                .where(needing)
                .order_by(orders.c.attention_since.desc(), orders.c.order_id)
                .limit(attention_limit)
            ).all()
        return Insights(
            since=since,
            until=until,
            total=sum(by_status.values()),
            by_status=_ordered(by_status, STATUS_ORDER),
            by_channel=_ordered(by_channel, CHANNEL_ORDER),
            phases=[
                PhaseTime(
                    phase=name,
                    orders=phase_row[f"{key}_n"],
                    p50_seconds=phase_row[f"{key}_p50"],
                    p90_seconds=phase_row[f"{key}_p90"],
                )
                for name, key in zip((p[0] for p in PHASES), _phase_keys(), strict=True)
            ],
            attention_count=attention_count,
            attention=[AttentionItem(order_id=r[0], status=r[1], reason=r[2], since=r[3]) for r in attention_rows],
        )

    @staticmethod
    def _window(since: datetime | None, until: datetime | None) -> ColumnElement[bool]:
        conditions = []
        if since is not None:
            conditions.append(orders.c.placed_at >= since)
        if until is not None:
            conditions.append(orders.c.placed_at < until)
        return and_(True, *conditions)

    @staticmethod
    def _count_by(column: Any, window: ColumnElement[bool]) -> Select[Any]:
        return select(column, func.count()).where(window).group_by(column)

    @staticmethod
    def _phase_times(window: ColumnElement[bool]) -> Select[Any]:
        """One row: per phase the number of orders that went through it and their p50 and p90 in seconds."""
        e = order_events.c
        delivered_order = orders.c.status.in_(_DELIVERED_STATUSES)
        marks = (
            select(
                e.order_id,
                func.min(e.at).filter(e.type == "OrderPlaced").label("placed"),
                func.min(e.at).filter(e.type == "ShipmentShipped").label("shipped"),
                # only an order whose every parcel arrived has its "delivered" mark
                case((delivered_order, func.max(e.at).filter(e.type == "ShipmentDelivered"))).label("delivered"),
            )
            .join(orders, orders.c.order_id == e.order_id)
            .where(window, e.type.in_(("OrderPlaced", "ShipmentShipped", "ShipmentDelivered")))
            .group_by(e.order_id, orders.c.status)
            .subquery("marks")
        )
        columns = []
        for (_, start, end), key in zip(PHASES, _phase_keys(), strict=True):
            seconds = extract("epoch", marks.c[end] - marks.c[start])
            columns += [
                func.count(seconds).label(f"{key}_n"),
                func.percentile_cont(0.5).within_group(seconds).label(f"{key}_p50"),
                func.percentile_cont(0.9).within_group(seconds).label(f"{key}_p90"),
            ]
        return select(*columns).select_from(marks)


def _phase_keys() -> list[str]:
    return [f"{start}_{end}" for _, start, end in PHASES]
