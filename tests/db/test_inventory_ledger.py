"""The inventory ledger on real PostgreSQL: every movement is written down, keyed calls happen once,
stock never goes negative and holds lapse (random sequences: test_inventory_invariants.py)."""

import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine, update

from activities.contracts import NON_RETRYABLE_ERRORS, RestockRequest
from activities.returns import ReturnActivities
from domain.models import SkuQuantity
from store.inventory import InventoryRepository, StockWouldGoNegative, UnknownLocation, stock_level
from store.seed import DEMO_LOCATIONS, DEMO_STOCK, seed_demo
from store.tables import inventory_levels
from tests.db.inventory_checks import CheckedInventory
from tests.db.test_inventory import add_location

pytestmark = pytest.mark.db

LOC = "LED-1"
NOW = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
def repo(engine: Engine) -> CheckedInventory:
    add_location(engine, LOC)
    return CheckedInventory(engine)


def sku() -> str:
    return f"SKU-{uuid.uuid4().hex[:8]}"


def kinds(repo: CheckedInventory, sku: str, location_id: str = LOC) -> list[tuple[str, int, int]]:
    return [(m.kind, m.on_hand_delta, m.reserved_delta) for m in repo.movements(location_id, sku)]


def test_every_movement_writes_a_ledger_row_and_the_ledger_agrees_with_the_level(repo: CheckedInventory) -> None:
    # given a SKU that starts with 10 units (the seed's way) and is counted at 12
    a = sku()
    repo.add_if_missing(LOC, a, 10)
    repo.set_on_hand(LOC, a, 12)
    assert repo.ledger_agrees(LOC, a)
    # when an order reserves 5, gives 1 back, ships the other 4, stock is received, counted, restocked and held
    assert repo.reserve("L1" + a, LOC, [SkuQuantity(sku=a, quantity=5)])
    assert repo.release("L1" + a, [SkuQuantity(sku=a, quantity=1)]) == 1
    assert repo.ship("L1" + a, LOC, reference="FO-L1") == 4
    assert repo.adjust(LOC, a, delta=6, reason="delivery", reference="PO-7").on_hand == 14
    assert repo.adjust(LOC, a, on_hand=13, reason="cycle count", reference="CC-1").on_hand == 13
    assert repo.restock(LOC, a, 2, "RMA-1", key="return:RMA-1").on_hand == 15
    assert repo.reserve("L2" + a, LOC, [SkuQuantity(sku=a, quantity=3)], expires_at=NOW - timedelta(minutes=1))
    assert repo.expire_reservations(NOW) >= 3
    # then each movement is one ledger row with its deltas, in order
    assert kinds(repo, a) == [
        ("receipt", 10, 0),
        ("adjustment", 2, 0),
        ("reservation", 0, 5),
        ("release", 0, -1),
        ("shipment", -4, -4),
        ("receipt", 6, 0),
        ("adjustment", -1, 0),
        ("return_restock", 2, 0),
        ("reservation", 0, 3),
        ("expiry", 0, -3),
    ]
    # and references name what caused them
    references = [m.reference for m in repo.movements(LOC, a)]
    assert references[2:6] == ["L1" + a, "L1" + a, "FO-L1", "PO-7"]
    assert references[7] == "RMA-1"
    # and the ledger sums to the level
    level = repo.level(LOC, a)
    assert (level.on_hand, level.reserved) == (15, 0)
    assert repo.ledger_totals(LOC, a) == (15, 0)
    assert repo.ledger_agrees(LOC, a)
    assert (LOC, a) not in repo.ledger_disagreements()


def test_ledger_agrees_notices_a_level_changed_behind_the_ledgers_back(repo: CheckedInventory, engine: Engine) -> None:
    # given a SKU whose level is changed without a movement
    a = sku()
    repo.set_on_hand(LOC, a, 4)
    with engine.begin() as conn:
        conn.execute(update(inventory_levels).where(inventory_levels.c.sku == a).values(on_hand=9))
    # then the consistency check says so
    assert not repo.ledger_agrees(LOC, a)
    assert (LOC, a) in repo.ledger_disagreements()


