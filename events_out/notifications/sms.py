"""SMS through a provider behind a Protocol; the HTTP adapter speaks to the simulator's `POST /sms/messages`.

A provider takes an idempotency key and sends once per key, so an SMS may be handed over again safely.
"""

from typing import Any, Protocol

import httpx

# answers meaning "not now": the provider is busy or the key is in use by a call in flight
_RETRY_STATUSES = frozenset({408, 409, 425, 429})


class SmsRejected(Exception):
    """The provider refused the message for good (a bad number, a body it will not send)."""


class SmsUnavailable(Exception):
    """The provider did not answer or failed for now: the same key may be tried again."""


class SmsProvider(Protocol):
    async def send(self, to: str, body: str, key: str) -> str:
        """Send `body` to `to` once per `key`; the provider's id of the message."""
        ...


class HttpSmsProvider:
    def __init__(
        self,
        base_url: str,
        sender: str = "OMS",
        timeout_s: float = 10.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.sender = sender
        self.client = httpx.AsyncClient(base_url=base_url.rstrip("/"), timeout=timeout_s, transport=transport)

    async def send(self, to: str, body: str, key: str) -> str:
        payload: dict[str, Any] = {"to": to, "sender": self.sender, "body": body}
        try:
            answer = await self.client.post("/sms/messages", json=payload, headers={"Idempotency-Key": key})
        except httpx.TransportError as err:
            raise SmsUnavailable(repr(err)) from err
        if answer.is_success:
            return str(answer.json()["id"])
        detail = f"{answer.status_code}: {answer.text[:300]}"
        if answer.status_code >= 500 or answer.status_code in _RETRY_STATUSES:
            raise SmsUnavailable(detail)
        raise SmsRejected(detail)

    async def aclose(self) -> None:
        await self.client.aclose()
