"""Who a message goes to and what it says of the order, from the read model: the event may not carry the
customer, and the outbox row is written in the projection's transaction, so the order's row is there with it."""

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy import Engine, select

from domain.models import Locale
from events_out.notifications.notices import History
from store.tables import fulfillment_orders, locations, order_events, orders


@dataclass(frozen=True)
class Recipient:
    order_id: str
    name: str
    email: str
    phone: str | None
    locale: Locale
    currency: str
    total: Decimal

    def values(self) -> dict[str, Any]:
        """What every template may show of the order."""
        return {"order_id": self.order_id, "name": self.name, "currency": self.currency, "total": self.total}


class Recipients:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def of(self, order_id: str) -> Recipient | None:
        query = select(orders.c.customer, orders.c.currency, orders.c.total).where(orders.c.order_id == order_id)
        with self.engine.connect() as conn:
            row = conn.execute(query).first()
        if row is None:
            return None
        customer: dict[str, Any] = row.customer
        return Recipient(
            order_id=order_id,
            name=customer["name"],
            email=customer["email"],
            phone=customer.get("phone") or None,
            # orders placed before customers had a locale read as Japanese
            locale="en" if customer.get("locale") == "en" else "ja",
            currency=row.currency,
            total=Decimal(row.total),
        )

    def history(self, order_id: str) -> History:
        query = select(order_events.c.seq, order_events.c.type).where(order_events.c.order_id == order_id)
        with self.engine.connect() as conn:
            return [(seq, kind) for seq, kind in conn.execute(query.order_by(order_events.c.seq))]

    def store_of(self, fulfillment_order_id: str) -> str | None:
        """The name of the store a pickup order waits at (its id when the catalog does not name it)."""
        query = (
            select(fulfillment_orders.c.location_id, locations.c.name)
            .outerjoin(locations, fulfillment_orders.c.location_id == locations.c.id)
            .where(fulfillment_orders.c.id == fulfillment_order_id)
        )
        with self.engine.connect() as conn:
            row = conn.execute(query).first()
        return None if row is None else str(row.name or row.location_id)
