"""Inventory levels and reservations. A reservation is a conditional update, so stock never goes negative."""

from dataclasses import dataclass

from sqlalchemy import Engine, and_, func, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.engine import Connection

from domain.allocation import LocationStock
from domain.models import SkuQuantity
from store.tables import inventory_levels, locations, reservations


@dataclass(frozen=True)
class Level:
    location_id: str
    sku: str
    on_hand: int
    reserved: int
    safety_stock: int

    @property
    def available(self) -> int:
        return max(self.on_hand - self.reserved - self.safety_stock, 0)


class InventoryRepository:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def stock_for(self, skus: list[str]) -> list[LocationStock]:
        """Every location with what it has available of these SKUs (zero where it has none)."""
        available = inventory_levels.c.on_hand - inventory_levels.c.reserved - inventory_levels.c.safety_stock
        with self._engine.connect() as conn:
            locs = conn.execute(select(locations).order_by(locations.c.id)).mappings().all()
            rows = conn.execute(
                select(inventory_levels.c.location_id, inventory_levels.c.sku, available.label("available")).where(
                    inventory_levels.c.sku.in_(skus)
                )
            ).all()
        by_location: dict[str, dict[str, int]] = {}
        for location_id, sku, qty in rows:
            by_location.setdefault(location_id, {})[sku] = max(int(qty), 0)
        return [
            LocationStock(
                location_id=loc["id"],
                latitude=loc["latitude"],
                longitude=loc["longitude"],
                capabilities=list(loc["capabilities"]),
                available=by_location.get(loc["id"], {}),
            )
            for loc in locs
        ]

    def reservations_of(self, order_id: str) -> list[tuple[str, str, int, str]]:
        """(location_id, sku, quantity, status) of every reservation the order holds or held."""
        with self._engine.connect() as conn:
            rows = conn.execute(
                select(reservations.c.location_id, reservations.c.sku, reservations.c.quantity, reservations.c.status)
                .where(reservations.c.order_id == order_id)
                .order_by(reservations.c.location_id, reservations.c.sku)
            ).all()
        return [(r[0], r[1], r[2], r[3]) for r in rows]

    def reserve(self, order_id: str, location_id: str, lines: list[SkuQuantity]) -> bool:
        """Reserve every line at one location, or nothing. Lines are locked in SKU order to avoid deadlocks."""
        with self._engine.begin() as conn:
            for line in sorted(lines, key=lambda q: q.sku):
                if not self._reserve_line(conn, order_id, location_id, line):
                    conn.rollback()
                    return False
        return True

    @staticmethod
    def _reserve_line(conn: Connection, order_id: str, location_id: str, line: SkuQuantity) -> bool:
        inserted = conn.execute(
            insert(reservations)
            .values(order_id=order_id, sku=line.sku, location_id=location_id, quantity=line.quantity)
            .on_conflict_do_nothing(constraint="order_sku_location")
            .returning(reservations.c.id)
        ).first()
        if inserted is None:
            return True  # reserved by an earlier attempt of the same step
        level = inventory_levels.c
        taken = conn.execute(
            update(inventory_levels)
            .where(
                and_(
                    level.location_id == location_id,
                    level.sku == line.sku,
                    level.on_hand - level.reserved - level.safety_stock >= line.quantity,
                )
            )
            .values(reserved=level.reserved + line.quantity, updated_at=func.now())
            .returning(level.reserved)
        ).first()
        return taken is not None

    def release(self, order_id: str, lines: list[SkuQuantity] | None = None) -> int:
        """Release what the order still holds, all of it or only these quantities; returns the units released.

        Partial releases shrink the held reservations (in location order) and leave the rest reserved.
        Safe to repeat for a full release; a partial release is keyed by the caller's step, not here.
        """
        with self._engine.begin() as conn:
            held = conn.execute(
                select(reservations.c.id, reservations.c.location_id, reservations.c.sku, reservations.c.quantity)
                .where(and_(reservations.c.order_id == order_id, reservations.c.status == "reserved"))
                .order_by(reservations.c.location_id, reservations.c.sku)
                .with_for_update()
            ).all()
            wanted = None if lines is None else {q.sku: q.quantity for q in lines}
            released = 0
            for reservation_id, location_id, sku, quantity in held:
                take = quantity if wanted is None else min(quantity, wanted.get(sku, 0))
                if take <= 0:
                    continue
                if wanted is not None:
                    wanted[sku] -= take
                remaining = quantity - take
                conn.execute(
                    update(reservations)
                    .where(reservations.c.id == reservation_id)
                    .values(
                        quantity=remaining if remaining else quantity,
                        status="reserved" if remaining else "released",
                        updated_at=func.now(),
                    )
                )
                conn.execute(
                    update(inventory_levels)
                    .where(and_(inventory_levels.c.location_id == location_id, inventory_levels.c.sku == sku))
                    .values(reserved=inventory_levels.c.reserved - take, updated_at=func.now())
                )
                released += take
        return released

    def ship(self, order_id: str, location_id: str) -> int:
        """Turn the order's reservations at a location into shipped units leaving stock. Safe to repeat."""
        shipped = 0
        with self._engine.begin() as conn:
            held = conn.execute(
                update(reservations)
                .where(
                    and_(
                        reservations.c.order_id == order_id,
                        reservations.c.location_id == location_id,
                        reservations.c.status == "reserved",
                    )
                )
                .values(status="shipped", updated_at=func.now())
                .returning(reservations.c.sku, reservations.c.quantity)
            ).all()
            for sku, quantity in sorted(held):
                conn.execute(
                    update(inventory_levels)
                    .where(and_(inventory_levels.c.location_id == location_id, inventory_levels.c.sku == sku))
                    .values(
                        reserved=inventory_levels.c.reserved - quantity,
                        on_hand=inventory_levels.c.on_hand - quantity,
                        updated_at=func.now(),
                    )
                )
                shipped += quantity
        return shipped

    def set_on_hand(self, location_id: str, sku: str, on_hand: int, safety_stock: int = 0) -> None:
        with self._engine.begin() as conn:
            conn.execute(
                insert(inventory_levels)
                .values(location_id=location_id, sku=sku, on_hand=on_hand, safety_stock=safety_stock)
                .on_conflict_do_update(
                    index_elements=["location_id", "sku"],
                    set_={"on_hand": on_hand, "safety_stock": safety_stock, "updated_at": func.now()},
                )
            )

    def level(self, location_id: str, sku: str) -> Level:
        with self._engine.connect() as conn:
            row = (
                conn.execute(
                    select(inventory_levels).where(
                        and_(inventory_levels.c.location_id == location_id, inventory_levels.c.sku == sku)
                    )
                )
                .mappings()
                .first()
            )
        if row is None:
            return Level(location_id, sku, 0, 0, 0)
        return Level(location_id, sku, row["on_hand"], row["reserved"], row["safety_stock"])

    def add_if_missing(self, location_id: str, sku: str, on_hand: int) -> None:
        with self._engine.begin() as conn:
            conn.execute(
                insert(inventory_levels)
                .values(location_id=location_id, sku=sku, on_hand=on_hand)
                .on_conflict_do_nothing()
            )
