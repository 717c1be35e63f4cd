"""Which locations fulfil an order: the most units, then the fewest fulfillment orders (FOs), then the shortest
total distance, then location ids. Works on `Supply`, whose locations are numbered nearest first.

1. The target: a ceiling on what the whole network can fill (per SKU, what is asked against all stock that may
   serve it; per line when lines of one SKU require different things; what each location fills alone). A set
   that fills the target fills the most any set can.
2. The fewest FOs that fill the target, then the nearest such set, exactly: for k = 1, 2, ... up to the FO limit,
   the nearest k locations that fill it. Such a set holds stock for every line that any location holds stock
   for: were a line short while a location outside the set held some, the whole network would fill more than
   the set, so more than the target. The search therefore branches on the holders of the line that the fewest
   remaining locations hold, nearest first (holders per line are bitmasks of locations, so "who can still
   complete this set" is a few integer ANDs); a holder once tried is banned from its later siblings, so each set
   is met once. A branch ends once even its nearest completion is farther than the best set found, and a size is
   skipped outright when the k largest stocks per SKU, or the k fullest locations, fall short of the target.
3. When no set within the limit fills the target (more is asked than that many locations hold, or capacity
   binds): the most units first. Every set when there are at most EXHAUSTIVE_SETS of them; otherwise the best
   single location, the best pair (branch and bound, fullest locations first, then nearest first once a pair
   fills the most any pair can), and a greedy that adds the location filling the most units per km (each extra
   FO also costs `split_penalty_km`), run from nothing and from the best pair. The best of these wins.

Bounds, and why the plan keeps its quality: step 2 stops after NODE_BUDGET locations tried, the pair search after
PAIR_BUDGET pairs, and either after FLOW_BUDGET sets that need a max flow. On 200 locations with stock everywhere
or sparse (starter/bench/routing.py) step 2 tries under a hundred, so the plan is exactly the fewest FOs, then the
shortest distance; the same holds whenever the order fits in the FO limit and no budget is reached, which the
property tests check against brute force. Reaching a budget takes hundreds of locations that each hold most lines
yet combine badly: it keeps such an order to tens of milliseconds, and whatever step 2 found still competes with
step 3, so the plan is never worse than the best single location, the greedy, or the best pair looked at.
"""

import math
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cached_property
from itertools import accumulate, combinations

from domain.routing_flow import Supply

EXHAUSTIVE_SETS = 300
NODE_BUDGET = 2_000
PAIR_BUDGET = 8_000
FLOW_BUDGET = 100
_EPS = 1e-9  # totals of float distances: a set loses on distance only by more than rounding


@dataclass(frozen=True)
class Choice:
    locations: tuple[int, ...]  # ascending, so nearest first
    fill: int
    distance: float
    ids: tuple[str, ...]  # sorted location ids, the last tie-break

    @property
    def rank(self) -> tuple[int, int, float, tuple[str, ...]]:
        """Smaller is better: most units, then fewest FOs, then shortest distance, then location ids."""
        return (-self.fill, len(self.locations), self.distance, self.ids)


@dataclass(frozen=True)
class _Space:
    supply: Supply
    distance: list[float]  # per location, ascending
    ids: list[str]  # per location

    def choice(self, chosen: Iterable[int], fill: int | None = None) -> Choice:
        locations = tuple(sorted(chosen))
        return Choice(
            locations,
            self.supply.fill(locations) if fill is None else fill,
            math.fsum(self.distance[c] for c in locations),
            tuple(sorted(self.ids[c] for c in locations)),
        )

    def ceiling(self, size: int) -> int:
        """The most any `size` locations could fill, by their biggest stocks per SKU and what they fill alone."""
        stock = sum(
            min(asked, sum(units[:size])) for asked, units in zip(self.supply.demand, self._stocks, strict=True)
        )
        return min(stock, sum(self._fullest[:size]))

    @cached_property
    def _stocks(self) -> list[list[int]]:
        """Per SKU: units per location holding it, most first."""
        stocks: list[list[int]] = [[] for _ in self.supply.demand]
        for stock in self.supply.stock:
            for sku, units in stock.items():
                stocks[sku].append(units)
        for held in stocks:
            held.sort(reverse=True)
        return stocks

    @cached_property
    def _fullest(self) -> list[int]:
        return sorted(self.supply.alone, reverse=True)


