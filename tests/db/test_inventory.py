"""Reservations on real PostgreSQL: all or nothing, once per order, never beyond what is available."""

import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import Engine
from sqlalchemy.dialects.postgresql import insert

from domain.models import SkuQuantity
from store.tables import locations
from tests.db.inventory_checks import CheckedInventory

pytestmark = pytest.mark.db


def add_location(
    engine: Engine,
    location_id: str,
    *,
    kind: str = "warehouse",
    latitude: float = 35.0,
    longitude: float = 139.0,
    capabilities: tuple[str, ...] = ("ship",),
) -> None:
    """A fulfillment location for a test (left as it is when it exists)."""
    with engine.begin() as conn:
        conn.execute(
            insert(locations)
            .values(
                id=location_id,
                name=f"test {location_id}",
                kind=kind,
                latitude=latitude,
                longitude=longitude,
                capabilities=list(capabilities),
                daily_capacity=100,
            )
            .on_conflict_do_nothing()
        )


@pytest.fixture
def repo(engine: Engine) -> CheckedInventory:
    add_location(engine, "LOC-T")
    return CheckedInventory(engine)


def sku() -> str:
    return f"SKU-{uuid.uuid4().hex[:8]}"


def test_a_reservation_holds_stock_and_a_repeat_reserves_nothing_more(repo: CheckedInventory) -> None:
    # given 5 units
    a = sku()
    repo.set_on_hand("LOC-T", a, 5)
    # when an order reserves 2, and the same step is retried
    assert repo.reserve("O-1" + a, "LOC-T", [SkuQuantity(sku=a, quantity=2)])
    assert repo.reserve("O-1" + a, "LOC-T", [SkuQuantity(sku=a, quantity=2)])
    # then 2 are reserved, 3 available
    level = repo.level("LOC-T", a)
    assert (level.on_hand, level.reserved, level.available) == (5, 2, 3)


def test_an_order_reserves_all_its_lines_or_none(repo: CheckedInventory) -> None:
    # given one sku in stock and one short
    a, b = sku(), sku()
    repo.set_on_hand("LOC-T", a, 5)
    repo.set_on_hand("LOC-T", b, 1)
    # when an order needs 1 of a and 2 of b
    ok = repo.reserve("O-2" + a, "LOC-T", [SkuQuantity(sku=a, quantity=1), SkuQuantity(sku=b, quantity=2)])
    # then nothing is reserved at all
    assert not ok
    assert repo.level("LOC-T", a).reserved == 0
    assert repo.reservations_of("O-2" + a) == []


def test_safety_stock_is_not_sold(repo: CheckedInventory) -> None:
    a = sku()
    repo.set_on_hand("LOC-T", a, 5, safety_stock=4)
    assert not repo.reserve("O-3" + a, "LOC-T", [SkuQuantity(sku=a, quantity=2)])
    assert repo.reserve("O-4" + a, "LOC-T", [SkuQuantity(sku=a, quantity=1)])


def test_release_and_ship_are_safe_to_repeat(repo: CheckedInventory) -> None:
    # given two orders holding 2 units each of 10
    a = sku()
    repo.set_on_hand("LOC-T", a, 10)
    repo.reserve("R" + a, "LOC-T", [SkuQuantity(sku=a, quantity=2)])
    repo.reserve("S" + a, "LOC-T", [SkuQuantity(sku=a, quantity=2)])
    # when one is released twice and the other shipped twice
    assert repo.release("R" + a) == 2
    assert repo.release("R" + a) == 0
    assert repo.ship("S" + a, "LOC-T") == 2
    assert repo.ship("S" + a, "LOC-T") == 0
    # then 8 remain on hand, none reserved
    level = repo.level("LOC-T", a)
    assert (level.on_hand, level.reserved) == (8, 0)


def test_concurrent_orders_never_reserve_more_than_exists(repo: CheckedInventory) -> None:
    # given 10 units
    a = sku()
    repo.set_on_hand("LOC-T", a, 10)

    # when 30 orders of one unit reserve at once
    def attempt(n: int) -> bool:
        return repo.reserve(f"C{n}-{a}", "LOC-T", [SkuQuantity(sku=a, quantity=1)])

    with ThreadPoolExecutor(max_workers=15) as pool:
        results = list(pool.map(attempt, range(30)))

    # then exactly 10 succeed and the level agrees
    assert results.count(True) == 10
    assert repo.level("LOC-T", a).reserved == 10
    assert repo.level("LOC-T", a).available == 0
    # and so does the ledger: one reservation row per winning order
    assert repo.ledger_agrees("LOC-T", a)
    assert len([m for m in repo.movements("LOC-T", a) if m.kind == "reservation"]) == 10


