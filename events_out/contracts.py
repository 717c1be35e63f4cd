"""What the outbox hands on, and what each of its destinations (webhook subscribers, NATS, notifications) takes."""

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol


@dataclass(frozen=True)
class OutboxEvent:
    """One domain event of one order, as the projection wrote it to the outbox in the read model's transaction."""

    event_id: int  # the outbox's own id: increasing across orders, the same for every destination
    order_id: str
    sequence: int  # the event's place in its order's history (order_events.seq)
    type: str  # the event's class name: OrderPlaced, ShipmentDispatched ...
    occurred_at: datetime
    data: dict[str, Any]

    def body(self) -> dict[str, Any]:
        """The JSON a subscriber receives (../shared/API.md, Events out)."""
        return {
            "event_id": self.event_id,
            "order_id": self.order_id,
            "sequence": self.sequence,
            "type": self.type,
            "occurred_at": self.occurred_at.isoformat(),
            "data": self.data,
        }


class Sink(Protocol):
    """A destination the relay delivers to: at least once, in order per order. `deliver` raises to be retried
    (with backoff), so it must be idempotent per `event_id`: the same event may come again after a restart."""

    name: str
    # the event types it is owed (None: every one): the relay never reads the others out for it
    types: frozenset[str] | None

    async def deliver(self, event: OutboxEvent) -> None: ...