def choose(
    supply: Supply, distance: list[float], ids: list[str], *, max_fulfillment_orders: int, split_penalty_km: float
) -> list[int]:
    """The locations to use, nearest first; see the module docstring."""
    space = _Space(supply, distance, ids)
    target = _target(supply)
    if target == 0:
        return []
    reach = _fewest_reaching(space, target, max_fulfillment_orders)
    if reach.found is not None and reach.settled:
        return list(reach.found.locations)
    best = _most_filled(space, target, reach.short_up_to, max_fulfillment_orders, split_penalty_km)
    if reach.found is not None:
        best = min(best, reach.found, key=lambda c: c.rank)
    return list(best.locations)


def _target(s: Supply) -> int:
    everything = sum(s.demand)
    if max(s.alone, default=0) == everything:
        return everything  # the usual case, without summing the network's stock
    held = [0] * len(s.demand)
    for stock in s.stock:
        for sku, units in stock.items():
            held[sku] += units
    if not s.lines_alike:  # a personalized line cannot use plain stock of its SKU
        by_line = [0] * len(s.demand)
        for i, units in enumerate(_line_holdings(s)):
            by_line[s.line_sku[i]] += min(s.quantity[i], units)
        held = [min(a, b) for a, b in zip(held, by_line, strict=True)]
    by_sku = sum(min(asked, units) for asked, units in zip(s.demand, held, strict=True))
    return min(by_sku, sum(s.alone))


def _line_holdings(s: Supply) -> list[int]:
    """Per line: units all locations that may fill it hold for it."""
    holding = [0] * len(s.quantity)
    for c, lines in enumerate(s.eligible):
        for i in _bits(lines):
            holding[i] += min(s.quantity[i], s.stock[c][s.line_sku[i]])
    return holding


def _bits(mask: int) -> Iterable[int]:
    """Set bits, lowest first."""
    while mask:
        low = mask & -mask
        yield low.bit_length() - 1
        mask ^= low


# --- step 2: the nearest set of the fewest locations that fills the target ---------------------------------------


@dataclass(frozen=True)
class _Reach:
    found: Choice | None  # the best set found that fills the target
    settled: bool  # the search ended within its budget, so `found` is the best there is
    short_up_to: int  # no set of at most this many locations fills the target


def _fewest_reaching(space: _Space, target: int, max_fos: int) -> _Reach:
    s = space.supply
    for c in range(s.size):  # nearest first
        if s.alone[c] >= target:
            return _Reach(space.choice([c], target), True, 0)
    cover = _Cover(space, target)
    for size in range(2, max_fos + 1):
        if space.ceiling(size) >= target:
            found = cover.nearest(size)
            if found is not None or not cover.settled:
                return _Reach(found, cover.settled, size - 1)
    return _Reach(None, True, max_fos)