def test_stock_for_reports_every_location_with_its_availability(repo: CheckedInventory) -> None:
    a = sku()
    repo.set_on_hand("LOC-T", a, 7)
    repo.reserve("V" + a, "LOC-T", [SkuQuantity(sku=a, quantity=3)])
    stock = {s.location_id: s for s in repo.stock_for([a])}
    assert stock["LOC-T"].available == {a: 4}
    assert "ship" in stock["LOC-T"].capabilities


def test_a_partial_release_gives_back_only_the_quantities_asked(repo: CheckedInventory) -> None:
    # given an order holding 3 of a and 1 of b
    a, b = sku(), sku()
    repo.set_on_hand("LOC-T", a, 5)
    repo.set_on_hand("LOC-T", b, 5)
    order = "P" + a
    repo.reserve(order, "LOC-T", [SkuQuantity(sku=a, quantity=3), SkuQuantity(sku=b, quantity=1)])
    # when 2 of a are released
    assert repo.release(order, lines=[SkuQuantity(sku=a, quantity=2)]) == 2
    # then 1 of a and 1 of b stay reserved, and shipping takes only those
    assert set(repo.reservations_of(order)) == {("LOC-T", a, 1, "reserved"), ("LOC-T", b, 1, "reserved")}
    assert repo.level("LOC-T", a).reserved == 1
    assert repo.ship(order, "LOC-T") == 2
    assert (repo.level("LOC-T", a).on_hand, repo.level("LOC-T", a).reserved) == (4, 0)


def test_a_line_released_earlier_is_reserved_again_for_real(repo: CheckedInventory) -> None:
    # given an order that reserved 2 of 3 units and released them (a failed hand-off, say)
    a = sku()
    repo.set_on_hand("LOC-T", a, 3)
    order = "RR" + a
    assert repo.reserve(order, "LOC-T", [SkuQuantity(sku=a, quantity=2)])
    assert repo.release(order) == 2
    # when it is allocated to the same location again
    assert repo.reserve(order, "LOC-T", [SkuQuantity(sku=a, quantity=3)])
    # then the stock is held again (not taken for granted from the old row), and a further repeat holds nothing more
    assert repo.reserve(order, "LOC-T", [SkuQuantity(sku=a, quantity=3)])
    assert repo.reservations_of(order) == [("LOC-T", a, 3, "reserved")]
    assert repo.level("LOC-T", a).reserved == 3
    assert repo.ledger_agrees("LOC-T", a)


def test_a_re_reservation_beyond_what_is_left_fails_and_keeps_the_line_released(repo: CheckedInventory) -> None:
    # given an order that released its 2 units, which another order then took
    a = sku()
    repo.set_on_hand("LOC-T", a, 2)
    assert repo.reserve("X1" + a, "LOC-T", [SkuQuantity(sku=a, quantity=2)])
    assert repo.release("X1" + a) == 2
    assert repo.reserve("X2" + a, "LOC-T", [SkuQuantity(sku=a, quantity=2)])
    # when the first order tries again
    assert not repo.reserve("X1" + a, "LOC-T", [SkuQuantity(sku=a, quantity=2)])
    # then it holds nothing and the other order keeps its units
    assert repo.reservations_of("X1" + a) == [("LOC-T", a, 2, "released")]
    assert repo.level("LOC-T", a).reserved == 2


def test_a_second_fulfillment_order_of_the_same_sku_at_the_same_location_reserves_and_ships_on_its_own(
    repo: CheckedInventory,
) -> None:
    # given an order whose first fulfillment order shipped 1 unit of 10 from LOC-T
    a = sku()
    order = "RS" + a
    repo.set_on_hand("LOC-T", a, 10)
    assert repo.reserve(order, "LOC-T", [SkuQuantity(sku=a, quantity=1)], fulfillment_order_id=f"{order}-F1")
    assert repo.ship(order, "LOC-T", fulfillment_order_id=f"{order}-F1") == 1
    # when a reship of the same sku is reserved there for a second and a third fulfillment order
    assert repo.reserve(order, "LOC-T", [SkuQuantity(sku=a, quantity=1)], fulfillment_order_id=f"{order}-F2")
    assert repo.reserve(order, "LOC-T", [SkuQuantity(sku=a, quantity=2)], fulfillment_order_id=f"{order}-F3")
    # then each holds its own units, and shipping one leaves the other reserved
    assert repo.level("LOC-T", a).reserved == 3
    assert repo.ship(order, "LOC-T", fulfillment_order_id=f"{order}-F2") == 1
    assert repo.ship(order, "LOC-T", fulfillment_order_id=f"{order}-F2") == 0
    level = repo.level("LOC-T", a)
    assert (level.on_hand, level.reserved) == (8, 2)
    # and releasing the third gives back only its own units
    assert repo.release(order, fulfillment_order_id=f"{order}-F3") == 2
    assert repo.level("LOC-T", a).reserved == 0
    assert sorted(r.status for r in repo.reservations_by_fulfillment_order(order)) == ["released", "shipped", "shipped"]
