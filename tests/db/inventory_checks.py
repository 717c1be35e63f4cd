"""What tests ask of the inventory and production never does: the ledger's rows and sums, every reservation an
order held, and the locations of a channel. Each check reads the tables the repository writes."""

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import and_, func, or_, select

from store.inventory import InventoryRepository, MovementKind
from store.tables import inventory_levels, inventory_movements, locations


@dataclass(frozen=True)
class Movement:
    id: int
    location_id: str
    sku: str
    kind: MovementKind
    on_hand_delta: int
    reserved_delta: int
    reason: str
    reference: str | None
    movement_key: str | None
    created_at: datetime


class CheckedInventory(InventoryRepository):
    """The repository with the checks tests make of what it wrote."""

    def locations_for_channel(self, channel: str) -> list[str]:
        """The ids of the locations that sell to a channel (every location when the channel has no group)."""
        with self._engine.connect() as conn:
            members = self._channel_locations(conn, channel)
            if members is None:
                return [r[0] for r in conn.execute(select(locations.c.id).order_by(locations.c.id)).all()]
        return sorted(members)

    def reservations_of(self, order_id: str) -> list[tuple[str, str, int, str]]:
        """(location_id, sku, quantity, status) of every reservation the order holds or held."""
        return [(r.location_id, r.sku, r.quantity, r.status) for r in self.reservations_by_fulfillment_order(order_id)]

    def movements(
        self, location_id: str | None = None, sku: str | None = None, *, reference: str | None = None
    ) -> list[Movement]:
        """Ledger rows, oldest first, filtered by location, SKU and/or reference."""
        m = inventory_movements.c
        query = select(inventory_movements).order_by(m.id)
        if location_id is not None:
            query = query.where(m.location_id == location_id)
        if sku is not None:
            query = query.where(m.sku == sku)
        if reference is not None:
            query = query.where(m.reference == reference)
        with self._engine.connect() as conn:
            rows = conn.execute(query).mappings().all()
        return [
            Movement(
                id=r["id"],
                location_id=r["location_id"],
                sku=r["sku"],
                kind=r["kind"],
                on_hand_delta=r["on_hand_delta"],
                reserved_delta=r["reserved_delta"],
                reason=r["reason"],
                reference=r["reference"],
                movement_key=r["movement_key"],
                created_at=r["created_at"],
            )
            for r in rows
        ]

    def ledger_totals(self, location_id: str, sku: str) -> tuple[int, int]:
        """(on_hand, reserved) as the ledger's deltas sum them."""
        m = inventory_movements.c
        with self._engine.connect() as conn:
            row = conn.execute(
                select(func.coalesce(func.sum(m.on_hand_delta), 0), func.coalesce(func.sum(m.reserved_delta), 0)).where(
                    and_(m.location_id == location_id, m.sku == sku)
                )
            ).one()
        return int(row[0]), int(row[1])

    def ledger_agrees(self, location_id: str, sku: str) -> bool:
        """Whether the ledger's sums equal the level's on_hand and reserved (read in one snapshot)."""
        m, lv = inventory_movements.c, inventory_levels.c
        where_m = and_(m.location_id == location_id, m.sku == sku)
        where_l = and_(lv.location_id == location_id, lv.sku == sku)
        with self._engine.connect() as conn:
            row = conn.execute(
                select(
                    select(func.coalesce(func.sum(m.on_hand_delta), 0)).where(where_m).scalar_subquery(),
                    select(func.coalesce(func.sum(m.reserved_delta), 0)).where(where_m).scalar_subquery(),
                    func.coalesce(select(lv.on_hand).where(where_l).scalar_subquery(), 0),
                    func.coalesce(select(lv.reserved).where(where_l).scalar_subquery(), 0),
                )
            ).one()
        return (int(row[0]), int(row[1])) == (int(row[2]), int(row[3]))

    def ledger_disagreements(self) -> list[tuple[str, str]]:
        """Every (location_id, sku) whose level differs from its ledger's sums: empty when all is well."""
        m, lv = inventory_movements.c, inventory_levels.c
        sums = (
            select(
                m.location_id,
                m.sku,
                func.sum(m.on_hand_delta).label("on_hand"),
                func.sum(m.reserved_delta).label("reserved"),
            )
            .group_by(m.location_id, m.sku)
            .subquery()
        )
        location_id = func.coalesce(lv.location_id, sums.c.location_id)
        sku = func.coalesce(lv.sku, sums.c.sku)
        query = (
            select(location_id, sku)
            .select_from(
                inventory_levels.outerjoin(
                    sums, and_(sums.c.location_id == lv.location_id, sums.c.sku == lv.sku), full=True
                )
            )
            .where(
                or_(
                    func.coalesce(lv.on_hand, 0) != func.coalesce(sums.c.on_hand, 0),
                    func.coalesce(lv.reserved, 0) != func.coalesce(sums.c.reserved, 0),
                )
            )
            .order_by(location_id, sku)
        )
        with self._engine.connect() as conn:
            return [(r[0], r[1]) for r in conn.execute(query).all()]
