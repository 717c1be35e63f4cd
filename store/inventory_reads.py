"""Reading the inventory: stock per location, the network, availability, reservations and the ledger."""

from datetime import datetime

from sqlalchemy import Engine, and_, func, select
from sqlalchemy.engine import Connection

from domain.geography import LocationStock, distance_km
from store.inventory_model import (
    DEFAULT_LOW_STOCK_THRESHOLD,
    Availability,
    Level,
    LocationAvailability,
    LocationInfo,
    Reservation,
    SkuAvailability,
    stock_level,
)
from store.tables import (
    inventory_levels,
    inventory_movements,
    location_group_members,
    location_groups,
    locations,
    reservations,
)


class InventoryReads:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def stock_for(self, skus: list[str], *, channel: str | None = None) -> list[LocationStock]:
        """Every location (of the channel's groups, when given) with what it has available of these SKUs."""
        available = inventory_levels.c.on_hand - inventory_levels.c.reserved - inventory_levels.c.safety_stock
        with self._engine.connect() as conn:
            members = self._channel_locations(conn, channel)
            query = select(locations).order_by(locations.c.id)
            if members is not None:
                query = query.where(locations.c.id.in_(members))
            locs = conn.execute(query).mappings().all()
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

    @staticmethod
    def _channel_locations(conn: Connection, channel: str | None) -> set[str] | None:
        """The locations that sell to a channel; None (every location) for no channel or one without groups."""
        if channel is None:
            return None
        groups = conn.execute(select(location_groups.c.id).where(location_groups.c.channel == channel)).all()
        if not groups:
            return None
        members = conn.execute(
            select(location_group_members.c.location_id).where(
                location_group_members.c.group_id.in_([g[0] for g in groups])
            )
        ).all()
        return {m[0] for m in members}

    def locations(self) -> list[LocationInfo]:
        """Every fulfillment location with its position, capabilities, capacity, cutoff and groups."""
        with self._engine.connect() as conn:
            locs = conn.execute(select(locations).order_by(locations.c.id)).mappings().all()
            memberships = conn.execute(
                select(location_group_members.c.location_id, location_groups.c.id, location_groups.c.channel)
                .join(location_groups, location_groups.c.id == location_group_members.c.group_id)
                .order_by(location_groups.c.id)
            ).all()
        groups: dict[str, list[str]] = {}
        channels: dict[str, set[str]] = {}
        for location_id, group_id, channel in memberships:
            groups.setdefault(location_id, []).append(group_id)
            channels.setdefault(location_id, set()).add(channel)
        return [
            LocationInfo(
                id=loc["id"],
                name=loc["name"],
                kind=loc["kind"],
                latitude=loc["latitude"],
                longitude=loc["longitude"],
                capabilities=list(loc["capabilities"]),
                daily_capacity=loc["daily_capacity"],
                cutoff=loc["cutoff"],
                groups=groups.get(loc["id"], []),
                channels=sorted(channels.get(loc["id"], set())),
            )
            for loc in locs
        ]

    def availability(
        self,
        skus: list[str],
        latitude: float | None = None,
        longitude: float | None = None,
        *,
        channel: str | None = None,
        low_stock_threshold: int = DEFAULT_LOW_STOCK_THRESHOLD,
    ) -> Availability:
        """Per SKU: available to sell at each location and in total, each with a level a product page shows.

        With a position, each location carries its distance and the locations come nearest first.
        A SKU nobody stocks is out of stock everywhere.
        """
        wanted = list(dict.fromkeys(skus))
        if not wanted:
            return Availability(low_stock_threshold=low_stock_threshold, skus=[])
        lv = inventory_levels.c
        with self._engine.connect() as conn:
            members = self._channel_locations(conn, channel)
            query = select(
                locations.c.id, locations.c.name, locations.c.kind, locations.c.latitude, locations.c.longitude
            )
            if members is not None:
                query = query.where(locations.c.id.in_(members))
            locs = conn.execute(query.order_by(locations.c.id)).all()
            rows = conn.execute(
                select(lv.location_id, lv.sku, lv.on_hand, lv.reserved, lv.safety_stock).where(lv.sku.in_(wanted))
            ).all()
        levels = {(r[0], r[1]): Level(r[0], r[1], r[2], r[3], r[4]) for r in rows}

        def distance(lat: float, lon: float) -> float | None:
            if latitude is None or longitude is None:
                return None
            return round(distance_km(latitude, longitude, lat, lon), 2)

        result: list[SkuAvailability] = []
        for sku in wanted:
            per_location = []
            for location_id, name, kind, lat, lon in locs:
                level = levels.get((location_id, sku))
                available = level.available if level else 0
                per_location.append(
                    LocationAvailability(
                        location_id=location_id,
                        name=name,
                        kind=kind,
                        available=available,
                        level=stock_level(available, low_stock_threshold),
                        distance_km=distance(lat, lon),
                    )
                )
            if latitude is not None and longitude is not None:
                per_location.sort(key=lambda a: (a.distance_km or 0.0, a.location_id))
            total = sum(a.available for a in per_location)
            result.append(
                SkuAvailability(
                    sku=sku, available=total, level=stock_level(total, low_stock_threshold), locations=per_location
                )
            )
        return Availability(low_stock_threshold=low_stock_threshold, skus=result)

    def reservations_by_fulfillment_order(self, order_id: str) -> list[Reservation]:
        r = reservations.c
        with self._engine.connect() as conn:
            rows = conn.execute(
                select(r.fulfillment_order_id, r.location_id, r.sku, r.quantity, r.status)
                .where(r.order_id == order_id)
                .order_by(r.location_id, r.sku, r.fulfillment_order_id)
            ).all()
        return [Reservation(*row) for row in rows]

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

    def committed_since(self, since: datetime) -> dict[str, int]:
        """Units each location took on since `since` (reservations less what was released or expired again):
        what routing counts against a location's daily capacity."""
        m = inventory_movements.c
        with self._engine.connect() as conn:
            rows = conn.execute(
                select(m.location_id, func.coalesce(func.sum(m.reserved_delta), 0))
                .where(and_(m.kind.in_(("reservation", "release", "expiry")), m.created_at >= since))
                .group_by(m.location_id)
            ).all()
        return {location_id: max(int(units), 0) for location_id, units in rows}
