"""Inventory levels, reservations and the ledger of every movement.

A reservation is a conditional update, so stock never goes negative. Every change of on_hand or reserved
writes an `inventory_movements` row in the same transaction, so a location/SKU's ledger sums to its level
(`ledger_agrees`). Steps that are retried (Temporal activities, webhooks) pass an idempotency `key`: a
repeated call with the same key changes nothing.

Safety stock: reservations never take it, so reserve/release/ship never make on_hand - reserved -
safety_stock negative. Only an explicit adjustment (`adjust`, `set_on_hand`) may count stock down into
the safety stock; `Level.available` then reads 0 until stock is received. No movement ever takes on_hand
below reserved or below zero.
"""

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Literal, NamedTuple

from pydantic import BaseModel, ConfigDict
from sqlalchemy import Engine, and_, func, or_, select, update
from sqlalchemy import insert as core_insert
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError
from sqlalchemy.sql import ColumnElement

from domain.allocation import LocationStock, distance_km
from domain.models import SkuQuantity
from store.tables import (
    inventory_levels,
    inventory_movements,
    location_group_members,
    location_groups,
    locations,
    reservations,
)

MovementKind = Literal["receipt", "adjustment", "reservation", "release", "shipment", "return_restock", "expiry"]
StockLevel = Literal["in_stock", "low_stock", "out_of_stock"]
DEFAULT_LOW_STOCK_THRESHOLD = 5
_KEY_CONSTRAINT = "uq_inventory_movements_movement_key"


class InventoryError(Exception):
    """A refused inventory change; the API maps each kind to its status code."""


class UnknownLocation(InventoryError):
    def __init__(self, location_id: str) -> None:
        super().__init__(f"no location {location_id!r}")
        self.location_id = location_id


class StockWouldGoNegative(InventoryError):
    """An adjustment would take on_hand below zero or below the units reserved for orders."""

    def __init__(self, location_id: str, sku: str, on_hand: int, reserved: int) -> None:
        if on_hand < 0:
            reason = f"on hand of {sku} at {location_id} would be {on_hand}; stock cannot go below zero"
        else:
            reason = (
                f"on hand of {sku} at {location_id} would be {on_hand}, below the {reserved} unit(s) "
                "reserved for orders; release or ship those first"
            )
        super().__init__(reason)
        self.location_id = location_id
        self.sku = sku
        self.on_hand = on_hand
        self.reserved = reserved


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


@dataclass(frozen=True)
class AdjustedLevel(Level):
    """The level after an adjustment, with what this call changed (nothing when its key was used before)."""

    on_hand_delta: int = 0
    repeated: bool = False

    @property
    def received(self) -> bool:
        """Stock came in: waiting (backordered) orders may now proceed."""
        return self.on_hand_delta > 0


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


class Reservation(NamedTuple):
    fulfillment_order_id: str  # '' for a hold taken before fulfillment orders were numbered
    location_id: str
    sku: str
    quantity: int
    status: str


class LocationInfo(BaseModel):
    model_config = ConfigDict(frozen=True)

    id: str
    name: str
    kind: str
    latitude: float
    longitude: float
    capabilities: list[str]
    daily_capacity: int
    cutoff: str
    groups: list[str]
    channels: list[str]


class LocationAvailability(BaseModel):
    model_config = ConfigDict(frozen=True)

    location_id: str
    name: str
    kind: str
    available: int
    level: StockLevel
    distance_km: float | None = None


class SkuAvailability(BaseModel):
    model_config = ConfigDict(frozen=True)

    sku: str
    available: int
    level: StockLevel
    locations: list[LocationAvailability]


class Availability(BaseModel):
    model_config = ConfigDict(frozen=True)

    low_stock_threshold: int
    skus: list[SkuAvailability]


def stock_level(available: int, low_stock_threshold: int) -> StockLevel:
    """What a product page shows: out of stock at zero, low stock below the threshold, else in stock."""
    if available <= 0:
        return "out_of_stock"
    return "low_stock" if available < low_stock_threshold else "in_stock"


