"""Inventory levels, reservations and the ledger of every movement.

A reservation is a conditional update, so stock never goes negative. Every change of on_hand or reserved
writes an `inventory_movements` row in the same transaction, so a location/SKU's ledger sums to its level.
Steps that are retried (Temporal activities, webhooks) pass an idempotency `key`: a repeated call with the
same key changes nothing.

Safety stock: reservations never take it, so reserve/release/ship never make on_hand - reserved -
safety_stock negative. Only an explicit adjustment (`adjust`, `set_on_hand`) may count stock down into
the safety stock; `Level.available` then reads 0 until stock is received. No movement ever takes on_hand
below reserved or below zero.

`InventoryRepository` is built in layers: `inventory_reads` (stock, network, availability,
reservations), `reservations` (reserve, release, ship, holds), and here the adjustments; the types are in
`inventory_model` and the movement rows in `inventory_ledger`.
"""

from sqlalchemy import and_, func, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.exc import IntegrityError

from store.inventory_ledger import (
    is_key_conflict,
    key_used,
    record_movement,
)
from store.inventory_model import (
    DEFAULT_LOW_STOCK_THRESHOLD,
    AdjustedLevel,
    Availability,
    InventoryError,
    Level,
    LocationAvailability,
    LocationInfo,
    MovementKind,
    Reservation,
    SkuAvailability,
    StockLevel,
    StockWouldGoNegative,
    UnknownLocation,
    stock_level,
)
from store.reservations import Reservations
from store.tables import (
    inventory_levels,
    locations,
)


class InventoryRepository(Reservations):
    """Levels, reservations and adjustments of every location, each change on the ledger."""

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
            if key is not None and is_key_conflict(err):  # a concurrent call with the same key won
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
            if key_used(conn, key):
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
                record_movement(
                    conn, location_id, sku, kind, on_hand_delta=change, reason=reason, reference=reference, key=key
                )
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
                record_movement(
                    conn, location_id, sku, "receipt", on_hand_delta=on_hand, reason="initial stock", reference=None
                )


__all__ = [
    "DEFAULT_LOW_STOCK_THRESHOLD",
    "AdjustedLevel",
    "Availability",
    "InventoryError",
    "InventoryRepository",
    "Level",
    "LocationAvailability",
    "LocationInfo",
    "MovementKind",
    "Reservation",
    "SkuAvailability",
    "StockLevel",
    "StockWouldGoNegative",
    "UnknownLocation",
    "stock_level",
]
