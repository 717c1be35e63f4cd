"""The warehouse (WMS) port: release a fulfillment order to the location that picks, packs and ships it."""

from types import TracebackType
from typing import Any, Protocol, Self

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


class WarehouseError(Exception):
    """Base of the warehouse client's errors."""


class WarehouseUnavailable(WarehouseError):
    """Outage, timeout or 5xx. Transient: release again with the same fulfillment order id."""


class WarehouseRefused(WarehouseError):
    """The warehouse rejected the request (4xx). Permanent: the same request will be rejected again."""


class WarehouseClient(Protocol):
    def release(self, request: FulfillmentRequest) -> None: ...


# Statuses that say "not now" rather than "never".
_TRANSIENT_4XX = frozenset({408, 425, 429})


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
        if response.is_success:
            return
        message = f"warehouse answered {response.status_code} for {request.fulfillment_order_id}: {response.text[:500]}"
        if response.status_code >= 500 or response.status_code in _TRANSIENT_4XX:
            raise WarehouseUnavailable(message)
        raise WarehouseRefused(message)

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()
