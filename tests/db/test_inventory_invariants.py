"""Random sequences of inventory operations on real PostgreSQL keep every invariant, checked against a model."""

import uuid
from datetime import UTC, datetime
from typing import ClassVar

import pytest
from hypothesis import HealthCheck, event, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)
from sqlalchemy import Engine, func, select, text

from domain.models import SkuQuantity
from store.inventory import AdjustedLevel, StockWouldGoNegative
from store.tables import inventory_levels, inventory_movements, reservations
from tests.db.inventory_checks import CheckedInventory
from tests.db.test_inventory import add_location

pytestmark = pytest.mark.db

LOCATIONS = ("HYP-A", "HYP-B")
PAST = datetime(2000, 1, 1, tzinfo=UTC)
NOW = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)
quantities = st.integers(min_value=1, max_value=4)


class InventoryMachine(RuleBasedStateMachine):
    """Random reserve / release (full, partial, keyed) / ship / adjust / count / restock / hold / expire
    sequences over 2 locations x 2 SKUs, checked against a model after every step.

    Invariants: the level equals the model; 0 <= reserved <= on_hand; on_hand - reserved - safety_stock goes
    negative only by an explicit adjustment (a count into the safety stock), never by a reservation or
    release; each order's reserved rows are what the model says it holds and they sum to the level's
    reserved; the ledger's sums equal the level.
    """

    engine: ClassVar[Engine]  # bound per test run, see below

    def __init__(self) -> None:
        super().__init__()
        self.repo = CheckedInventory(self.engine)
        run = uuid.uuid4().hex[:8]
        self.skus = (f"HYP-{run}-X", f"HYP-{run}-Y")
        self.orders = tuple(f"HYP-{run}-O{n}" for n in range(2))
        self.keys_pool = tuple(f"HYP-{run}-K{n}" for n in range(2))
        self.on_hand: dict[tuple[str, str], int] = {}
        self.reserved: dict[tuple[str, str], int] = {}
        self.safety: dict[tuple[str, str], int] = {}
        # (order, location, sku) -> (status, quantity, lapsing)
        self.rows: dict[tuple[str, str, str], tuple[str, int, bool]] = {}
        self.used_keys: set[str] = set()
        self.last_keyed: tuple[str, list[SkuQuantity] | None, str] | None = None
        self.adjusting = False
        self.raw_before: dict[tuple[str, str], int] = {}

    def _raw(self, key: tuple[str, str]) -> int:
        return self.on_hand[key] - self.reserved[key] - self.safety[key]

    def _before(self, adjusting: bool) -> None:
        self.adjusting = adjusting
        self.raw_before = {key: self._raw(key) for key in self.on_hand}

    @initialize(stock=st.lists(st.integers(min_value=2, max_value=10), min_size=4, max_size=4))
    def start(self, stock: list[int]) -> None:
        for i, key in enumerate((loc, s) for loc in LOCATIONS for s in self.skus):
            self.repo.set_on_hand(key[0], key[1], stock[i])
            self.on_hand[key], self.reserved[key], self.safety[key] = stock[i], 0, 0
        self._before(adjusting=True)

    @rule(
        order=st.integers(0, 1),
        location=st.sampled_from(LOCATIONS),
        wanted=st.dictionaries(st.integers(0, 1), quantities, min_size=1, max_size=2),
        hold=st.booleans(),
    )
    def reserve(self, order: int, location: str, wanted: dict[int, int], hold: bool) -> None:
        self._before(adjusting=False)
        order_id = self.orders[order]
        lines = [SkuQuantity(sku=self.skus[i], quantity=q) for i, q in wanted.items()]
        # the model: a line still held (or shipped) is a repeat; any other line needs its units available
        takes = []
        ok = True
        for line in sorted(lines, key=lambda q: q.sku):
            status = self.rows.get((order_id, location, line.sku), ("absent", 0, False))[0]
            if status in ("reserved", "shipped"):
                continue
            if self._raw((location, line.sku)) < line.quantity:
                ok = False
            takes.append(line)
        event(f"reserve {'succeeded' if ok else 'refused'}")
        assert self.repo.reserve(order_id, location, lines, expires_at=PAST if hold else None) is ok
        if ok:
            for line in takes:
                self.rows[(order_id, location, line.sku)] = ("reserved", line.quantity, hold)
                self.reserved[(location, line.sku)] += line.quantity

    def _holding(self) -> list[tuple[str, str]]:
        """(order, location) pairs holding stock; every pair when none does (then nothing happens)."""
        held = {(o, loc) for (o, loc, _), (status, _, _) in self.rows.items() if status == "reserved"}
        return sorted(held) or [(o, loc) for o in self.orders for loc in LOCATIONS]

    @rule(
        data=st.data(),
        partial=st.one_of(st.none(), st.dictionaries(st.integers(0, 1), quantities, min_size=1, max_size=2)),
        key=st.one_of(st.none(), st.integers(0, 1)),
    )
    def release(self, data: st.DataObject, partial: dict[int, int] | None, key: int | None) -> None:
        self._before(adjusting=False)
        order_id, _ = data.draw(st.sampled_from(self._holding()), label="order")
        lines = None if partial is None else [SkuQuantity(sku=self.skus[i], quantity=q) for i, q in partial.items()]
        key_text = None if key is None else f"{self.keys_pool[key]}:{order_id}"
        expected = 0
        if key_text not in self.used_keys:
            wanted = None if partial is None else {self.skus[i]: q for i, q in partial.items()}
            for row_key in sorted(k for k in self.rows if k[0] == order_id):
                status, quantity, lapsing = self.rows[row_key]
                if status != "reserved":
                    continue
                take = quantity if wanted is None else min(quantity, wanted.get(row_key[2], 0))
                if take <= 0:
                    continue
                if wanted is not None:
                    wanted[row_key[2]] -= take
                remaining = quantity - take
                self.rows[row_key] = ("reserved", remaining, lapsing) if remaining else ("released", quantity, lapsing)
                self.reserved[(row_key[1], row_key[2])] -= take
                expected += take
        event("keyed release repeated" if key_text in self.used_keys else f"release of {min(expected, 1)}+ units")
        assert self.repo.release(order_id, lines, key=key_text) == expected
        if key_text is not None and expected:
            self.used_keys.add(key_text)
            self.last_keyed = (order_id, lines, key_text)

    @precondition(lambda self: self.last_keyed is not None)
    @rule()
    def retry_keyed_release(self) -> None:
        """Temporal retries the last keyed (partial) release: it releases nothing more."""
        self._before(adjusting=False)
        assert self.last_keyed is not None
        order_id, lines, key_text = self.last_keyed
        event("keyed release retried")
        assert self.repo.release(order_id, lines, key=key_text) == 0

    @rule(data=st.data())
    def ship(self, data: st.DataObject) -> None:
        self._before(adjusting=False)
        event("ship")
        order_id, location = data.draw(st.sampled_from(self._holding()), label="order and location")
        expected = 0
        for row_key, (status, quantity, _) in list(self.rows.items()):
            if row_key[0] == order_id and row_key[1] == location and status == "reserved":
                self.rows[row_key] = ("shipped", quantity, False)
                self.on_hand[(location, row_key[2])] -= quantity
                self.reserved[(location, row_key[2])] -= quantity
                expected += quantity
        assert self.repo.ship(order_id, location) == expected

    @rule(
        location=st.sampled_from(LOCATIONS),
        sku=st.integers(0, 1),
        how=st.sampled_from(("delta", "count", "set_on_hand", "restock")),
        units=st.integers(-6, 10),
        safety=st.integers(0, 3),
    )
    def adjust(self, location: str, sku: int, how: str, units: int, safety: int) -> None:
        """A receipt or removal (delta), a count (on_hand), a count with safety stock, or a returned unit."""
        key = (location, self.skus[sku])
        event(f"adjust by {how}")
        if how == "restock":
            self._before(adjusting=False)
            quantity = abs(units) or 1
            self.repo.restock(*key, quantity, "RET", key=f"{uuid.uuid4().hex}:restock")
            self.on_hand[key] += quantity
            return
        self._before(adjusting=True)
        count = abs(units)
        new = self.on_hand[key] + units if how == "delta" else count
        if new < self.reserved[key]:
            event("adjustment refused")
            with pytest.raises(StockWouldGoNegative):
                if how == "set_on_hand":
                    self.repo.set_on_hand(*key, count, safety_stock=safety)
                else:
                    self._adjust(key, how, units)
            return
        if how == "set_on_hand":
            self.repo.set_on_hand(*key, count, safety_stock=safety)
            self.safety[key] = safety
        else:
            level = self._adjust(key, how, units)
            assert level.on_hand_delta == new - self.on_hand[key]
        self.on_hand[key] = new

    def _adjust(self, key: tuple[str, str], how: str, units: int) -> AdjustedLevel:
        if how == "delta":
            return self.repo.adjust(*key, delta=units, reason="received or removed", reference=None)
        return self.repo.adjust(*key, on_hand=abs(units), reason="counted", reference=None)

    @rule(order=st.integers(0, 1), expire=st.booleans())
    def holds(self, order: int, expire: bool) -> None:
        """Confirm an order's holds, or run the expiry of lapsed holds."""
        self._before(adjusting=False)
        if not expire:
            order_id = self.orders[order]
            held = 0
            for row_key, (status, quantity, _) in list(self.rows.items()):
                if row_key[0] == order_id and status == "reserved":
                    self.rows[row_key] = (status, quantity, False)
                    held += 1
            assert self.repo.confirm(order_id) == held
            return
        expected = 0
        for row_key, (status, quantity, lapsing) in list(self.rows.items()):
            if status == "reserved" and lapsing:
                self.rows[row_key] = ("expired", quantity, False)
                self.reserved[(row_key[1], row_key[2])] -= quantity
                expected += quantity
        event(f"expiry of {min(expected, 1)}+ units")
        # other tests' lapsed holds may expire too, never fewer than ours
        assert self.repo.expire_reservations(NOW) >= expected

    @invariant()
    def every_invariant_holds(self) -> None:
        # one snapshot of this run's levels, reservation rows and ledger sums (three queries per step)
        lv, r, m = inventory_levels.c, reservations.c, inventory_movements.c
        with self.engine.connect() as conn, conn.begin():
            conn.execute(text("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ"))
            levels = {
                (row[0], row[1]): (row[2], row[3], row[4])
                for row in conn.execute(
                    select(lv.location_id, lv.sku, lv.on_hand, lv.reserved, lv.safety_stock).where(
                        lv.sku.in_(self.skus)
                    )
                )
            }
            rows = conn.execute(
                select(r.order_id, r.location_id, r.sku, r.quantity, r.status).where(r.order_id.in_(self.orders))
            ).all()
            ledger = {
                (row[0], row[1]): (int(row[2]), int(row[3]))
                for row in conn.execute(
                    select(m.location_id, m.sku, func.sum(m.on_hand_delta), func.sum(m.reserved_delta))
                    .where(m.sku.in_(self.skus))
                    .group_by(m.location_id, m.sku)
                )
            }
        per_level: dict[tuple[str, str], int] = dict.fromkeys(self.on_hand, 0)
        for _, loc, s, quantity, status in rows:
            if status == "reserved":
                per_level[(loc, s)] += quantity
        for key in self.on_hand:
            on_hand, reserved, safety = levels[key]
            # the level is the model's, within bounds
            assert (on_hand, reserved, safety) == (self.on_hand[key], self.reserved[key], self.safety[key])
            assert 0 <= reserved <= on_hand
            raw = on_hand - reserved - safety
            if raw < 0:
                event("available below the safety stock")
            if raw < 0 and not self.adjusting:
                # below the safety stock only by an explicit count, never by reserving, releasing or shipping
                assert raw >= self.raw_before[key]
            # the orders' reserved rows sum to the level's reserved
            assert per_level[key] == reserved
            # the ledger sums to the level
            assert ledger.get(key, (0, 0)) == (on_hand, reserved)
        # each order's rows are what the model says it holds or held
        assert sorted((o, loc, s, q, st_) for o, loc, s, q, st_ in rows) == sorted(
            (o, loc, s, q, status) for (o, loc, s), (status, q, _) in self.rows.items()
        )
        # and the ledger check agrees, for one key a step
        key = sorted(self.on_hand)[len(self.rows) % len(self.on_hand)]
        assert self.repo.ledger_agrees(*key)


def test_random_sequences_of_inventory_operations_keep_every_invariant(engine: Engine) -> None:
    for location_id in LOCATIONS:
        add_location(engine, location_id)

    class OnTheTestDatabase(InventoryMachine):
        pass

    OnTheTestDatabase.engine = engine
    run_state_machine_as_test(
        OnTheTestDatabase,
        settings=settings(
            max_examples=30,
            stateful_step_count=25,
            deadline=None,
            suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
        ),
    )