def test_a_partial_release_retried_with_the_same_key_releases_once(repo: CheckedInventory) -> None:
    # given an order holding 5 of a
    a = sku()
    repo.set_on_hand(LOC, a, 5)
    order = "PK" + a
    assert repo.reserve(order, LOC, [SkuQuantity(sku=a, quantity=5)])
    # when a cancel of 2 units runs twice with the same key (a retried activity)
    assert repo.release(order, [SkuQuantity(sku=a, quantity=2)], key=f"order-{order}:cancel:1") == 2
    assert repo.release(order, [SkuQuantity(sku=a, quantity=2)], key=f"order-{order}:cancel:1") == 0
    # then only 2 were released
    assert repo.level(LOC, a).reserved == 3
    assert repo.reservations_of(order) == [(LOC, a, 3, "reserved")]
    # and a second cancel (another key) releases again
    assert repo.release(order, [SkuQuantity(sku=a, quantity=2)], key=f"order-{order}:cancel:2") == 2
    assert repo.level(LOC, a).reserved == 1
    assert repo.ledger_agrees(LOC, a)


def test_concurrent_releases_with_one_key_release_once(repo: CheckedInventory) -> None:
    # given an order holding 10 units
    a = sku()
    repo.set_on_hand(LOC, a, 10)
    order = "CK" + a
    assert repo.reserve(order, LOC, [SkuQuantity(sku=a, quantity=10)])

    # when 8 attempts of the same keyed partial release race
    def attempt(_: int) -> int:
        return repo.release(order, [SkuQuantity(sku=a, quantity=3)], key=f"{order}:cancel")

    with ThreadPoolExecutor(max_workers=8) as pool:
        released = list(pool.map(attempt, range(8)))

    # then exactly one released its 3 units
    assert sorted(released) == [0] * 7 + [3]
    assert repo.level(LOC, a).reserved == 7
    assert repo.ledger_agrees(LOC, a)


def test_a_keyed_release_over_several_lines_writes_one_row_per_line(repo: CheckedInventory) -> None:
    # given an order holding two SKUs
    a, b = sku(), sku()
    repo.set_on_hand(LOC, a, 5)
    repo.set_on_hand(LOC, b, 5)
    order = "ML" + a
    assert repo.reserve(order, LOC, [SkuQuantity(sku=a, quantity=2), SkuQuantity(sku=b, quantity=2)])
    # when everything is released under one key, twice
    assert repo.release(order, key=f"{order}:release") == 4
    assert repo.release(order, key=f"{order}:release") == 0
    # then each line has its release row, with distinct keys derived from the caller's
    keys = sorted(m.movement_key or "" for m in repo.movements(reference=order) if m.kind == "release")
    assert keys == [f"{order}:release", f"{order}:release/2"]
    assert repo.ledger_agrees(LOC, a) and repo.ledger_agrees(LOC, b)


def test_an_adjustment_never_takes_stock_below_zero_or_below_what_is_reserved(repo: CheckedInventory) -> None:
    # given 5 on hand, 3 of them reserved
    a = sku()
    repo.set_on_hand(LOC, a, 5)
    assert repo.reserve("NG" + a, LOC, [SkuQuantity(sku=a, quantity=3)])
    rows_before = len(repo.movements(LOC, a))
    # when stock would go below what is reserved, or below zero, by a delta or by a count
    with pytest.raises(StockWouldGoNegative, match="below the 3 unit"):
        repo.adjust(LOC, a, delta=-3, reason="damaged", reference=None)
    with pytest.raises(StockWouldGoNegative, match="below zero"):
        repo.adjust(LOC, a, delta=-6, reason="damaged", reference=None)
    with pytest.raises(StockWouldGoNegative):
        repo.adjust(LOC, a, on_hand=2, reason="count", reference=None)
    with pytest.raises(StockWouldGoNegative):
        repo.set_on_hand(LOC, a, 1)
    # then nothing changed and nothing was written down
    level = repo.level(LOC, a)
    assert (level.on_hand, level.reserved) == (5, 3)
    assert len(repo.movements(LOC, a)) == rows_before
    # while taking exactly the unreserved units is fine
    assert repo.adjust(LOC, a, delta=-2, reason="damaged", reference=None).available == 0


