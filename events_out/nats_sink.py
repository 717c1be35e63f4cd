"""NATS JetStream as a destination: each event published to `<prefix>.<order token>.<type>`.

An order id may hold `.` (a subject's token separator) and `_` ([A-Za-z0-9_.-], domain/models.py), so it is
mapped to one token: letters, digits and `-` stay, every other byte becomes `_` and its two hex digits (`W.1` is
`W_2E1`, `A_B` is `A_5FB`), which is reversible and never a wildcard (`*`, `>`). A stream for `<prefix>.>` is
created if missing. The event id travels as `Nats-Msg-Id`, so JetStream drops a resend within its duplicate
window; past it, consumers dedupe on `event_id` in the body.
"""

import json
import re

import nats
from nats.aio.client import Client
from nats.js import JetStreamContext
from nats.js.errors import NotFoundError

from events_out.contracts import OutboxEvent

_PLAIN = re.compile(r"[A-Za-z0-9-]")


def subject_token(order_id: str) -> str:
    return "".join(c if _PLAIN.fullmatch(c) else "".join(f"_{b:02X}" for b in c.encode()) for c in order_id)


def order_of_token(token: str) -> str:
    """The order id a subject token names (the inverse of `subject_token`)."""
    raw = bytearray()
    i = 0
    while i < len(token):
        if token[i] == "_":
            raw.append(int(token[i + 1 : i + 3], 16))
            i += 3
        else:
            raw += token[i].encode()
            i += 1
    return raw.decode()


def subject_of(prefix: str, event: OutboxEvent) -> str:
    return f"{prefix}.{subject_token(event.order_id)}.{event.type}"


async def ensure_stream(js: JetStreamContext, stream: str, prefix: str) -> None:
    try:
        await js.stream_info(stream)
    except NotFoundError:
        await js.add_stream(name=stream, subjects=[f"{prefix}.>"])


class NatsSink:
    def __init__(self, url: str, *, stream: str, prefix: str, name: str = "nats") -> None:
        self.name = name
        self.types: frozenset[str] | None = None  # the stream carries every event
        self.url = url
        self.stream = stream
        self.prefix = prefix
        self._client: Client | None = None
        self._js: JetStreamContext | None = None

    async def _jetstream(self) -> JetStreamContext:
        if self._js is None:
            # connected on first use, so a relay starts while NATS is away and its events wait (retried)
            client = await nats.connect(self.url, connect_timeout=5, max_reconnect_attempts=-1)
            js = client.jetstream()
            try:
                await ensure_stream(js, self.stream, self.prefix)
            except BaseException:
                await client.close()
                raise
            self._client, self._js = client, js
        return self._js

    async def deliver(self, event: OutboxEvent) -> None:
        js = await self._jetstream()
        body = json.dumps(event.body(), separators=(",", ":"), ensure_ascii=False).encode()
        await js.publish(
            subject_of(self.prefix, event), body, stream=self.stream, headers={"Nats-Msg-Id": str(event.event_id)}
        )

    async def close(self) -> None:
        if self._client is not None:
            await self._client.close()
        self._client, self._js = None, None
