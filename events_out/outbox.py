"""The outbox as the relay reads it: each destination's progress, what it still owes, and what gave up.

Reading is gap-free: a destination moves past outbox rows in (txid, event_id) order, and only past rows whose
transaction has ended (`txid` below the oldest transaction still running). A transaction that took a lower
event_id but commits later is still running while rows after it are read, so it is read once it commits.
A long transaction anywhere in the database holds deliveries back; it never makes the relay skip an event.
"""

import json
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import Connection, Engine, text

from events_out.contracts import OutboxEvent

# Every transaction below this one has committed or rolled back: no outbox row under it can appear any more.
_HORIZON = "pg_snapshot_xmin(pg_current_snapshot())::text::bigint"

_ADD_DESTINATION = text(
    f"""
    INSERT INTO outbox_destinations (name, after_txid, after_event_id)
    SELECT :name, COALESCE(h.txid, 0), COALESCE(h.event_id, 0)
    FROM (SELECT 1) AS one LEFT JOIN LATERAL (
        SELECT txid, event_id FROM outbox WHERE txid < {_HORIZON} ORDER BY txid DESC, event_id DESC LIMIT 1
    ) AS h ON true
    ON CONFLICT (name) DO NOTHING
    """
)

_NEWEST = text("SELECT COALESCE(max(event_id), 0) FROM outbox")

_LOCK_DESTINATION = text(
    "SELECT after_txid, after_event_id FROM outbox_destinations WHERE name = :name FOR UPDATE SKIP LOCKED"
)

_NEXT_ROWS = text(
    f"""
    SELECT event_id, order_id, type, txid FROM outbox
    WHERE (txid, event_id) > (:after_txid, :after_event_id) AND txid < {_HORIZON}
    ORDER BY txid, event_id
    LIMIT :limit
    """
)

_OWE = text(
    """
    INSERT INTO outbox_deliveries (destination, event_id, order_id)
    SELECT :name, r.event_id, r.order_id
    FROM jsonb_to_recordset(CAST(:rows AS jsonb)) AS r(event_id bigint, order_id text)
    ON CONFLICT DO NOTHING
    """
)

_MOVE_ON = text(
    """
    UPDATE outbox_destinations SET after_txid = :txid, after_event_id = :event_id, updated_at = now()
    WHERE name = :name
    """
)

# The first pending event of each order, when due, claimed for `lease` seconds: a later event of an order waits
# while an earlier one is in flight or waiting for its retry; another relay skips what this one holds.
_CLAIM = text(
    """
    WITH heads AS (
        SELECT DISTINCT ON (order_id) event_id, due_at FROM outbox_deliveries
        WHERE destination = :name AND state = 'pending'
        ORDER BY order_id, event_id
    ), due AS (
        SELECT d.event_id FROM outbox_deliveries d JOIN heads h ON h.event_id = d.event_id
        WHERE d.destination = :name AND d.state = 'pending' AND h.due_at <= now()
        ORDER BY d.event_id
        LIMIT :limit
        FOR UPDATE OF d SKIP LOCKED
    )
    UPDATE outbox_deliveries d
    SET due_at = now() + make_interval(secs => :lease), attempts = d.attempts + 1,
        first_attempt_at = COALESCE(d.first_attempt_at, now())
    FROM due, outbox o
    WHERE d.destination = :name AND d.event_id = due.event_id AND o.event_id = d.event_id
    RETURNING o.event_id, o.order_id, o.sequence, o.type, o.occurred_at, o.data, d.attempts
    """
)

_DELIVERED = text("DELETE FROM outbox_deliveries WHERE destination = :name AND event_id = ANY(:event_ids)")

# Retried after `delay` seconds, or given up once it has had its attempts or its time: the order's stream goes on.
_NOT_DELIVERED = text(
    """
    UPDATE outbox_deliveries SET
        last_error = :error,
        state = CASE WHEN attempts >= :max_attempts OR now() - first_attempt_at >= make_interval(secs => :max_age)
                THEN 'failed' ELSE 'pending' END,
        failed_at = CASE WHEN attempts >= :max_attempts OR now() - first_attempt_at >= make_interval(secs => :max_age)
                THEN now() END,
        due_at = now() + make_interval(secs => :delay)
    WHERE destination = :name AND event_id = :event_id
    RETURNING state
    """
)


