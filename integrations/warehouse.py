"""The warehouse (WMS) port: release a fulfillment order to the location that picks, packs and ships it."""

from datetime import date
from types import TracebackType
from typing import Any, NoReturn, Protocol, Self
from urllib.parse import quote

import httpx
from pydantic import BaseModel, ConfigDict

from domain.models import SkuQuantity


class FulfillmentRequest(BaseModel):
    model_config = ConfigDict(frozen=True)

    fulfillment_order_id: str
    order_id: str
    location_id: str
    lines: list[SkuQuantity]
    ship_to: dict[str, Any]
    delivery_method: str
    # the day the buyer asked to have it (B2B); none: as soon as may be
    requested_delivery_date: date | None = None


class WarehouseError(Exception):
    """Base of the warehouse client's errors."""


class WarehouseUnavailable(WarehouseError):
    """Outage, timeout or 5xx. Transient: release again with the same fulfillment order id."""


class WarehouseRefused(WarehouseError):
    """The warehouse rejected the request (4xx). Permanent: the same request will be rejected again."""


class WarehouseClient(Protocol):
    def release(self, request: FulfillmentRequest) -> None: ...

    def cancel(self, fulfillment_order_id: str) -> bool:
        """Ask the location to stop a released fulfillment order; idempotent, so safe to retry.

        True: stopped in time, nothing will ship or be handed over for it (also when the location never
        received it: it then refuses a late release of that id). False: too late, it has already shipped or
        been picked up, and its shipped/picked_up events come (or came) as usual.
        Raises WarehouseUnavailable (transient) or WarehouseRefused (permanent) like ``release``.
        """
        ...

    def amend(self, fulfillment_order_id: str, remove: list[SkuQuantity], key: str) -> bool:
        """Take these units off a released fulfillment order (a partial cancel), once per key.

        True: amended, the location ships only what is left. False: too late, those units are picked or
        shipped already. Raises WarehouseUnavailable or WarehouseRefused like ``release``.
        """
        ...


# Statuses that say "not now" rather than "never".
_TRANSIENT_4XX = frozenset({408, 425, 429})


def _raise_for(response: httpx.Response, what: str) -> NoReturn:
    message = f"warehouse answered {response.status_code} for {what}: {response.text[:500]}"
    if response.status_code >= 500 or response.status_code in _TRANSIENT_4XX:
        raise WarehouseUnavailable(message)
    raise WarehouseRefused(message)


class HttpWarehouseClient:
    def __init__(self, base_url: str, timeout: float = 5.0, transport: httpx.BaseTransport | None = None) -> None:
        # One client for the process: it pools connections and is safe to share between activity threads.
        self._client = httpx.Client(base_url=base_url.rstrip("/"), timeout=timeout, transport=transport)

    def release(self, request: FulfillmentRequest) -> None:
        try:
            response = self._client.post(
                "/warehouse/fulfillment-orders",
                json=request.model_dump(mode="json"),
                # The fulfillment order id is stable across retries, so the warehouse never ships twice.
                headers={"Idempotency-Key": request.fulfillment_order_id},
            )
        except httpx.TransportError as err:
            raise WarehouseUnavailable(f"warehouse unreachable: {err!r}") from err
        if not response.is_success:
            _raise_for(response, request.fulfillment_order_id)

    def cancel(self, fulfillment_order_id: str) -> bool:
        """POST /warehouse/fulfillment-orders/{id}/cancel: 2xx is stopped (True), 409 is too late (False)."""
        path = f"/warehouse/fulfillment-orders/{quote(fulfillment_order_id, safe='')}/cancel"
        try:
            response = self._client.post(path)
        except httpx.TransportError as err:
            raise WarehouseUnavailable(f"warehouse unreachable: {err!r}") from err
        if response.is_success:
            return True
        if response.status_code == 409:
            return False
        _raise_for(response, f"cancel of {fulfillment_order_id}")

    def amend(self, fulfillment_order_id: str, remove: list[SkuQuantity], key: str) -> bool:
        """POST /warehouse/fulfillment-orders/{id}/amend {"remove": [...]}: 2xx amended, 409 too late.
        The Idempotency-Key makes a retried amend take the units off once."""
        path = f"/warehouse/fulfillment-orders/{quote(fulfillment_order_id, safe='')}/amend"
        body = {"remove": [q.model_dump(mode="json") for q in remove]}
        try:
            response = self._client.post(path, json=body, headers={"Idempotency-Key": key})
        except httpx.TransportError as err:
            raise WarehouseUnavailable(f"warehouse unreachable: {err!r}") from err
        if response.is_success:
            return True
        if response.status_code == 409:
            return False
        _raise_for(response, f"amend of {fulfillment_order_id}")

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()