def test_a_new_sku_starts_at_zero_and_an_unknown_location_is_refused(repo: CheckedInventory) -> None:
    # given a SKU never seen at the location
    a = sku()
    # when stock is received, and a count arrives for a location that does not exist
    level = repo.adjust(LOC, a, delta=4, reason="first delivery", reference="PO-1")
    with pytest.raises(UnknownLocation):
        repo.adjust("NOWHERE", a, delta=4, reason="first delivery", reference="PO-1")
    # then the SKU starts from zero, and the receipt is flagged so waiting orders can proceed
    assert (level.on_hand, level.reserved, level.available, level.on_hand_delta) == (4, 0, 4, 4)
    assert level.received and not level.repeated
    assert kinds(repo, a) == [("receipt", 4, 0)]
    # and a negative first adjustment is refused
    with pytest.raises(StockWouldGoNegative):
        repo.adjust(LOC, sku(), delta=-1, reason="shrink", reference=None)


def test_an_adjustment_with_a_key_used_before_changes_nothing(repo: CheckedInventory) -> None:
    # given a receipt of 5 keyed by its delivery
    a = sku()
    first = repo.adjust(LOC, a, delta=5, reason="delivery", reference="PO-9", key="po:PO-9")
    # when the same delivery is posted again, and a count with a key is repeated after stock moved
    again = repo.adjust(LOC, a, delta=5, reason="delivery", reference="PO-9", key="po:PO-9")
    counted = repo.adjust(LOC, a, on_hand=5, reason="count", reference="CC-9", key="count:CC-9")
    repo.adjust(LOC, a, delta=-1, reason="damaged", reference=None)
    recount = repo.adjust(LOC, a, on_hand=5, reason="count", reference="CC-9", key="count:CC-9")
    # then each key changed stock once: 5 units, less the damaged one
    assert first.on_hand_delta == 5 and not first.repeated
    assert again.repeated and again.on_hand_delta == 0 and again.on_hand == 5
    assert counted.on_hand_delta == 0 and not counted.repeated
    assert recount.repeated and recount.on_hand == 4
    assert repo.level(LOC, a).on_hand == 4
    # and the count that changed nothing still left its (zero) row, which is what makes its key stick
    assert kinds(repo, a) == [("receipt", 5, 0), ("adjustment", 0, 0), ("adjustment", -1, 0)]
    assert repo.ledger_agrees(LOC, a)


def test_a_restock_of_a_return_is_keyed_by_the_return(repo: CheckedInventory) -> None:
    # given a SKU with 1 unit
    a = sku()
    repo.set_on_hand(LOC, a, 1)
    # when a resellable return of 2 is restocked, and the webhook repeats
    repo.restock(LOC, a, 2, "RET-1", key="RET-1:restock")
    repeated = repo.restock(LOC, a, 2, "RET-1", key="RET-1:restock")
    # then 2 units came back once
    assert repeated.repeated
    assert repo.level(LOC, a).on_hand == 3
    assert [m.kind for m in repo.movements(LOC, a)] == ["adjustment", "return_restock"]
    with pytest.raises(ValueError, match="at least one"):
        repo.restock(LOC, a, 0, "RET-1")


