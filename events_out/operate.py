"""`oms relay --status | --failures NAME | --replay NAME [--from-event-id N] | --prune`: an operator's view of every
destination (webhook subscriptions are `subscription:<id>`, the internal sinks `nats`, `notifications`)."""

import json
from dataclasses import asdict
from typing import Any

from sqlalchemy import Engine

from events_out.failures import failures, replay, statuses
from events_out.outbox import Outbox
from events_out.subscriptions import SUBSCRIPTION_PREFIX, Subscriptions
from starter.settings import parse_duration


def status(engine: Engine) -> list[dict[str, Any]]:
    return [asdict(s) for s in statuses(engine)]


def failures_of(engine: Engine, name: str) -> list[dict[str, Any]]:
    with engine.connect() as conn:
        return [{**asdict(f), "failed_at": f.failed_at and f.failed_at.isoformat()} for f in failures(conn, name)]


def replay_to(engine: Engine, name: str, from_event_id: int | None) -> dict[str, Any]:
    """Owe `name` again its failures, or every event from `from_event_id` on (a subscription: those it takes)."""
    subscription = name.removeprefix(SUBSCRIPTION_PREFIX)
    if subscription != name:
        return {"destination": name, "replayed": Subscriptions(engine).replay(subscription, from_event_id)}
    with engine.begin() as conn:
        return {"destination": name, "replayed": replay(conn, name, from_event_id)}


def prune(engine: Engine, retention: str) -> dict[str, Any]:
    """What the running relay does every hour, now: the outbox rows no destination can be owed past `retention`."""
    return {"pruned": Outbox(engine).prune(parse_duration(retention)), "retention": retention}


def printed(answer: object) -> str:
    return json.dumps(answer, indent=2, ensure_ascii=False)