class _Cover:
    """The nearest set of a given size that fills the target (see step 2 in the module docstring)."""

    def __init__(self, space: _Space, target: int) -> None:
        s = self.supply = space.supply
        self.space, self.target = space, target
        self.stockists = _stockists(s)  # per line: bitmask of the locations that may fill it
        self.required = sum(1 << i for i, mask in enumerate(self.stockists) if mask)
        self.everyone = (1 << s.size) - 1
        self.nearest_total = list(accumulate(space.distance, initial=0.0))  # k -> the k smallest distances
        self.nodes = self.flows = 0
        self.settled = True
        self.size = 0
        self.best: Choice | None = None

    def nearest(self, size: int) -> Choice | None:
        self.size, self.best = size, None
        self._extend([], 0, 0, 0.0)
        return self.best

    def _extend(self, chosen: list[int], covered: int, banned: int, distance: float) -> None:
        slots = self.size - len(chosen)
        missing = self.required & ~covered
        if slots == 1:
            options = self._completing(missing, banned)
        elif missing:
            options = self.stockists[self._rarest(missing, banned)] & ~banned
        else:
            options = self.everyone & ~banned
        beyond = self.nearest_total[slots - 1]  # the least the slots after this one add
        for c in _bits(options):
            further = distance + self.space.distance[c]
            if self.best is not None and further + beyond > self.best.distance + _EPS:
                return  # options come nearest first
            self.nodes += 1
            if self.nodes > NODE_BUDGET:
                self.settled = False
                return
            if slots == 1:
                self._try([*chosen, c])
                if not self.settled:
                    return
            else:
                self._extend([*chosen, c], covered | self.supply.eligible[c], banned | 1 << c, further)
                if not self.settled:
                    return
            banned |= 1 << c

    def _completing(self, missing: int, banned: int) -> int:
        """Locations that stock every line still missing."""
        options = self.everyone & ~banned
        for i in _bits(missing):
            options &= self.stockists[i]
            if not options:
                break
        return options

    def _rarest(self, missing: int, banned: int) -> int:
        fewest, rarest = self.supply.size + 1, -1
        for i in _bits(missing):
            count = (self.stockists[i] & ~banned).bit_count()
            if count < fewest:
                fewest, rarest = count, i
                if count == 0:
                    break
        return rarest

    def _try(self, chosen: list[int]) -> None:
        candidate = self.space.choice(chosen, self.target)
        if self.best is not None and candidate.rank >= self.best.rank:
            return
        s = self.supply
        if not s.is_simple(chosen):
            if s.bound(chosen) < self.target:
                return  # the ceiling settles it: only a flow actually run counts against the budget
            self.flows += 1
            self.settled = self.settled and self.flows <= FLOW_BUDGET
        if s.reaches(candidate.locations, self.target):
            self.best = candidate


def _stockists(s: Supply) -> list[int]:
    if s.lines_alike:  # a location holding a SKU may fill all its lines
        holders = [0] * len(s.demand)
        for c, stock in enumerate(s.stock):
            for sku in stock:
                holders[sku] |= 1 << c
        return [holders[sku] for sku in s.line_sku]
    stockists = [0] * len(s.quantity)
    for c, lines in enumerate(s.eligible):
        for i in _bits(lines):
            stockists[i] |= 1 << c
    return stockists


# --- step 3: the most units when the target is out of reach ------------------------------------------------------


def _most_filled(space: _Space, target: int, short_up_to: int, max_fos: int, split_penalty_km: float) -> Choice:
    s = space.supply
    if sum(math.comb(s.size, k) for k in range(1, max_fos + 1)) <= EXHAUSTIVE_SETS:
        return _every_set(space, max_fos)
    single = max(range(s.size), key=lambda c: (s.alone[c], -c))  # nearest among the fullest
    best = space.choice([single], s.alone[single])
    if max_fos >= 2:
        pair_ceiling = min(space.ceiling(2), target - 1 if short_up_to >= 2 else target)
        best = _Pairs(space, best, pair_ceiling).best_pair()
    if max_fos >= 3:
        greedy = _Greedy(space, target, max_fos, split_penalty_km)
        best = min([best, greedy.run(()), greedy.run(best.locations)], key=lambda c: c.rank)
    return best


def _every_set(space: _Space, max_fos: int) -> Choice:
    s = space.supply
    best = space.choice([], 0)
    for size in range(1, max_fos + 1):
        for chosen in combinations(range(s.size), size):
            ceiling = sum(s.alone[c] for c in chosen)
            if (-ceiling, size) <= (-best.fill, len(best.locations)):
                best = min(best, space.choice(chosen), key=lambda c: c.rank)
    return best