def test_a_hold_lapses_unless_confirmed_and_lapsed_stock_can_be_sold_again(repo: CheckedInventory) -> None:
    # given 6 units and three held orders: one lapsing, one lapsing but confirmed, one not due yet
    a = sku()
    repo.set_on_hand(LOC, a, 6)
    lapsing, confirmed, later = "H1" + a, "H2" + a, "H3" + a
    assert repo.reserve(lapsing, LOC, [SkuQuantity(sku=a, quantity=2)], expires_at=NOW - timedelta(seconds=1))
    assert repo.reserve(confirmed, LOC, [SkuQuantity(sku=a, quantity=2)], expires_at=NOW - timedelta(seconds=1))
    assert repo.reserve(later, LOC, [SkuQuantity(sku=a, quantity=2)], expires_at=NOW + timedelta(hours=1))
    assert repo.confirm(confirmed) == 1
    # when the expiry runs at NOW
    released = repo.expire_reservations(NOW)
    # then only the lapsed hold is released, with an expiry row in the ledger
    assert released >= 2
    assert repo.reservations_of(lapsing) == [(LOC, a, 2, "expired")]
    assert repo.reservations_of(confirmed) == [(LOC, a, 2, "reserved")]
    assert repo.reservations_of(later) == [(LOC, a, 2, "reserved")]
    assert repo.level(LOC, a).reserved == 4
    assert [m.kind for m in repo.movements(reference=lapsing)] == ["reservation", "expiry"]
    assert repo.ledger_agrees(LOC, a)
    # and confirming the lapsed order finds nothing held; running the expiry again releases nothing of it
    assert repo.confirm(lapsing) == 0
    repo.expire_reservations(NOW)
    assert repo.level(LOC, a).reserved == 4
    # and the order can reserve again once it comes back (its old row is taken again, for real)
    assert repo.reserve(lapsing, LOC, [SkuQuantity(sku=a, quantity=2)])
    assert repo.level(LOC, a).reserved == 6


def test_availability_shows_levels_per_location_and_in_total_nearest_first(
    repo: CheckedInventory, engine: Engine
) -> None:
    # given two locations: one near Tokyo station with 2 units, one in Osaka with 10 (3 reserved, 1 safety)
    add_location(engine, "AV-TOKYO", latitude=35.68, longitude=139.77)
    add_location(engine, "AV-OSAKA", latitude=34.69, longitude=135.50)
    a, none = sku(), sku()
    repo.set_on_hand("AV-TOKYO", a, 2)
    repo.set_on_hand("AV-OSAKA", a, 10, safety_stock=1)
    assert repo.reserve("AV" + a, "AV-OSAKA", [SkuQuantity(sku=a, quantity=3)])
    # when a product page asks from near Osaka
    answer = repo.availability([a, none, a], latitude=34.70, longitude=135.49, low_stock_threshold=5)
    # then each SKU appears once, with its total and level, and each location its own
    assert [s.sku for s in answer.skus] == [a, none]
    found, missing = answer.skus
    assert (found.available, found.level) == (8, "in_stock")
    by_id = {loc.location_id: loc for loc in found.locations}
    assert (by_id["AV-OSAKA"].available, by_id["AV-OSAKA"].level) == (6, "in_stock")
    assert (by_id["AV-TOKYO"].available, by_id["AV-TOKYO"].level) == (2, "low_stock")
    assert (by_id[LOC].available, by_id[LOC].level) == (0, "out_of_stock")
    # and the locations come nearest first, with distances in kilometres
    distances = [loc.distance_km or 0.0 for loc in found.locations]
    assert distances == sorted(distances)
    assert (by_id["AV-OSAKA"].distance_km or 0.0) < 5 < 390 < (by_id["AV-TOKYO"].distance_km or 0.0) < 420
    # and a SKU nobody stocks is out of stock everywhere
    assert (missing.available, missing.level) == (0, "out_of_stock")
    assert {loc.level for loc in missing.locations} == {"out_of_stock"}
    # and a higher threshold turns the total low
    assert repo.availability([a], low_stock_threshold=9).skus[0].level == "low_stock"
    assert repo.availability([a]).skus[0].locations[0].distance_km is None


