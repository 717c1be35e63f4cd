"""The inventory HTTP API on real PostgreSQL, without Temporal: the inventory router alone, with the test
database as its services' engine and the development tokens."""

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import Engine

from domain.models import SkuQuantity
from starter.api import inventory
from starter.api.app import create_app
from starter.api.auth import parse_tokens
from starter.settings import DEV_TOKENS, Settings
from store.inventory import AdjustedLevel, InventoryRepository
from store.seed import seed_demo
from tests.db.inventory_checks import CheckedInventory
from tests.db.test_inventory import add_location

pytestmark = pytest.mark.db

OPERATOR = {"Authorization": "Bearer dev-operator"}
PARTNER = {"Authorization": "Bearer dev-partner"}
CUSTOMER = {"Authorization": "Bearer dev-customer"}
STOREFRONT = {"Authorization": "Bearer dev-storefront"}
LOC = "API-1"


@dataclass
class FakeServices:
    """What the inventory routes use of `Services`, plus the stock-received hook recording its calls."""

    engine: Engine
    settings: Settings
    received: list[AdjustedLevel] = field(default_factory=list)

    async def on_stock_received(self, level: AdjustedLevel) -> None:
        self.received.append(level)


@pytest.fixture
def services(engine: Engine) -> FakeServices:
    add_location(engine, LOC, latitude=35.68, longitude=139.77)
    return FakeServices(engine=engine, settings=Settings(low_stock_threshold=5, database_url=None))


@pytest.fixture
async def client(services: FakeServices) -> AsyncIterator[httpx.AsyncClient]:
    app = FastAPI()
    app.state.tokens = parse_tokens(DEV_TOKENS, production=False)
    app.state.services = services
    app.include_router(inventory.router)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://oms.test") as test_client:
        yield test_client


def sku() -> str:
    return f"SKU-{uuid.uuid4().hex[:8]}"


def test_the_application_serves_the_inventory_routes() -> None:
    # given the real application (its lifespan, which connects to Temporal, is not started)
    app = create_app(Settings(database_url=None))
    # then it publishes the inventory endpoints
    paths = app.openapi()["paths"]
    assert {"/v1/locations", "/v1/availability", "/v1/inventory/adjustments"} <= set(paths)
    assert "post" in paths["/v1/inventory/adjustments"]


async def test_every_inventory_endpoint_needs_a_token(client: httpx.AsyncClient) -> None:
    # when called without a token, or with one nobody issued
    answers = [
        await client.get("/v1/locations"),
        await client.get("/v1/availability", params={"sku": "X"}),
        await client.post("/v1/inventory/adjustments", json={"location_id": LOC, "sku": "X", "delta": 1}),
        await client.get("/v1/locations", headers={"Authorization": "Bearer nope"}),
    ]
    # then each answers 401
    assert [a.status_code for a in answers] == [401, 401, 401, 401]


async def test_only_operators_and_partners_adjust_stock(client: httpx.AsyncClient) -> None:
    # when a customer or a storefront posts an adjustment
    body = {"location_id": LOC, "sku": sku(), "delta": 1}
    refused = [await client.post("/v1/inventory/adjustments", json=body, headers=h) for h in (CUSTOMER, STOREFRONT)]
    # then they are refused with 403, and the partner may
    assert [r.status_code for r in refused] == [403, 403]
    assert "may not" in refused[0].json()["detail"]
    allowed = await client.post("/v1/inventory/adjustments", json=body, headers=PARTNER)
    assert allowed.status_code == 200


async def test_an_adjustment_gives_exactly_one_of_delta_and_on_hand(client: httpx.AsyncClient) -> None:
    a = sku()
    # when both, or neither, or a negative count is given
    both = await client.post(
        "/v1/inventory/adjustments", json={"location_id": LOC, "sku": a, "delta": 1, "on_hand": 3}, headers=OPERATOR
    )
    neither = await client.post("/v1/inventory/adjustments", json={"location_id": LOC, "sku": a}, headers=OPERATOR)
    negative = await client.post(
        "/v1/inventory/adjustments", json={"location_id": LOC, "sku": a, "on_hand": -1}, headers=OPERATOR
    )
    # then each is 422 and nothing is counted
    assert [both.status_code, neither.status_code, negative.status_code] == [422, 422, 422]
    assert "exactly one of delta and on_hand" in str(both.json()["detail"])
    after = await client.get("/v1/availability", params={"sku": a}, headers=OPERATOR)
    assert after.json()["skus"][0]["available"] == 0


