"""What a destination gave up on, and sending again: the same for a webhook subscription and an internal sink."""

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, Engine, text

_FAILURES = text(
    """
    SELECT o.event_id, o.order_id, o.sequence, o.type, d.attempts, d.last_error, d.failed_at
    FROM outbox_deliveries d JOIN outbox o ON o.event_id = d.event_id
    WHERE d.destination = :name AND d.state = 'failed'
    ORDER BY d.event_id
    LIMIT :limit
    """
)
_RETRY_FAILED = text(
    """
    UPDATE outbox_deliveries
    SET state = 'pending', attempts = 0, due_at = now(), first_attempt_at = NULL, failed_at = NULL
    WHERE destination = :name AND state = 'failed'
    """
)
# Only rows the destination has read already (those after its progress come to it anyway); an event still pending
# is left to the delivery under way.
_REPLAY_FROM = text(
    """
    INSERT INTO outbox_deliveries (destination, event_id, order_id)
    SELECT p.name, o.event_id, o.order_id
    FROM outbox o JOIN outbox_destinations p ON p.name = :name
    WHERE o.event_id >= :from_event_id AND (o.txid, o.event_id) <= (p.after_txid, p.after_event_id)
        AND (CAST(:every AS boolean) OR o.type = ANY(CAST(:types AS text[])))
    ON CONFLICT (destination, event_id) DO UPDATE
    SET state = 'pending', attempts = 0, due_at = now(), first_attempt_at = NULL, failed_at = NULL
    WHERE outbox_deliveries.state = 'failed'
    """
)
_STATUS = text(
    """
    SELECT p.name, p.after_event_id,
        count(d.event_id) FILTER (WHERE d.state = 'pending') AS pending,
        count(d.event_id) FILTER (WHERE d.state = 'failed') AS failed
    FROM outbox_destinations p LEFT JOIN outbox_deliveries d ON d.destination = p.name
    GROUP BY p.name, p.after_event_id
    ORDER BY p.name
    """
)


@dataclass(frozen=True)
class Failure:
    event_id: int
    order_id: str
    sequence: int
    type: str
    attempts: int
    last_error: str | None
    failed_at: datetime | None


@dataclass(frozen=True)
class DestinationStatus:
    name: str
    read_to_event_id: int  # the last outbox row it has read
    pending: int
    failed: int


def failures(conn: Connection, name: str, limit: int = 1000) -> list[Failure]:
    rows = conn.execute(_FAILURES, {"name": name, "limit": limit}).all()
    return [Failure(r.event_id, r.order_id, r.sequence, r.type, r.attempts, r.last_error, r.failed_at) for r in rows]


def replay(conn: Connection, name: str, from_event_id: int | None, types: frozenset[str] | None = None) -> int:
    """Owe `name` again its failures (no `from_event_id`), or every event it takes (of `types`, None: all) from
    `from_event_id` on: how many."""
    if from_event_id is None:
        return conn.execute(_RETRY_FAILED, {"name": name}).rowcount
    params = {"name": name, "from_event_id": from_event_id, "every": types is None, "types": sorted(types or ())}
    return conn.execute(_REPLAY_FROM, params).rowcount


def statuses(engine: Engine) -> list[DestinationStatus]:
    with engine.connect() as conn:
        rows = conn.execute(_STATUS).all()
    return [DestinationStatus(r.name, r.after_event_id, r.pending, r.failed) for r in rows]