def test_stock_levels_follow_the_threshold() -> None:
    assert [stock_level(n, 5) for n in (-1, 0, 1, 4, 5, 50)] == [
        "out_of_stock",
        "out_of_stock",
        "low_stock",
        "low_stock",
        "in_stock",
        "in_stock",
    ]
    assert stock_level(1, 0) == "in_stock"


def test_the_seed_is_idempotent_and_groups_locations_by_channel(engine: Engine) -> None:
    # given the demo seed run twice (it runs at every start)
    seed_demo(engine)
    seed_demo(engine)
    repo = CheckedInventory(engine)
    # then online channels see the whole demo network, the store channel only the stores
    demo = {loc[0] for loc in DEMO_LOCATIONS}
    stores = {loc[0] for loc in DEMO_LOCATIONS if loc[2] == "store"}
    for channel in ("web", "app", "agent", "b2b"):
        assert set(repo.locations_for_channel(channel)) == demo
    assert set(repo.locations_for_channel("store")) == stores == {"ST-SHIBUYA", "ST-UMEDA", "ST-SAPPORO"}
    store_stock = {s.location_id for s in repo.stock_for(["TEA-MATCHA-100"], channel="store")}
    assert store_stock == stores
    # and each seeded level was received once, so the ledger agrees
    for loc_id, stock in DEMO_STOCK.items():
        for demo_sku, qty in stock.items():
            assert repo.ledger_agrees(loc_id, demo_sku)
            receipts = [
                m.on_hand_delta
                for m in repo.movements(loc_id, demo_sku)
                if m.kind == "receipt" and m.reason == "initial stock"
            ]
            assert receipts == [qty]
    # and the locations list their groups
    listed = {loc.id: loc for loc in repo.locations()}
    assert "NET-STORE" in listed["ST-SHIBUYA"].groups and "NET-WEB" in listed["ST-SHIBUYA"].groups
    assert "NET-STORE" not in listed["DC-TOKYO"].groups
    assert listed["DC-TOKYO"].channels == ["agent", "app", "b2b", "web"]


def test_committed_units_count_reservations_less_releases_since_the_day_began(engine: Engine) -> None:
    # given a location of its own with stock, and the start of the day
    loc, a = f"CAP-{uuid.uuid4().hex[:6]}", sku()
    add_location(engine, loc)
    repo = InventoryRepository(engine)
    repo.set_on_hand(loc, a, 10)
    day_start = datetime.now(UTC) - timedelta(seconds=1)
    # when two orders reserve 3 and 2 units and the first gives one back
    repo.reserve("CAP-1" + a, loc, [SkuQuantity(sku=a, quantity=3)])
    repo.reserve("CAP-2" + a, loc, [SkuQuantity(sku=a, quantity=2)])
    repo.release("CAP-1" + a, [SkuQuantity(sku=a, quantity=1)], key="cap-test" + a)
    # then the location has taken on 4 units today, and nothing counts from before the day began
    assert repo.committed_since(day_start)[loc] == 4
    assert repo.committed_since(datetime.now(UTC) + timedelta(seconds=5)).get(loc, 0) == 0


def test_a_restock_at_a_store_that_does_not_exist_is_refused_with_an_error_no_retry_mends(
    repo: CheckedInventory,
) -> None:
    # given an in-store return dropped off at a location the network does not have
    restock = ReturnActivities(repo).restock
    request = RestockRequest(
        return_id="W-1-R1", location_id="STORE-NOWHERE", lines=[SkuQuantity(sku=sku(), quantity=1)]
    )
    # when its restock step runs
    with pytest.raises(UnknownLocation) as refused:
        restock(request)
    # then it fails with an error the order's steps never retry (it puts the order in attention instead)
    assert type(refused.value).__name__ in NON_RETRYABLE_ERRORS