async def test_an_adjustment_at_an_unknown_location_is_404(client: httpx.AsyncClient) -> None:
    answer = await client.post(
        "/v1/inventory/adjustments", json={"location_id": "NOWHERE", "sku": sku(), "delta": 5}, headers=OPERATOR
    )
    assert answer.status_code == 404
    assert "NOWHERE" in answer.json()["detail"]


async def test_an_adjustment_that_would_go_negative_is_409_with_the_reason(
    client: httpx.AsyncClient, services: FakeServices
) -> None:
    # given 4 on hand, 3 of them reserved for an order
    a = sku()
    repo = InventoryRepository(services.engine)
    repo.set_on_hand(LOC, a, 4)
    assert repo.reserve("API-O" + a, LOC, [SkuQuantity(sku=a, quantity=3)])
    # when 2 units are written off, and a count of 1 arrives
    removed = await client.post(
        "/v1/inventory/adjustments", json={"location_id": LOC, "sku": a, "delta": -2}, headers=OPERATOR
    )
    counted = await client.post(
        "/v1/inventory/adjustments", json={"location_id": LOC, "sku": a, "on_hand": 1}, headers=OPERATOR
    )
    # then both are refused with a reason a person can act on, and stock is as it was
    assert (removed.status_code, counted.status_code) == (409, 409)
    assert "below the 3 unit(s) reserved" in removed.json()["detail"]
    level = repo.level(LOC, a)
    assert (level.on_hand, level.reserved) == (4, 3)


async def test_an_adjustment_answers_the_new_level_and_a_repeat_changes_nothing(
    client: httpx.AsyncClient, services: FakeServices
) -> None:
    # given a SKU never seen at the location
    a = sku()
    body = {"location_id": LOC, "sku": a, "delta": 7, "reason": "delivery PO-1", "adjustment_id": f"PO-1-{a}"}
    # when a delivery of 7 is posted, twice (the partner retried), and then a count of 5
    first = await client.post("/v1/inventory/adjustments", json=body, headers=PARTNER)
    again = await client.post("/v1/inventory/adjustments", json=body, headers=PARTNER)
    count = await client.post(
        "/v1/inventory/adjustments", json={"location_id": LOC, "sku": a, "on_hand": 5}, headers=OPERATOR
    )
    # then the SKU started at zero and holds 7, once; the count sets 5
    new_level = {"location_id": LOC, "sku": a, "on_hand": 7, "reserved": 0, "safety_stock": 0, "available": 7}
    assert (first.status_code, first.json()) == (200, new_level)
    assert (again.status_code, again.json()) == (200, new_level)
    assert count.json() == {**new_level, "on_hand": 5, "available": 5}
    # and waiting orders were told about the receipt once (not for the repeat, nor for the count down)
    assert [(lv.sku, lv.on_hand_delta) for lv in services.received] == [(a, 7)]
    # and the ledger names the adjustment and who made it
    movements = CheckedInventory(services.engine).movements(LOC, a)
    assert [(m.kind, m.on_hand_delta, m.reference) for m in movements] == [
        ("receipt", 7, f"PO-1-{a}"),
        ("adjustment", -2, None),
    ]
    assert movements[0].reason == "delivery PO-1 (by partner)"