# Rows every destination has read past, none still owes (a failure keeps its event) and older than the retention:
# deleted a batch at a time. A destination made later starts at the outbox's head, so none will ever be owed them.
_PRUNE = text(
    """
    DELETE FROM outbox WHERE event_id IN (
        SELECT o.event_id FROM outbox o
        WHERE o.recorded_at < now() - make_interval(secs => :keep_s)
            AND NOT EXISTS (
                SELECT 1 FROM outbox_destinations d WHERE (o.txid, o.event_id) > (d.after_txid, d.after_event_id)
            )
            AND NOT EXISTS (SELECT 1 FROM outbox_deliveries od WHERE od.event_id = o.event_id)
        ORDER BY o.event_id
        LIMIT :limit
    )
    """
)


@dataclass(frozen=True)
class Claimed:
    event: OutboxEvent
    attempt: int  # 1 for the first


def _event(row: Any) -> OutboxEvent:
    return OutboxEvent(
        event_id=row.event_id,
        order_id=row.order_id,
        sequence=row.sequence,
        type=row.type,
        occurred_at=row.occurred_at,
        data=row.data,
    )


def add_destination(conn: Connection, name: str) -> None:
    """A destination that takes the events from now on (what is in the outbox already is not owed to it)."""
    conn.execute(_ADD_DESTINATION, {"name": name})


class Outbox:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def ensure_destination(self, name: str) -> None:
        with self._engine.begin() as conn:
            add_destination(conn, name)

    def newest(self) -> int:
        """The newest event id: the relay's cheap look for news."""
        with self._engine.connect() as conn:
            newest: int = conn.execute(_NEWEST).scalar_one()
        return newest

    def fan_out(self, name: str, types: frozenset[str] | None, limit: int) -> int:
        """Owe `name` the outbox rows it has not read yet (those of `types` only, when given): how many rows were
        read. Another relay reading for the same destination now makes this one read nothing."""
        with self._engine.begin() as conn:
            at = conn.execute(_LOCK_DESTINATION, {"name": name}).first()
            if at is None:
                return 0
            rows = conn.execute(
                _NEXT_ROWS, {"after_txid": at.after_txid, "after_event_id": at.after_event_id, "limit": limit}
            ).all()
            if not rows:
                return 0
            owed = [{"event_id": r.event_id, "order_id": r.order_id} for r in rows if types is None or r.type in types]
            if owed:
                conn.execute(_OWE, {"name": name, "rows": json.dumps(owed)})
            last = rows[-1]
            conn.execute(_MOVE_ON, {"name": name, "txid": last.txid, "event_id": last.event_id})
            return len(rows)

    def claim(self, name: str, limit: int, lease: float) -> list[Claimed]:
        """The due first pending event of up to `limit` orders, each held for `lease` seconds, oldest first."""
        with self._engine.begin() as conn:
            rows = conn.execute(_CLAIM, {"name": name, "limit": limit, "lease": lease}).all()
        return sorted((Claimed(_event(r), r.attempts) for r in rows), key=lambda c: c.event.event_id)

    def prune(self, keep: timedelta, batch: int = 10_000) -> int:
        """Delete what no destination can be owed any more and is older than `keep`: how many rows."""
        pruned = 0
        while True:
            with self._engine.begin() as conn:
                deleted = conn.execute(_PRUNE, {"keep_s": keep.total_seconds(), "limit": batch}).rowcount
            pruned += deleted
            if deleted < batch:
                return pruned

    def delivered(self, name: str, event_ids: list[int]) -> None:
        with self._engine.begin() as conn:
            conn.execute(_DELIVERED, {"name": name, "event_ids": event_ids})

    def not_delivered(
        self, name: str, event_id: int, error: str, *, delay: float, max_attempts: int, max_age: float
    ) -> bool:
        """Record a failed attempt; True when the event gave up (it is listed as a failure)."""
        params = {
            "name": name,
            "event_id": event_id,
            "error": error[:1000],
            "delay": delay,
            "max_attempts": max_attempts,
            "max_age": max_age,
        }
        with self._engine.begin() as conn:
            state = conn.execute(_NOT_DELIVERED, params).scalar()
        return state == "failed"
