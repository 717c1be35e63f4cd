"""The carrier port: where a parcel is, asked when the carrier has been silent past the delivery deadline."""

from typing import Protocol
from urllib.parse import quote

import httpx

from integrations.warehouse import WarehouseRefused, WarehouseUnavailable

ParcelStatus = str  # the carrier's latest event: "in_transit", "out_for_delivery", "delivered", "exception"


class CarrierUnavailable(WarehouseUnavailable):
    """Outage, timeout or 5xx: ask again later."""


class CarrierRefused(WarehouseRefused):
    """The carrier does not know the parcel (4xx): asking again will not help."""


class CarrierClient(Protocol):
    def track(self, tracking_number: str) -> ParcelStatus | None:
        """The parcel's latest event, None when it has none yet. Asking also makes the carrier send its latest
        webhook again, so an event the OMS missed arrives. Raises CarrierUnavailable or CarrierRefused."""
        ...


class HttpCarrierClient:
    def __init__(self, base_url: str, timeout: float = 5.0, transport: httpx.BaseTransport | None = None) -> None:
        self._client = httpx.Client(base_url=base_url.rstrip("/"), timeout=timeout, transport=transport)

    def track(self, tracking_number: str) -> ParcelStatus | None:
        """GET /carrier/parcels/{tracking_number}: {"tracking_number", "status"}."""
        try:
            response = self._client.get(f"/carrier/parcels/{quote(tracking_number, safe='')}")
        except httpx.TransportError as err:
            raise CarrierUnavailable(f"carrier unreachable: {err!r}") from err
        if response.status_code >= 500 or response.status_code in (408, 425, 429):
            raise CarrierUnavailable(f"carrier answered {response.status_code}: {response.text[:300]}")
        if not response.is_success:
            raise CarrierRefused(
                f"carrier answered {response.status_code} for {tracking_number}: {response.text[:300]}"
            )
        status: str | None = response.json().get("status")
        return status

    def close(self) -> None:
        self._client.close()