class _Pairs:
    """The best pair, if it beats the best single location: branch and bound, fullest locations first.

    Once a pair fills `ceiling` (no pair fills more), only distance is left to decide, so the rest of the search
    goes nearest first and stops at the first pair farther than the best.
    """

    def __init__(self, space: _Space, single: Choice, ceiling: int) -> None:
        self.space, self.supply, self.best, self.ceiling = space, space.supply, single, ceiling
        self.looked = self.flows = 0

    def best_pair(self) -> Choice:
        if self.ceiling > self.best.fill:
            self._fullest_first()
            if self.best.fill == self.ceiling:
                self._nearest_first()
        return self.best

    def _fullest_first(self) -> None:
        alone = self.supply.alone
        fullest = sorted(range(self.supply.size), key=lambda c: (-alone[c], c))
        for x, a in enumerate(fullest):
            for y in range(x + 1, len(fullest)):
                b = fullest[y]
                if alone[a] + alone[b] <= self._floor():
                    if y == x + 1:
                        return  # not even with the next fullest: no pair left fills more
                    break
                if self.best.fill == self.ceiling or not self._look(a, b):
                    return

    def _nearest_first(self) -> None:
        d = self.space.distance
        for a in range(self.supply.size):
            for b in range(a + 1, self.supply.size):
                if d[a] + d[b] > self.best.distance + _EPS:
                    if b == a + 1:
                        return
                    break
                if not self._look(a, b):
                    return

    def _floor(self) -> int:
        """A pair must fill more than this: more than a single location, as much as the best pair."""
        return self.best.fill - 1 if len(self.best.locations) == 2 else self.best.fill

    def _look(self, a: int, b: int) -> bool:
        """Consider one pair; False once the budget is spent."""
        self.looked += 1
        if self.looked > PAIR_BUDGET:
            return False
        pair = (a, b) if a < b else (b, a)
        ceiling = self.supply.bound(pair)
        if ceiling <= self._floor():
            return True
        candidate = self.space.choice(pair, ceiling)
        if candidate.rank >= self.best.rank:
            return True
        if not self.supply.is_simple(pair):  # else the ceiling is exact
            self.flows += 1
            if self.flows > FLOW_BUDGET:
                return False
            candidate = self.space.choice(pair)
        self.best = min(self.best, candidate, key=lambda c: c.rank)
        return True


class _Greedy:
    """Add the location with the most new units per km (plus the split penalty) until full or at the FO limit."""

    def __init__(self, space: _Space, target: int, max_fos: int, split_penalty_km: float) -> None:
        self.space, self.target, self.max_fos = space, target, max_fos
        # +1 km keeps a location at the customer's door (distance 0, no penalty) from dividing by zero.
        self.cost = [d + split_penalty_km + 1.0 for d in space.distance]

    def run(self, seed: tuple[int, ...]) -> Choice:
        current = self.space.choice(seed)
        while len(current.locations) < self.max_fos and current.fill < self.target:
            step = self._best_addition(current)
            if step is None:
                break
            current = step
        return current

    def _best_addition(self, current: Choice) -> Choice | None:
        s = self.space.supply
        bounds: list[tuple[float, int]] = []
        for c in range(s.size):
            if c not in current.locations:
                gain = min(s.alone[c], s.bound((*current.locations, c)) - current.fill)
                if gain > 0:
                    bounds.append((gain / self.cost[c], c))
        bounds.sort(key=lambda b: (-b[0], b[1]))
        best: tuple[tuple[float, int, int], Choice] | None = None
        for bound, c in bounds:
            if best is not None and bound < -best[0][0]:
                break  # sorted by bound: nothing further can reach the best score
            step = self.space.choice([*current.locations, c])
            gain = step.fill - current.fill
            key = (-gain / self.cost[c], -gain, c)  # then nearest, then id: the numbering's order
            if gain > 0 and (best is None or key < best[0]):
                best = (key, step)
        return None if best is None else best[1]
