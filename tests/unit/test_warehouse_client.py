"""The warehouse client against a fake warehouse (status mapping), and against the simulator (the contract)."""

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from domain.models import SkuQuantity
from integrations.simulators import create_simulator_app
from integrations.warehouse import (
    FulfillmentRequest,
    HttpWarehouseClient,
    WarehouseClient,
    WarehouseRefused,
    WarehouseUnavailable,
)
from tests.db.simulator_harness import forget_simulator_state

REQUEST = FulfillmentRequest(
    fulfillment_order_id="W-1001-F1",
    order_id="W-1001",
    location_id="DC-TOKYO",
    lines=[SkuQuantity(sku="LEGO-76419", quantity=2)],
    ship_to={"name": "Aiko Sato", "country": "JP"},
    delivery_method="next_day",
)


def warehouse(handler: Callable[[httpx.Request], httpx.Response]) -> HttpWarehouseClient:
    return HttpWarehouseClient("http://wms.test/", transport=httpx.MockTransport(handler))


def test_release_posts_the_request_with_its_idempotency_key() -> None:
    seen: list[httpx.Request] = []

    def accept(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(202, json={})

    with warehouse(accept) as client:
        client.release(REQUEST)

    [request] = seen
    assert (request.method, str(request.url)) == ("POST", "http://wms.test/warehouse/fulfillment-orders")
    assert request.headers["Idempotency-Key"] == "W-1001-F1"
    assert FulfillmentRequest.model_validate_json(request.content) == REQUEST


@pytest.mark.parametrize("status", [500, 503, 429])
def test_release_outage_is_transient(status: int) -> None:
    with warehouse(lambda _: httpx.Response(status)) as client, pytest.raises(WarehouseUnavailable):
        client.release(REQUEST)


def test_release_connection_error_is_transient() -> None:
    def unreachable(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    with warehouse(unreachable) as client, pytest.raises(WarehouseUnavailable):
        client.release(REQUEST)


@pytest.mark.parametrize("status", [400, 404, 422])
def test_release_rejection_is_permanent(status: int) -> None:
    answer = httpx.Response(status, json={"detail": "unknown location"})
    with warehouse(lambda _: answer) as client, pytest.raises(WarehouseRefused, match="unknown location"):
        client.release(REQUEST)


# -- cancel ---------------------------------------------------------------------------------------


def test_cancel_posts_to_the_fulfillment_orders_cancel_endpoint() -> None:
    seen: list[httpx.Request] = []

    def stopped(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"fulfillment_order_id": "W-1001-F1", "canceled": True})

    # when the OMS cancels a fulfillment order the warehouse can still stop
    with warehouse(stopped) as client:
        canceled = client.cancel("W-1001-F1")

    # then the warehouse was asked once, at that fulfillment order's cancel endpoint, and it was stopped
    [request] = seen
    assert (request.method, str(request.url)) == (
        "POST",
        "http://wms.test/warehouse/fulfillment-orders/W-1001-F1/cancel",
    )
    assert canceled is True


def test_cancel_escapes_the_id_in_the_path() -> None:
    seen: list[str] = []

    def stopped(request: httpx.Request) -> httpx.Response:
        seen.append(request.url.raw_path.decode())
        return httpx.Response(200, json={"canceled": True})

    with warehouse(stopped) as client:
        client.cancel("odd/id?x")

    assert seen == ["/warehouse/fulfillment-orders/odd%2Fid%3Fx/cancel"]


def test_cancel_too_late_is_false_not_an_error() -> None:
    # given a fulfillment order that has shipped: the warehouse answers 409
    answer = httpx.Response(409, json={"detail": "W-1001-F1 has already left the location"})
    # when the OMS cancels it, then it learns the goods are on their way
    with warehouse(lambda _: answer) as client:
        assert client.cancel("W-1001-F1") is False


@pytest.mark.parametrize("status", [500, 502, 503, 408, 425, 429])
def test_cancel_outage_is_transient(status: int) -> None:
    with warehouse(lambda _: httpx.Response(status)) as client, pytest.raises(WarehouseUnavailable, match="cancel"):
        client.cancel("W-1001-F1")


def test_cancel_connection_error_is_transient() -> None:
    def unreachable(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectTimeout("timed out", request=request)

    with warehouse(unreachable) as client, pytest.raises(WarehouseUnavailable, match="unreachable"):
        client.cancel("W-1001-F1")


@pytest.mark.parametrize("status", [400, 401, 403, 404, 422])
def test_cancel_rejection_is_permanent(status: int) -> None:
    answer = httpx.Response(status, json={"detail": "no such route"})
    with warehouse(lambda _: answer) as client, pytest.raises(WarehouseRefused, match=f"{status}.*no such route"):
        client.cancel("W-1001-F1")


# -- the contract: the client against the simulator it is used with by default --------------------


@contextmanager
def simulated_warehouse(mode: str, engine: Engine) -> Iterator[tuple[WarehouseClient, TestClient]]:
    """The real simulator app (the OMS side mocked to accept every webhook), and the client pointed at it."""
    forget_simulator_state(engine)  # its state is in the database
    oms = httpx.MockTransport(lambda _: httpx.Response(202, json={}))
    app = create_simulator_app("http://oms.test", "partner-secret", mode, 0.01, transport=oms, engine=engine)
    with TestClient(app) as http:
        client = HttpWarehouseClient("http://testserver", transport=http._transport)
        yield client, http


def wait_for_status(http: TestClient, fo_id: str, status: str) -> None:
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        [record] = [r for r in http.get("/warehouse/fulfillment-orders").json() if r["fulfillment_order_id"] == fo_id]
        if record["status"] == status:
            return
        time.sleep(0.01)
    raise AssertionError(f"{fo_id} never reached {status}")


@pytest.mark.db
def test_the_simulator_stops_a_released_fulfillment_order_and_says_so_again_on_retry(engine: Engine) -> None:
    with simulated_warehouse("off", engine) as (client, http):
        # given a released fulfillment order
        client.release(REQUEST)
        # when it is canceled, and the cancel retried
        first, second = client.cancel(REQUEST.fulfillment_order_id), client.cancel(REQUEST.fulfillment_order_id)
        [record] = http.get("/warehouse/fulfillment-orders").json()

    # then both say it was stopped
    assert (first, second) == (True, True)
    assert record["status"] == "canceled"


@pytest.mark.db
def test_the_simulator_answers_false_once_the_fulfillment_order_shipped(engine: Engine) -> None:
    with simulated_warehouse("auto", engine) as (client, http):
        client.release(REQUEST)
        wait_for_status(http, REQUEST.fulfillment_order_id, "delivered")
        assert client.cancel(REQUEST.fulfillment_order_id) is False
