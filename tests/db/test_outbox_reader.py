"""The relay's reading of the outbox: never past an event a transaction still writing will commit, and only the
events a destination takes."""

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from sqlalchemy import Connection, Engine, delete, insert, select

from events_out.outbox import Outbox
from store.outbox_tables import outbox, outbox_deliveries, outbox_destinations
from tests.db.test_projection_errors import new_order_id

pytestmark = pytest.mark.db
NOW = datetime(2026, 11, 1, tzinfo=UTC)


def write_event(conn: Connection, order_id: str, sequence: int, kind: str = "OrderPlaced") -> int:
    row = {"order_id": order_id, "sequence": sequence, "type": kind, "occurred_at": NOW, "data": {}}
    event_id: int = conn.execute(insert(outbox).values(row).returning(outbox.c.event_id)).scalar_one()
    return event_id


def owed(engine: Engine, name: str) -> list[int]:
    with engine.connect() as conn:
        rows = conn.execute(
            select(outbox_deliveries.c.event_id)
            .where(outbox_deliveries.c.destination == name)
            .order_by(outbox_deliveries.c.event_id)
        ).all()
    return [r.event_id for r in rows]


@pytest.fixture
def destination(engine: Engine) -> Iterator[str]:
    name = f"reader-{new_order_id()}"
    Outbox(engine).ensure_destination(name)
    yield name
    with engine.begin() as conn:
        conn.execute(delete(outbox_destinations).where(outbox_destinations.c.name == name))


def test_an_event_committed_after_a_later_one_is_still_read(engine: Engine, destination: str) -> None:
    # given a transaction that writes an event and has not committed, and a later one that writes and commits
    reader = Outbox(engine)
    slow = engine.connect()
    slow_tx = slow.begin()
    earlier = write_event(slow, new_order_id(), 1)
    with engine.begin() as conn:
        later = write_event(conn, new_order_id(), 1)
    assert earlier < later
    # when the destination reads the outbox, then it does not move past the one still being written
    assert reader.fan_out(destination, None, 100) == 0
    # and once that commits, it reads both: neither is passed over
    slow_tx.commit()
    slow.close()
    reader.fan_out(destination, None, 100)
    assert owed(engine, destination) == [earlier, later]


def test_a_destination_is_owed_the_events_it_takes_from_its_creation_on(engine: Engine, destination: str) -> None:
    # given an event written before the destination existed (the fixture made it), and events written after
    with engine.begin() as conn:
        placed = write_event(conn, new_order_id(), 1, "OrderPlaced")
        shipped = write_event(conn, new_order_id(), 1, "ShipmentShipped")
    late = f"late-{destination}"
    reader = Outbox(engine)
    reader.ensure_destination(late)
    with engine.begin() as conn:
        after = write_event(conn, new_order_id(), 1, "ShipmentShipped")
    # when each reads with its filter
    reader.fan_out(destination, frozenset({"ShipmentShipped"}), 100)
    reader.fan_out(late, None, 100)
    # then each is owed what it takes, from its creation on, and reading again adds nothing
    assert owed(engine, destination) == [shipped, after]
    assert placed not in owed(engine, destination)
    assert owed(engine, late) == [after]
    assert reader.fan_out(late, None, 100) == 0
    with engine.begin() as conn:
        conn.execute(delete(outbox_destinations).where(outbox_destinations.c.name == late))