def _keys(key: str | None) -> Iterator[str | None]:
    """The movement keys of one keyed call's ledger rows: the key itself, then key/2, key/3 ..."""
    yield key
    n = 2
    while True:
        yield None if key is None else f"{key}/{n}"
        n += 1


def _is_key_conflict(err: IntegrityError) -> bool:
    diag = getattr(err.orig, "diag", None)
    return getattr(diag, "constraint_name", None) == _KEY_CONSTRAINT


def _record(
    conn: Connection,
    location_id: str,
    sku: str,
    kind: MovementKind,
    *,
    on_hand_delta: int = 0,
    reserved_delta: int = 0,
    reason: str,
    reference: str | None,
    key: str | None = None,
) -> None:
    # the core insert, unlike PostgreSQL's, is kept in SQLAlchemy's compiled cache: every movement writes one
    conn.execute(
        core_insert(inventory_movements).values(
            location_id=location_id,
            sku=sku,
            kind=kind,
            on_hand_delta=on_hand_delta,
            reserved_delta=reserved_delta,
            reason=reason,
            reference=reference,
            movement_key=key,
        )
    )


def _key_used(conn: Connection, key: str | None) -> bool:
    if key is None:
        return False
    found = conn.execute(select(inventory_movements.c.id).where(inventory_movements.c.movement_key == key)).first()
    return found is not None


