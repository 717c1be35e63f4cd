"""A small typed HTTP client for the OMS API (see API.md): one method per endpoint, errors as exceptions.

The `oms` command line speaks to the API through it; scripts and tests can too. Tests inject an
`httpx.MockTransport` to see exactly what would be sent.
"""

from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any, NamedTuple, Self
from urllib.parse import quote

import httpx

Json = dict[str, Any]


class Line(NamedTuple):
    sku: str
    quantity: int


class Replacement(NamedTuple):
    sku: str
    quantity: int
    unit_price: str | None = None  # a decimal string; None keeps the price the sku was sold at


class OmsClientError(Exception):
    """Anything that kept a request from getting a successful answer."""


class OmsApiError(OmsClientError):
    """The API answered with an error status; `detail` is its reason, flattened to one line a person can read."""

    def __init__(self, status: int, detail: str) -> None:
        super().__init__(f"{status}: {detail}")
        self.status = status
        self.detail = detail


class OmsUnreachable(OmsClientError):
    """No answer at all: the API is not running there, or the connection failed or timed out."""


class OmsClient:
    def __init__(
        self, base_url: str, token: str, *, transport: httpx.BaseTransport | None = None, timeout: float = 30.0
    ) -> None:
        self.base_url = base_url
        self._http = httpx.Client(
            base_url=base_url, headers={"Authorization": f"Bearer {token}"}, timeout=timeout, transport=transport
        )

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    # -- orders ----------------------------------------------------------------------------------
    def place_order(self, checkout: Mapping[str, Any]) -> Json:
        return self._json("POST", "/v1/orders", json=dict(checkout))

    def get_order(self, order_id: str) -> Json:
        return self._json("GET", _order(order_id))

    def search_orders(
        self,
        customer_id: str | None = None,
        status: str | None = None,
        channel: str | None = None,
        attention: bool | None = None,
    ) -> list[Json]:
        needs = None if attention is None else str(attention).lower()
        params = _present({"customer_id": customer_id, "status": status, "channel": channel, "attention": needs})
        return self._json_list("GET", "/v1/orders", params=params)

    def cancel_order(self, order_id: str, reason: str, lines: Sequence[Line] | None = None) -> Json:
        """Cancel these lines, or (no lines) everything still cancelable."""
        body: Json = {"reason": reason}
        if lines:
            body["lines"] = _lines(lines)
        return self._json("POST", f"{_order(order_id)}/cancel", json=body)

    def request_return(
        self, order_id: str, lines: Sequence[Line], reason: str, method: str = "mail", location_id: str | None = None
    ) -> Json:
        body = _present({"lines": _lines(lines), "reason": reason, "method": method, "location_id": location_id})
        return self._json("POST", f"{_order(order_id)}/returns", json=body)

    def request_exchange(
        self,
        order_id: str,
        returned: Sequence[Line],
        replacement: Sequence[Replacement],
        reason: str,
        method: str = "mail",
        location_id: str | None = None,
        price_reason: str | None = None,
    ) -> Json:
        wanted = [
            _present(
                {
                    "sku": r.sku,
                    "quantity": r.quantity,
                    "unit_price": r.unit_price,
                    "price_reason": price_reason if r.unit_price is not None else None,
                }
            )
            for r in replacement
        ]
        body = _present(
            {
                "returned": _lines(returned),
                "replacement": wanted,
                "reason": reason,
                "method": method,
                "location_id": location_id,
            }
        )
        return self._json("POST", f"{_order(order_id)}/exchanges", json=body)

    def grant_appeasement(self, order_id: str, amount: Decimal | str, reason: str) -> Json:
        # Money travels as a decimal string (API.md), never as a float that could round.
        body = {"amount": str(amount), "reason": reason}
        return self._json("POST", f"{_order(order_id)}/appeasements", json=body)

    def payments(self, order_id: str) -> list[Json]:
        return self._json_list("GET", f"{_order(order_id)}/payments")

    def review(self, order_id: str, approve: bool, reason: str) -> Json:
        body = {"decision": "approve" if approve else "reject", "reason": reason}
        return self._json("POST", f"{_order(order_id)}/review", json=body)

    def change_address(self, order_id: str, address: Mapping[str, Any], reason: str) -> Json:
        return self._json("POST", f"{_order(order_id)}/address", json={"address": dict(address), "reason": reason})

    def reship(self, order_id: str, lines: Sequence[Line], reason: str) -> Json:
        return self._json("POST", f"{_order(order_id)}/reships", json={"lines": _lines(lines), "reason": reason})

    def retry(self, order_id: str, reason: str) -> Json:
        """Run again the steps that failed for good; answers the steps retried and what still needs a person."""
        return self._json("POST", f"{_order(order_id)}/retry", json={"reason": reason})

    # -- inventory -------------------------------------------------------------------------------
    def adjust_inventory(
        self,
        location_id: str,
        sku: str,
        *,
        delta: int | None = None,
        on_hand: int | None = None,
        reason: str | None = None,
        adjustment_id: str | None = None,
    ) -> Json:
        """Move stock by `delta` or set the counted `on_hand` (exactly one); answers the new level."""
        body = _present(
            {
                "location_id": location_id,
                "sku": sku,
                "delta": delta,
                "on_hand": on_hand,
                "reason": reason,
                "adjustment_id": adjustment_id,
            }
        )
        return self._json("POST", "/v1/inventory/adjustments", json=body)

    def availability(
        self,
        skus: Sequence[str],
        latitude: float | None = None,
        longitude: float | None = None,
        channel: str | None = None,
    ) -> Json:
        params: list[tuple[str, str | float]] = [("sku", sku) for sku in skus]
        params += list(_present({"latitude": latitude, "longitude": longitude, "channel": channel}).items())
        return self._json("GET", "/v1/availability", params=params)

    def locations(self) -> list[Json]:
        return self._json_list("GET", "/v1/locations")

    # -- transport -------------------------------------------------------------------------------
    def _json(self, method: str, path: str, **kwargs: Any) -> Json:
        answer = self._request(method, path, **kwargs)
        if not isinstance(answer, dict):
            raise OmsApiError(502, f"{method} {path} answered {type(answer).__name__}, expected an object")
        return answer

    def _json_list(self, method: str, path: str, **kwargs: Any) -> list[Json]:
        answer = self._request(method, path, **kwargs)
        if not isinstance(answer, list):
            raise OmsApiError(502, f"{method} {path} answered {type(answer).__name__}, expected a list")
        return answer

    def _request(self, method: str, path: str, **kwargs: Any) -> Any:
        try:
            response = self._http.request(method, path, **kwargs)
        except httpx.HTTPError as err:
            raise OmsUnreachable(f"cannot reach the OMS API at {self.base_url}: {err}") from err
        if response.is_error:
            raise OmsApiError(response.status_code, _detail(response))
        try:
            return response.json()
        except ValueError as err:
            raise OmsApiError(
                502, f"{method} {path} answered something that is not JSON: {response.text[:200]}"
            ) from err


def _order(order_id: str) -> str:
    # An id typed by a person may hold a "/" or "?"; quoting keeps it one path segment.
    return f"/v1/orders/{quote(order_id, safe='')}"


def _lines(lines: Sequence[Line]) -> list[Json]:
    return [{"sku": line.sku, "quantity": line.quantity} for line in lines]


def _present(values: Mapping[str, Any]) -> Json:
    """The values that were given: an omitted option is left to the API's default, not sent as null."""
    return {key: value for key, value in values.items() if value is not None}


def _detail(response: httpx.Response) -> str:
    """The API's `detail` as one line: a reason string, or FastAPI's validation errors as `field: message`."""
    try:
        detail = response.json().get("detail")
    except (ValueError, AttributeError):
        return response.text.strip() or response.reason_phrase
    if isinstance(detail, list):
        return "; ".join(_validation_error(item) for item in detail)
    return str(detail) if detail is not None else response.reason_phrase


def _validation_error(item: Any) -> str:
    if not isinstance(item, dict):
        return str(item)
    # loc starts with where the value came from ("body", "query"); the field path is what a person needs.
    loc = [str(part) for part in item.get("loc", [])[1:]]
    message = str(item.get("msg", item))
    return f"{'.'.join(loc)}: {message}" if loc else message
