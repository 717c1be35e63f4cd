"""A webhook subscriber as a destination: each event POSTed as JSON, signed with the subscription's secret."""

import json
import time

import httpx

from events_out.contracts import OutboxEvent
from integrations.simulator_flows import SIGNATURE_HEADER, sign_webhook


class DeliveryRefused(Exception):
    """The subscriber did not answer 2xx: the event is tried again later."""


def encoded(event: OutboxEvent) -> bytes:
    """The exact bytes sent and signed (the subscriber verifies the signature over these, not a re-encoding)."""
    return json.dumps(event.body(), separators=(",", ":"), ensure_ascii=False).encode()


class WebhookSink:
    def __init__(
        self, name: str, url: str, secret: str, client: httpx.AsyncClient, types: frozenset[str] | None = None
    ) -> None:
        self.name, self.types = name, types  # the subscription's event types
        self.url = url
        self._secret = secret
        self._client = client

    async def deliver(self, event: OutboxEvent) -> None:
        body = encoded(event)
        headers = {
            "Content-Type": "application/json",
            SIGNATURE_HEADER: sign_webhook(self._secret, body, int(time.time())),
            # the same event may come again (at least once): subscribers dedupe on it
            "X-OMS-Event-Id": str(event.event_id),
        }
        try:
            answer = await self._client.post(self.url, content=body, headers=headers)
        except httpx.HTTPError as err:
            raise DeliveryRefused(f"{self.url}: {type(err).__name__}: {err}") from err
        if not answer.is_success:
            raise DeliveryRefused(f"{self.url} answered {answer.status_code}: {answer.text[:200]}")