class InventoryRepository:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    # -- reads ----------------------------------------------------------------------------------
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

    def locations_for_channel(self, channel: str) -> list[str]:
        """The ids of the locations that sell to a channel (every location when the channel has no group)."""
        with self._engine.connect() as conn:
            members = self._channel_locations(conn, channel)
            if members is None:
                return [r[0] for r in conn.execute(select(locations.c.id).order_by(locations.c.id)).all()]
        return sorted(members)

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

    def reservations_of(self, order_id: str) -> list[tuple[str, str, int, str]]:
        """(location_id, sku, quantity, status) of every reservation the order holds or held."""
        return [(r.location_id, r.sku, r.quantity, r.status) for r in self.reservations_by_fulfillment_order(order_id)]

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

    # -- the ledger -----------------------------------------------------------------------------
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

    # -- reservations -----------------------------------------------------------------------------
    def reserve(
        self,
        order_id: str,
        location_id: str,
        lines: list[SkuQuantity],
        *,
        expires_at: datetime | None = None,
        fulfillment_order_id: str = "",
    ) -> bool:
        """Reserve every line at one location for one fulfillment order, or nothing. Lines are locked in
        SKU order to avoid deadlocks.

        Safe to repeat: a line the fulfillment order still holds is left as it is. A line released or
        expired earlier is taken again (a re-allocation). With `expires_at` the hold lapses at that time
        unless confirmed (see `confirm`, `expire_reservations`).
        """
        with self._engine.begin() as conn:
            for line in sorted(lines, key=lambda q: q.sku):
                if not self._reserve_line(conn, order_id, fulfillment_order_id, location_id, line, expires_at):
                    conn.rollback()
                    return False
        return True

    @staticmethod
    def _reserve_line(
        conn: Connection,
        order_id: str,
        fulfillment_order_id: str,
        location_id: str,
        line: SkuQuantity,
        expires_at: datetime | None,
    ) -> bool:
        r = reservations.c
        inserted = conn.execute(
            insert(reservations)
            .values(
                order_id=order_id,
                fulfillment_order_id=fulfillment_order_id,
                sku=line.sku,
                location_id=location_id,
                quantity=line.quantity,
                expires_at=expires_at,
            )
            .on_conflict_do_nothing(constraint="order_fulfillment_order_sku_location")
            .returning(r.id)
        ).first()
        if inserted is None:
            retaken = conn.execute(
                update(reservations)
                .where(
                    and_(
                        r.order_id == order_id,
                        r.fulfillment_order_id == fulfillment_order_id,
                        r.sku == line.sku,
                        r.location_id == location_id,
                        r.status.in_(("released", "expired")),
                    )
                )
                .values(status="reserved", quantity=line.quantity, expires_at=expires_at, updated_at=func.now())
                .returning(r.id)
            ).first()
            if retaken is None:
                return True  # still held from an earlier attempt of the same step
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
        if taken is None:
            return False
        _record(
            conn,
            location_id,
            line.sku,
            "reservation",
            reserved_delta=line.quantity,
            reason="reserved for order" if expires_at is None else f"held for order until {expires_at.isoformat()}",
            reference=order_id,
        )
        return True

    def release(
        self,
        order_id: str,
        lines: list[SkuQuantity] | None = None,
        *,
        key: str | None = None,
        location_id: str | None = None,
        fulfillment_order_id: str | None = None,
    ) -> int:
        """Release what the order still holds, all of it or only these quantities; returns the units released.

        Partial releases shrink the held reservations (in location order) and leave the rest reserved.
        A full release is safe to repeat. A partial release is not, unless keyed: with a `key` used
        before, the call releases nothing and returns 0. `location_id` limits it to one location's
        reservations, `fulfillment_order_id` to one fulfillment order's (one rejected or canceled).
        """
        scope = reservations.c.order_id == order_id
        if location_id is not None:
            scope = and_(scope, reservations.c.location_id == location_id)
        if fulfillment_order_id is not None:
            scope = and_(scope, reservations.c.fulfillment_order_id == fulfillment_order_id)
        try:
            return self._release(order_id, lines, key, scope)
        except IntegrityError as err:
            if key is not None and _is_key_conflict(err):
                return 0  # a concurrent call with the same key released first
            raise

    def _release(
        self, order_id: str, lines: list[SkuQuantity] | None, key: str | None, scope: ColumnElement[bool]
    ) -> int:
        keys = _keys(key)
        held_by_order = and_(scope, reservations.c.status == "reserved")
        with self._engine.begin() as conn:
            held = conn.execute(
                select(reservations.c.id, reservations.c.location_id, reservations.c.sku, reservations.c.quantity)
                .where(held_by_order)
                .order_by(reservations.c.location_id, reservations.c.sku)
                .with_for_update()
            ).all()
            if _key_used(conn, key):
                return 0
            wanted: dict[str, int] | None = None
            if lines is not None:
                wanted = {}
                for q in lines:
                    wanted[q.sku] = wanted.get(q.sku, 0) + q.quantity
            released = 0
            for reservation_id, held_at, sku, quantity in held:
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
                self._move_reserved(conn, held_at, sku, -take)
                _record(
                    conn,
                    held_at,
                    sku,
                    "release",
                    reserved_delta=-take,
                    reason="released" if remaining == 0 else f"partly released, {remaining} still held",
                    reference=order_id,
                    key=next(keys),
                )
                released += take
        return released

    @staticmethod
    def _move_reserved(conn: Connection, location_id: str, sku: str, delta: int, on_hand_delta: int = 0) -> None:
        lv = inventory_levels.c
        conn.execute(
            update(inventory_levels)
            .where(and_(lv.location_id == location_id, lv.sku == sku))
            .values(reserved=lv.reserved + delta, on_hand=lv.on_hand + on_hand_delta, updated_at=func.now())
        )

    def ship(
        self,
        order_id: str,
        location_id: str,
        *,
        fulfillment_order_id: str | None = None,
        reference: str | None = None,
    ) -> int:
        """Turn the order's reservations at a location (only one fulfillment order's, if named) into shipped
        units leaving stock. Safe to repeat.

        `reference` names the shipment in the ledger; the fulfillment order id or the order id otherwise.
        """
        r = reservations.c
        held_here = and_(r.order_id == order_id, r.location_id == location_id, r.status == "reserved")
        if fulfillment_order_id is not None:
            held_here = and_(held_here, r.fulfillment_order_id == fulfillment_order_id)
        shipped = 0
        with self._engine.begin() as conn:
            held = conn.execute(
                update(reservations)
                .where(held_here)
                .values(status="shipped", expires_at=None, updated_at=func.now())
                .returning(reservations.c.sku, reservations.c.quantity)
            ).all()
            for sku, quantity in sorted(held):
                self._move_reserved(conn, location_id, sku, -quantity, on_hand_delta=-quantity)
                _record(
                    conn,
                    location_id,
                    sku,
                    "shipment",
                    on_hand_delta=-quantity,
                    reserved_delta=-quantity,
                    reason=f"shipped for order {order_id}",
                    reference=reference or fulfillment_order_id or order_id,
                )
                shipped += quantity
        return shipped

    # -- holds with a time limit -----------------------------------------------------------------
    def confirm(self, order_id: str) -> int:
        """Make the order's holds permanent (no expiry); returns how many reservations it still holds.

        0 means nothing is held any more: the hold expired (or was released) before the confirmation.
        """
        return self._set_expiry(order_id, None)

    def extend(self, order_id: str, expires_at: datetime) -> int:
        """Move the order's holds' expiry to `expires_at`; returns how many reservations it still holds."""
        return self._set_expiry(order_id, expires_at)

    def _set_expiry(self, order_id: str, expires_at: datetime | None) -> int:
        with self._engine.begin() as conn:
            rows = conn.execute(
                update(reservations)
                .where(and_(reservations.c.order_id == order_id, reservations.c.status == "reserved"))
                .values(expires_at=expires_at, updated_at=func.now())
                .returning(reservations.c.id)
            ).all()
        return len(rows)

    def expire_reservations(self, now: datetime) -> int:
        """Release every hold whose expiry is at or before `now` (status `expired`); returns the units released.

        One transaction per order, locking its rows in (location, SKU) order like `release`.
        """
        r = reservations.c
        lapsed = and_(r.status == "reserved", r.expires_at.is_not(None), r.expires_at <= now)
        with self._engine.connect() as conn:
            order_ids = [row[0] for row in conn.execute(select(r.order_id).where(lapsed).distinct()).all()]
        released = 0
        for order_id in sorted(order_ids):
            with self._engine.begin() as conn:
                rows = conn.execute(
                    select(r.id, r.location_id, r.sku, r.quantity, r.expires_at)
                    .where(and_(r.order_id == order_id, lapsed))
                    .order_by(r.location_id, r.sku)
                    .with_for_update()
                ).all()
                for reservation_id, location_id, sku, quantity, expired_at in rows:
                    conn.execute(
                        update(reservations)
                        .where(r.id == reservation_id)
                        .values(status="expired", updated_at=func.now())
                    )
                    self._move_reserved(conn, location_id, sku, -quantity)
                    _record(
                        conn,
                        location_id,
                        sku,
                        "expiry",
                        reserved_delta=-quantity,
                        reason=f"hold expired at {expired_at.isoformat()}",
                        reference=order_id,
                    )
                    released += quantity
        return released

    # -- stock counts and receipts ---------------------------------------------------------------
    def adjust(
        self,
        location_id: str,
        sku: str,
        *,
        delta: int | None = None,
        on_hand: int | None = None,
        reason: str,
        reference: str | None,
        key: str | None = None,
    ) -> AdjustedLevel:
        """Change on_hand by `delta` (a receipt when positive) or set it to a counted `on_hand`.

        A SKU not seen at the location before starts at zero. Refuses (StockWouldGoNegative) to take
        on_hand below zero or below the units reserved; UnknownLocation for a location that does not exist.
        With a `key` used before, nothing changes and the current level comes back with `repeated` set.
        """
        if (delta is None) == (on_hand is None):
            raise ValueError("give exactly one of delta and on_hand")
        kind: MovementKind = "receipt" if delta is not None and delta > 0 else "adjustment"
        return self._adjust(
            location_id, sku, delta=delta, on_hand=on_hand, kind=kind, reason=reason, reference=reference, key=key
        )

    def restock(
        self, location_id: str, sku: str, quantity: int, reference: str | None, key: str | None = None
    ) -> AdjustedLevel:
        """Put resellable returned units back on hand (reference: the return id). Keyed: safe to repeat."""
        if quantity <= 0:
            raise ValueError("a restock puts back at least one unit")
        return self._adjust(
            location_id,
            sku,
            delta=quantity,
            kind="return_restock",
            reason="resellable return restocked",
            reference=reference,
            key=key,
        )

    def set_on_hand(
        self,
        location_id: str,
        sku: str,
        on_hand: int,
        safety_stock: int = 0,
        *,
        reason: str = "on hand set",
        key: str | None = None,
    ) -> None:
        """Set on_hand and the safety stock (an adjustment in the ledger)."""
        self._adjust(
            location_id,
            sku,
            on_hand=on_hand,
            safety_stock=safety_stock,
            kind="adjustment",
            reason=reason,
            reference=None,
            key=key,
        )

    def _adjust(
        self,
        location_id: str,
        sku: str,
        *,
        delta: int | None = None,
        on_hand: int | None = None,
        safety_stock: int | None = None,
        kind: MovementKind,
        reason: str,
        reference: str | None,
        key: str | None,
    ) -> AdjustedLevel:
        try:
            return self._adjust_once(location_id, sku, delta, on_hand, safety_stock, kind, reason, reference, key)
        except IntegrityError as err:
            if key is not None and _is_key_conflict(err):  # a concurrent call with the same key won
                current = self.level(location_id, sku)
                return AdjustedLevel(
                    location_id, sku, current.on_hand, current.reserved, current.safety_stock, repeated=True
                )
            raise

    def _adjust_once(
        self,
        location_id: str,
        sku: str,
        delta: int | None,
        on_hand: int | None,
        safety_stock: int | None,
        kind: MovementKind,
        reason: str,
        reference: str | None,
        key: str | None,
    ) -> AdjustedLevel:
        lv = inventory_levels.c
        with self._engine.begin() as conn:
            if conn.execute(select(locations.c.id).where(locations.c.id == location_id)).first() is None:
                raise UnknownLocation(location_id)
            conn.execute(insert(inventory_levels).values(location_id=location_id, sku=sku).on_conflict_do_nothing())
            old_on_hand, reserved, old_safety = conn.execute(
                select(lv.on_hand, lv.reserved, lv.safety_stock)
                .where(and_(lv.location_id == location_id, lv.sku == sku))
                .with_for_update()
            ).one()
            if _key_used(conn, key):
                return AdjustedLevel(location_id, sku, old_on_hand, reserved, old_safety, repeated=True)
            new_on_hand = on_hand if on_hand is not None else old_on_hand + (delta or 0)
            new_safety = old_safety if safety_stock is None else safety_stock
            if new_on_hand < 0 or new_on_hand < reserved:
                raise StockWouldGoNegative(location_id, sku, new_on_hand, reserved)
            change = new_on_hand - old_on_hand
            conn.execute(
                update(inventory_levels)
                .where(and_(lv.location_id == location_id, lv.sku == sku))
                .values(on_hand=new_on_hand, safety_stock=new_safety, updated_at=func.now())
            )
            if change or key is not None:  # a keyed call leaves a row even when it changes nothing
                _record(conn, location_id, sku, kind, on_hand_delta=change, reason=reason, reference=reference, key=key)
        return AdjustedLevel(location_id, sku, new_on_hand, reserved, new_safety, on_hand_delta=change)

    def add_if_missing(self, location_id: str, sku: str, on_hand: int) -> None:
        """Start a SKU's stock at a location (a receipt) unless it has a level already; never overwrites."""
        with self._engine.begin() as conn:
            inserted = conn.execute(
                insert(inventory_levels)
                .values(location_id=location_id, sku=sku, on_hand=on_hand)
                .on_conflict_do_nothing()
                .returning(inventory_levels.c.on_hand)
            ).first()
            if inserted is not None and on_hand:
                _record(
                    conn, location_id, sku, "receipt", on_hand_delta=on_hand, reason="initial stock", reference=None
                )
