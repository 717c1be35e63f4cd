"""Reservations: taken all or nothing at one location for one fulfillment order, released, shipped, or
lapsing at their expiry."""

from datetime import datetime

from sqlalchemy import and_, func, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError
from sqlalchemy.sql import ColumnElement

from domain.models import SkuQuantity
from store.inventory_ledger import (
    is_key_conflict,
    key_used,
    movement_keys,
    record_movement,
)
from store.inventory_reads import InventoryReads
from store.tables import (
    inventory_levels,
    reservations,
)


class Reservations(InventoryReads):
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
        record_movement(
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
            if key is not None and is_key_conflict(err):
                return 0  # a concurrent call with the same key released first
            raise

    def _release(
        self, order_id: str, lines: list[SkuQuantity] | None, key: str | None, scope: ColumnElement[bool]
    ) -> int:
        keys = movement_keys(key)
        held_by_order = and_(scope, reservations.c.status == "reserved")
        with self._engine.begin() as conn:
            held = conn.execute(
                select(reservations.c.id, reservations.c.location_id, reservations.c.sku, reservations.c.quantity)
                .where(held_by_order)
                .order_by(reservations.c.location_id, reservations.c.sku)
                .with_for_update()
            ).all()
            if key_used(conn, key):
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
                record_movement(
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
                record_movement(
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

    def confirm(self, order_id: str) -> int:
        """Make the order's holds permanent (no expiry); returns how many reservations it still holds.

        0 means nothing is held any more: the hold expired (or was released) before the confirmation.
        """
        return self._set_expiry(order_id, None)

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
                    record_movement(
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
