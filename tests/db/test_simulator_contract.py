"""The OMS's own partner clients against the simulators: amend through the warehouse client, track through the
carrier client."""

import time
from collections.abc import Iterator
from contextlib import contextmanager

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from domain.models import SkuQuantity
from integrations.carrier import CarrierRefused, HttpCarrierClient
from integrations.simulators import create_simulator_app
from integrations.warehouse import FulfillmentRequest, HttpWarehouseClient, WarehouseRefused
from tests.db.simulator_harness import forget_simulator_state, new_fo_id

pytestmark = pytest.mark.db


def request(fo_id: str) -> FulfillmentRequest:
    return FulfillmentRequest(
        fulfillment_order_id=fo_id,
        order_id=fo_id.rsplit("-", 1)[0],
        location_id="DC-TOKYO",
        lines=[SkuQuantity(sku="LEGO-76419", quantity=2), SkuQuantity(sku="LEGO-10305", quantity=1)],
        ship_to={"name": "Aiko Sato", "country": "JP"},
        delivery_method="standard",
    )


@contextmanager
def partners(engine: Engine, mode: str) -> Iterator[tuple[HttpWarehouseClient, HttpCarrierClient, TestClient]]:
    forget_simulator_state(engine)
    oms = httpx.MockTransport(lambda _: httpx.Response(202, json={}))
    app = create_simulator_app("http://oms.test", "partner-secret", mode, 0.01, transport=oms, engine=engine)
    with TestClient(app) as http:
        transport = http._transport
        yield (
            HttpWarehouseClient("http://testserver", transport=transport),
            HttpCarrierClient("http://testserver", transport=transport),
            http,
        )


def test_the_warehouse_client_amends_once_and_learns_when_it_is_too_late(engine: Engine) -> None:
    fo_id = new_fo_id()
    with partners(engine, "off") as (warehouse, _, http):
        warehouse.release(request(fo_id))
        # when the OMS takes a unit off, and its activity retries the amend
        amended = warehouse.amend(fo_id, [SkuQuantity(sku="LEGO-76419", quantity=1)], key="k1")
        again = warehouse.amend(fo_id, [SkuQuantity(sku="LEGO-76419", quantity=1)], key="k1")
        lines = http.get(f"/warehouse/fulfillment-orders/{fo_id}").json()["lines"]
        # and asks for units it never released
        with pytest.raises(WarehouseRefused, match="400"):
            warehouse.amend(fo_id, [SkuQuantity(sku="LEGO-99999", quantity=1)], key="k2")

    assert (amended, again) == (True, True)
    assert lines == [{"sku": "LEGO-76419", "quantity": 1}, {"sku": "LEGO-10305", "quantity": 1}]


def test_the_carrier_client_tracks_a_parcel_to_delivery(engine: Engine) -> None:
    fo_id = new_fo_id()
    with partners(engine, "auto") as (warehouse, carrier, http):
        warehouse.release(request(fo_id))
        deadline = time.monotonic() + 10
        while (record := http.get(f"/warehouse/fulfillment-orders/{fo_id}").json())["status"] != "delivered":
            assert time.monotonic() < deadline, f"{fo_id} is still {record['status']}"
            time.sleep(0.01)
        status = carrier.track(record["tracking_number"])
        too_late = warehouse.amend(fo_id, [SkuQuantity(sku="LEGO-76419", quantity=1)], key="k3")
        with pytest.raises(CarrierRefused, match="404"):
            carrier.track("YMT0000000000")

    assert status == "delivered"
    assert too_late is False
