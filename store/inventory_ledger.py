"""The inventory ledger: one movement row per change of on_hand or reserved, written in the same
transaction, and keyed so a retried step changes nothing."""

from collections.abc import Iterator

from sqlalchemy import insert as core_insert
from sqlalchemy import select
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError

from domain.ids import movement_key
from store.inventory_model import (
    MovementKind,
)
from store.tables import (
    inventory_movements,
)

KEY_CONSTRAINT = "uq_inventory_movements_movement_key"


def movement_keys(key: str | None) -> Iterator[str | None]:
    """The movement keys of one keyed call's ledger rows: the key itself, then key/2, key/3 ..."""
    yield key
    n = 2
    while True:
        yield None if key is None else movement_key(key, n)
        n += 1


def is_key_conflict(err: IntegrityError) -> bool:
    diag = getattr(err.orig, "diag", None)
    return getattr(diag, "constraint_name", None) == KEY_CONSTRAINT


def record_movement(
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


def key_used(conn: Connection, key: str | None) -> bool:
    if key is None:
        return False
    found = conn.execute(select(inventory_movements.c.id).where(inventory_movements.c.movement_key == key)).first()
    return found is not None