async def test_availability_shows_in_stock_low_stock_and_out_of_stock(
    client: httpx.AsyncClient, services: FakeServices
) -> None:
    # given 9 units of a here and 2 of b, none of c
    a, b, c = sku(), sku(), sku()
    repo = InventoryRepository(services.engine)
    repo.set_on_hand(LOC, a, 9)
    repo.set_on_hand(LOC, b, 2)
    # when a storefront asks for all three from near the location
    answer = await client.get(
        "/v1/availability", params={"sku": [a, b, c], "latitude": 35.69, "longitude": 139.70}, headers=STOREFRONT
    )
    # then each SKU has its total and level, and this location its own with its distance
    assert answer.status_code == 200
    body = answer.json()
    assert body["low_stock_threshold"] == 5
    totals = {s["sku"]: (s["available"], s["level"]) for s in body["skus"]}
    assert totals == {a: (9, "in_stock"), b: (2, "low_stock"), c: (0, "out_of_stock")}
    here = next(loc for loc in body["skus"][1]["locations"] if loc["location_id"] == LOC)
    assert (here["available"], here["level"]) == (2, "low_stock")
    assert 5 < here["distance_km"] < 8
    distances = [loc["distance_km"] for loc in body["skus"][0]["locations"]]
    assert distances == sorted(distances)


async def test_availability_needs_a_sku_and_both_coordinates(client: httpx.AsyncClient) -> None:
    no_sku = await client.get("/v1/availability", headers=CUSTOMER)
    assert no_sku.status_code == 422
    half = await client.get("/v1/availability", params={"sku": "X", "latitude": 35.0}, headers=CUSTOMER)
    assert half.status_code == 422
    assert "both latitude and longitude" in half.json()["detail"]
    off_the_globe = await client.get(
        "/v1/availability", params={"sku": "X", "latitude": 95, "longitude": 0}, headers=CUSTOMER
    )
    assert off_the_globe.status_code == 422


async def test_locations_list_the_network_with_positions_capabilities_and_groups(
    client: httpx.AsyncClient, services: FakeServices
) -> None:
    # given the demo network
    seed_demo(services.engine)
    # when a customer lists the locations
    answer = await client.get("/v1/locations", headers=CUSTOMER)
    # then every location is there with what a storefront needs to show it
    assert answer.status_code == 200
    found = {loc["id"]: loc for loc in answer.json()}
    assert found["DS-ATELIER"]["kind"] == "dropship"
    assert "personalization" in found["DS-ATELIER"]["capabilities"]
    shibuya = found["ST-SHIBUYA"]
    assert (shibuya["latitude"], shibuya["longitude"]) == (35.6595, 139.7005)
    assert (shibuya["daily_capacity"], shibuya["cutoff"]) == (300, "15:00")
    assert {"NET-STORE", "NET-WEB"} <= set(shibuya["groups"])
    assert "store" not in found["DC-TOKYO"]["channels"]
    assert found[LOC]["groups"] == []


async def test_the_low_stock_threshold_comes_from_the_setting(
    client: httpx.AsyncClient, services: FakeServices, monkeypatch: pytest.MonkeyPatch
) -> None:
    # given OMS_LOW_STOCK_THRESHOLD=10 and 9 units
    monkeypatch.setenv("OMS_LOW_STOCK_THRESHOLD", "10")
    services.settings = Settings(database_url=None)
    a = sku()
    InventoryRepository(services.engine).set_on_hand(LOC, a, 9)
    # when a product page asks
    answer = await client.get("/v1/availability", params={"sku": a}, headers=STOREFRONT)
    # then 9 is low stock
    assert answer.json()["low_stock_threshold"] == 10
    assert answer.json()["skus"][0]["level"] == "low_stock"
    # and a negative threshold is refused at start-up
    monkeypatch.setenv("OMS_LOW_STOCK_THRESHOLD", "-1")
    with pytest.raises(ValueError, match="OMS_LOW_STOCK_THRESHOLD"):
        Settings(database_url=None)


async def test_availability_takes_at_most_100_skus_of_at_most_64_characters(client: httpx.AsyncClient) -> None:
    many = await client.get("/v1/availability", params={"sku": [f"S{n}" for n in range(101)]}, headers=STOREFRONT)
    longest = await client.get("/v1/availability", params={"sku": "S" * 64}, headers=STOREFRONT)
    too_long = await client.get("/v1/availability", params={"sku": "S" * 65}, headers=STOREFRONT)
    assert (many.status_code, longest.status_code, too_long.status_code) == (422, 200, 422)
