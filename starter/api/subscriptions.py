"""Webhook subscriptions to the orders' events (operators): subscribe, see what gave up, send again.

The relay (`oms relay`, events_out/relay.py) POSTs every matching event to the URL, signed with the secret.
"""

import asyncio
from collections.abc import Sequence
from dataclasses import asdict
from datetime import datetime
from typing import Annotated, Any, Protocol, get_args

from fastapi import APIRouter, Depends, HTTPException, Path, Request
from pydantic import AfterValidator, BaseModel, Field, WithJsonSchema

from domain import events as ev
from events_out.failures import Failure
from events_out.subscriptions import ALL_EVENTS, Subscriptions
from starter.api.auth import Principal, require

router = APIRouter(prefix="/v1/subscriptions", tags=["events out"])

# Every domain event an order records, by the name a subscriber sees in `type`.
EVENT_NAMES: tuple[str, ...] = tuple(
    sorted(get_args(member.model_fields["type"].annotation)[0] for member in get_args(get_args(ev.OrderEvent)[0]))
)
_CHOICES = (ALL_EVENTS, *EVENT_NAMES)
# http or https, a host, an optional port and a path of printable characters: whatever matches is taken
URL_PATTERN = r"^https?://[A-Za-z0-9]([A-Za-z0-9.-]{0,252})(:[0-9]{1,5})?(/[!-~]{0,1900})?$"
MIN_SECRET, MAX_SECRET = 16, 256
SubscriptionId = Annotated[str, Path(min_length=1, max_length=40, pattern=r"^[A-Za-z0-9_]+$")]


def _known(name: str) -> str:
    if name not in _CHOICES:
        raise ValueError(f"{name!r} is not an order event; one of: {', '.join(_CHOICES)}")
    return name


EventName = Annotated[str, AfterValidator(_known), WithJsonSchema({"type": "string", "enum": list(_CHOICES)})]


def _each_once(names: list[str]) -> list[str]:
    if len(set(names)) != len(names):
        raise ValueError("name each event once")
    return names


class SubscriptionBody(BaseModel):
    url: str = Field(max_length=2048, pattern=URL_PATTERN, description="where events are POSTed: http or https")
    events: Annotated[
        list[EventName],
        Field(min_length=1, max_length=len(_CHOICES), json_schema_extra={"uniqueItems": True}),
        AfterValidator(_each_once),
    ] = Field(description='["*"] for every event, or the event types wanted')
    secret: str = Field(
        min_length=MIN_SECRET, max_length=MAX_SECRET, pattern=r"^[!-~]+$", description="signs every delivery"
    )


class Created(BaseModel):
    id: str


class FailureOut(BaseModel):
    event_id: int
    order_id: str
    sequence: int
    type: str
    attempts: int
    last_error: str | None
    failed_at: datetime | None


class Failures(BaseModel):
    id: str
    failures: list[FailureOut]


class ReplayBody(BaseModel):
    from_event_id: int | None = Field(
        # a JSON number holds integers exactly up to 2**53 - 1 only: beyond it a client's value is not the one it meant
        default=None,
        ge=1,
        le=2**53 - 1,
        description="send again every event from this one on; unset: the failures",
    )


class Replayed(BaseModel):
    id: str
    replayed: int  # how many events are owed to the subscriber again


class SubscriptionStore(Protocol):
    """What the routes ask of `events_out.subscriptions.Subscriptions`."""

    def create(self, url: str, events: list[str], secret: str) -> str: ...

    def failures(self, subscription_id: str, limit: int = ...) -> Sequence[Failure] | None: ...

    def replay(self, subscription_id: str, from_event_id: int | None) -> int | None: ...


def subscription_store(request: Request) -> SubscriptionStore:
    return Subscriptions(request.app.state.services.engine)


Store = Annotated[SubscriptionStore, Depends(subscription_store)]
UNKNOWN: dict[int | str, dict[str, Any]] = {404: {"description": "no such subscription"}}


def _unknown(subscription_id: str) -> HTTPException:
    return HTTPException(404, f"there is no subscription {subscription_id}")


@router.post("", status_code=201)
async def subscribe(body: SubscriptionBody, store: Store, who: Principal = require("operator")) -> Created:
    """Every order event written from now on (of the types named) is POSTed to `url`, at least once and in order
    per order, with `X-OMS-Signature: t=<unix>,v1=<hex HMAC-SHA256(secret, "<t>.<raw body>")>`."""
    return Created(id=await asyncio.to_thread(store.create, body.url, list(body.events), body.secret))


@router.get("/{subscription_id}/failures", responses=UNKNOWN)
async def failures(subscription_id: SubscriptionId, store: Store, who: Principal = require("operator")) -> Failures:
    """The events that gave up (every attempt failed, or the retries ran out of time), oldest first."""
    found = await asyncio.to_thread(store.failures, subscription_id)
    if found is None:
        raise _unknown(subscription_id)
    return Failures(id=subscription_id, failures=[FailureOut(**asdict(f)) for f in found])


@router.post("/{subscription_id}/replay", status_code=202, responses=UNKNOWN)
async def replay(
    subscription_id: SubscriptionId, store: Store, body: ReplayBody | None = None, who: Principal = require("operator")
) -> Replayed:
    """Send again the failures, or (`from_event_id`) every event the subscription takes from that one on."""
    from_event_id = body.from_event_id if body is not None else None
    count = await asyncio.to_thread(store.replay, subscription_id, from_event_id)
    if count is None:
        raise _unknown(subscription_id)
    return Replayed(id=subscription_id, replayed=count)
