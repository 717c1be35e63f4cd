"""Webhook subscriptions: who takes which events, what gave up, and sending again.

A subscription is a destination named `subscription:<id>`: it takes the events written from its creation on,
and `replay` owes it again what failed, or every event it matches from an event id on.
"""

import json
import secrets
from dataclasses import dataclass

from sqlalchemy import Engine, text

from events_out.failures import Failure, failures, replay
from events_out.outbox import add_destination

ALL_EVENTS = "*"

_CREATE = text(
    "INSERT INTO subscriptions (id, url, events, secret) VALUES (:id, :url, CAST(:events AS jsonb), :secret)"
)
_ALL = text("SELECT id, url, events, secret FROM subscriptions ORDER BY created_at, id")
_EXISTS = text("SELECT events FROM subscriptions WHERE id = :id")


SUBSCRIPTION_PREFIX = "subscription:"


def destination_of(subscription_id: str) -> str:
    return f"{SUBSCRIPTION_PREFIX}{subscription_id}"


def event_filter(events: list[str]) -> frozenset[str] | None:
    """The event types a subscription takes; None: all of them."""
    return None if ALL_EVENTS in events else frozenset(events)


@dataclass(frozen=True)
class Subscription:
    id: str
    url: str
    events: list[str]
    secret: str


class Subscriptions:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def create(self, url: str, events: list[str], secret: str) -> str:
        subscription_id = f"sub_{secrets.token_hex(12)}"
        with self._engine.begin() as conn:
            add_destination(conn, destination_of(subscription_id))
            conn.execute(_CREATE, {"id": subscription_id, "url": url, "events": json.dumps(events), "secret": secret})
        return subscription_id

    def all(self) -> list[Subscription]:
        with self._engine.connect() as conn:
            rows = conn.execute(_ALL).all()
        return [Subscription(r.id, r.url, list(r.events), r.secret) for r in rows]

    def failures(self, subscription_id: str, limit: int = 1000) -> list[Failure] | None:
        """What gave up, oldest first; None for an unknown subscription."""
        with self._engine.connect() as conn:
            if conn.execute(_EXISTS, {"id": subscription_id}).first() is None:
                return None
            return failures(conn, destination_of(subscription_id), limit)

    def replay(self, subscription_id: str, from_event_id: int | None) -> int | None:
        """Owe the subscriber again its failures (no `from_event_id`), or every event it takes from
        `from_event_id` on: how many; None for an unknown subscription."""
        with self._engine.begin() as conn:
            found = conn.execute(_EXISTS, {"id": subscription_id}).first()
            if found is None:
                return None
            types = event_filter(list(found.events))
            return replay(conn, destination_of(subscription_id), from_event_id, types)
