"""Order routing policy: which locations fulfil which units of an order.

Priorities, strictly in order: what each line and the delivery method require, then the most units filled,
then the fewest fulfillment orders (FOs), then the shortest total distance to the customer, then location id.

Why the algorithm looks like this:
- One and two FOs are the common case and the product promises "fewest FOs first", so those are searched
  exactly: every single location, then every pair. With <= 50 candidates that is at most 1,225 pairs; pairs are
  tried most promising first under a cheap bound (a pair fills no more than its two locations alone, nor than
  their stock and capacity), so the search stops long before the last pair.
- Whether a set of locations can fill the lines is a small max-flow problem (line -> location's stock of the
  SKU -> location's daily capacity), because capacity is shared between SKUs and stock between lines of one
  SKU: a per-line greedy can strand a line that only one location is allowed to fill.
- Three or more FOs are rare and an exact search (19,600 triples) is not worth it there, so a greedy cover
  adds the location that fills most units per km, where every extra FO also costs `split_penalty_km`; the
  penalty steers the greedy towards a few big contributors rather than many near small ones. It starts both
  from nothing and from the best exact plan, and the better result wins, so it never does worse than that plan.
- Inside a chosen set, units go to the nearest location first (min-cost flow), so a line is split across
  locations only when stock or capacity forces it.
"""

from collections import defaultdict, deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, time, timedelta, timezone
from itertools import combinations
from typing import Literal

from pydantic import Field

from domain.allocation import LocationStock, distance_km
from domain.models import Channel, DeliveryMethod, SkuQuantity, Strict

LocationKind = Literal["warehouse", "distribution_center", "store", "dropship"]

SHIP = "ship"
PICKUP = "pickup"
SAME_DAY = "same_day"
WEEKEND = "weekend"
PERSONALIZATION = "personalization"

_UNLIMITED = 10**18


class Candidate(LocationStock):
    """A location that could fulfil (part of) an order, with what it can still do today."""

    kind: LocationKind
    daily_capacity: int = Field(ge=0, description="units the location can process per day")
    capacity_used: int = Field(default=0, ge=0, description="units already committed today")
    cutoff: time | None = Field(default=None, description="local ship cut-off; None means no cut-off")
    utc_offset: timedelta | None = Field(
        default=None, description="today's offset of local time from UTC; None reads `now` as local wall time"
    )

    @property
    def remaining_capacity(self) -> int:
        return max(0, self.daily_capacity - self.capacity_used)

    def stock(self, sku: str) -> int:
        return max(0, self.available.get(sku, 0))


class RouteLine(Strict):
    """A line to route and what it requires of the location that fulfils it."""

    sku: str = Field(min_length=1)
    quantity: int = Field(gt=0)
    personalized: bool = False
    requires: frozenset[str] = Field(default=frozenset(), description="extra capabilities, e.g. 'hazmat'")

    def needed_capabilities(self) -> frozenset[str]:
        return self.requires | {PERSONALIZATION} if self.personalized else self.requires


class RoutingPolicy(Strict):
    """The tunable part of routing; the defaults suit a national network."""

    split_penalty_km: float = Field(default=200.0, ge=0, description="cost of one extra FO, in km (greedy step)")
    same_day_radius_km: float = Field(default=50.0, ge=0)
    max_fulfillment_orders: int = Field(default=3, ge=1)
    allowed_kinds: dict[Channel, frozenset[LocationKind]] = Field(
        default_factory=dict, description="location kinds a channel may use; a channel not listed may use all"
    )
    weekend_needs_capability: bool = Field(
        default=True, description="weekend delivery only from 'weekend' locations; False skips the requirement"
    )


class PlannedFulfillment(Strict):
    location_id: str
    lines: list[SkuQuantity]
    distance_km: float


class RoutePlan(Strict):
    fulfillments: list[PlannedFulfillment]
    unfilled: list[SkuQuantity]

    @property
    def fully_routed(self) -> bool:
        return not self.unfilled


def cutoff_passed(candidate: Candidate, now: datetime) -> bool:
    """Whether `now` is at or past the location's ship cut-off, read in the location's local time.

    A naive `now`, or a location without `utc_offset`, is read as the location's wall clock. An aware `now` is
    converted with the fixed offset the caller resolved for today, which keeps this module free of tz data.
    """
    if candidate.cutoff is None:
        return False
    local = now
    if now.tzinfo is not None and candidate.utc_offset is not None:
        local = now.astimezone(timezone(candidate.utc_offset))
    return local.time() >= candidate.cutoff


def route(
    lines: Sequence[RouteLine],
    candidates: Sequence[Candidate],
    *,
    delivery_method: DeliveryMethod,
    now: datetime,
    latitude: float | None = None,
    longitude: float | None = None,
    pickup_location_id: str | None = None,
    excluded: Iterable[str] = (),
    channel: Channel | None = None,
    policy: RoutingPolicy | None = None,
) -> RoutePlan:
    """Plan the fulfillment orders for `lines`; what no allowed location can fill comes back as `unfilled`.

    Shipped methods need a "ship" location; same_day also needs "same_day", the address within
    `same_day_radius_km` and `now` before the location's cut-off; weekend needs "weekend" (see the policy).
    Pickup is all-or-nothing at `pickup_location_id` (which needs "pickup"): it never splits, so if that store
    cannot fill every line the plan is empty and everything is unfilled. Without a destination every distance
    counts as 0, so ties go by location id, and same_day cannot be checked against its radius: nothing qualifies.
    Locations in `excluded` are never used. Candidate ids must be unique.
    """
    if isinstance(excluded, str):
        raise TypeError("excluded is a collection of location ids, not one id")
    ids = [c.location_id for c in candidates]
    if len(set(ids)) != len(ids):
        raise ValueError("candidate location ids must be unique")
    policy = policy or RoutingPolicy()
    destination = (latitude, longitude) if latitude is not None and longitude is not None else None
    context = _Context(delivery_method, now, destination, pickup_location_id, frozenset(excluded), channel, policy)
    problem = _Problem.build(lines, candidates, context)
    chosen = _pickup_set(problem) if delivery_method == "pickup" else _best_set(problem, policy)
    return problem.plan(chosen)


# --- eligibility -------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Context:
    method: DeliveryMethod
    now: datetime
    destination: tuple[float, float] | None
    pickup_location_id: str | None
    excluded: frozenset[str]
    channel: Channel | None
    policy: RoutingPolicy

    def distance(self, c: Candidate) -> float:
        if self.destination is None or self.method == "pickup":
            return 0.0  # a pickup parcel does not travel to the customer
        return distance_km(self.destination[0], self.destination[1], c.latitude, c.longitude)

    def allows(self, c: Candidate) -> bool:
        """Location-level rules: exclusions, channel kinds and the delivery method."""
        if c.location_id in self.excluded or c.remaining_capacity == 0:
            return False
        kinds = self.policy.allowed_kinds.get(self.channel) if self.channel is not None else None
        if kinds is not None and c.kind not in kinds:
            return False
        return self._serves_method(c, set(c.capabilities))

    def _serves_method(self, c: Candidate, caps: set[str]) -> bool:
        if self.method == "pickup":
            return c.location_id == self.pickup_location_id and PICKUP in caps
        if SHIP not in caps:
            return False
        if self.method == "same_day":
            near = self.destination is not None and self.distance(c) <= self.policy.same_day_radius_km
            return SAME_DAY in caps and near and not cutoff_passed(c, self.now)
        if self.method == "weekend" and self.policy.weekend_needs_capability:
            return WEEKEND in caps
        return True


@dataclass(frozen=True)
class _Problem:
    lines: list[RouteLine]
    locations: dict[str, Candidate]  # only those allowed and useful for at least one line
    distance: dict[str, float]
    eligible: list[frozenset[str]]  # per line: the locations that may fill it
    line_stock: dict[str, list[int]]  # per location, per line: units it could give that line (0 if not eligible)

    @classmethod
    def build(cls, lines: Sequence[RouteLine], candidates: Sequence[Candidate], ctx: _Context) -> "_Problem":
        allowed = [c for c in candidates if ctx.allows(c)]
        eligible = [
            frozenset(
                c.location_id
                for c in allowed
                if line.needed_capabilities() <= set(c.capabilities) and c.stock(line.sku) > 0
            )
            for line in lines
        ]
        useful = {loc_id for ok in eligible for loc_id in ok}
        locations = {c.location_id: c for c in allowed if c.location_id in useful}
        distance = {loc_id: ctx.distance(c) for loc_id, c in locations.items()}
        line_stock = {
            loc_id: [
                min(ln.quantity, c.stock(ln.sku)) if loc_id in ok else 0 for ln, ok in zip(lines, eligible, strict=True)
            ]
            for loc_id, c in locations.items()
        }
        return cls(list(lines), locations, distance, eligible, line_stock)

    @property
    def demand(self) -> int:
        return sum(line.quantity for line in self.lines)

    def nearest_first(self, ids: Iterable[str]) -> list[str]:
        return sorted(ids, key=lambda loc_id: (self.distance[loc_id], loc_id))

    def upper_bound(self, chosen: Sequence[str]) -> int:
        """A cheap ceiling on what `chosen` could fill, to skip sets not worth a flow computation."""
        by_line = sum(
            min(line.quantity, sum(self.line_stock[c][i] for c in chosen)) for i, line in enumerate(self.lines)
        )
        return min(by_line, sum(self.locations[c].remaining_capacity for c in chosen))

    def fill(self, chosen: Sequence[str]) -> int:
        return sum(_assign(self, chosen, cheapest=False).values())

    def choice(self, chosen: Sequence[str], fill: int | None = None) -> "_Choice":
        total = sum(self.distance[c] for c in chosen)
        return _Choice(tuple(chosen), self.fill(chosen) if fill is None else fill, total)

    def plan(self, chosen: Sequence[str]) -> RoutePlan:
        per_location: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
        planned: dict[str, int] = defaultdict(int)
        for (i, loc_id), units in _assign(self, chosen, cheapest=True).items():
            per_location[loc_id][self.lines[i].sku] += units
            planned[self.lines[i].sku] += units
        fulfillments = [
            PlannedFulfillment(location_id=loc_id, lines=_sku_quantities(skus), distance_km=self.distance[loc_id])
            for loc_id, skus in per_location.items()
        ]
        fulfillments.sort(key=lambda f: (f.distance_km, f.location_id))
        asked: dict[str, int] = defaultdict(int)
        for line in self.lines:
            asked[line.sku] += line.quantity
        unfilled = _sku_quantities({sku: qty - planned[sku] for sku, qty in asked.items()})
        return RoutePlan(fulfillments=fulfillments, unfilled=unfilled)


def _sku_quantities(quantities: dict[str, int]) -> list[SkuQuantity]:
    return [SkuQuantity(sku=sku, quantity=qty) for sku, qty in sorted(quantities.items()) if qty > 0]


# --- choosing the set of locations -------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Choice:
    locations: tuple[str, ...]
    fill: int
    distance: float

    @property
    def rank(self) -> tuple[int, int, float, list[str]]:
        """Smaller is better: most units, then fewest FOs, then shortest distance, then location ids."""
        return (-self.fill, len(self.locations), self.distance, sorted(self.locations))


def _pickup_set(problem: _Problem) -> list[str]:
    """Pickup never splits: the chosen store fills everything or nothing is planned."""
    stores = list(problem.locations)  # at most the pickup store survives the eligibility rules
    return stores if stores and problem.fill(stores) == problem.demand else []


def _best_set(problem: _Problem, policy: RoutingPolicy) -> list[str]:
    ids = problem.nearest_first(problem.locations)
    alone = {loc_id: problem.fill([loc_id]) for loc_id in ids}
    best = problem.choice([], 0)
    for loc_id in ids:
        best = min(best, problem.choice([loc_id], alone[loc_id]), key=lambda c: c.rank)
    if best.fill < problem.demand and policy.max_fulfillment_orders >= 2:
        best = _best_pair(problem, ids, alone, best)
    if best.fill < problem.demand and policy.max_fulfillment_orders >= 3:
        tries = [best, _greedy(problem, ids, alone, (), policy), _greedy(problem, ids, alone, best.locations, policy)]
        best = min(tries, key=lambda c: c.rank)
    return list(best.locations)


def _best_pair(problem: _Problem, ids: list[str], alone: dict[str, int], best: _Choice) -> _Choice:
    """Exact best pair by branch and bound: most promising first, stop once no pair can beat the best."""
    bounded: list[tuple[int, float, list[str]]] = []
    for pair in combinations(ids, 2):
        # What a pair fills never exceeds what each location fills alone, added up.
        bound = min(alone[pair[0]] + alone[pair[1]], problem.upper_bound(pair))
        if bound > best.fill:
            bounded.append((bound, problem.distance[pair[0]] + problem.distance[pair[1]], sorted(pair)))
    bounded.sort(key=lambda b: (-b[0], b[1], b[2]))
    for bound, distance, ids_pair in bounded:
        if bound < best.fill:
            break
        if (-bound, 2, distance, ids_pair) < best.rank:
            best = min(best, problem.choice(ids_pair), key=lambda c: c.rank)
    return best


def _greedy(
    problem: _Problem, ids: list[str], alone: dict[str, int], seed: Sequence[str], policy: RoutingPolicy
) -> _Choice:
    """Add the location with the most new units per km (plus the split penalty) until full or at the FO limit."""
    current = problem.choice(seed)
    while len(current.locations) < policy.max_fulfillment_orders and current.fill < problem.demand:
        step = _best_addition(problem, ids, alone, current, policy)
        if step is None:
            break
        current = step
    return current


def _best_addition(
    problem: _Problem, ids: list[str], alone: dict[str, int], current: _Choice, policy: RoutingPolicy
) -> _Choice | None:
    def cost(loc_id: str) -> float:
        # +1 km keeps a location at the customer's door (distance 0, no penalty) from dividing by zero.
        return problem.distance[loc_id] + policy.split_penalty_km + 1.0

    bounds: list[tuple[float, str]] = []
    for loc_id in ids:
        if loc_id not in current.locations:
            gain = min(alone[loc_id], problem.upper_bound([*current.locations, loc_id]) - current.fill)
            if gain > 0:
                bounds.append((gain / cost(loc_id), loc_id))
    bounds.sort(key=lambda b: (-b[0], problem.distance[b[1]], b[1]))
    best: tuple[tuple[float, int, float, str], _Choice] | None = None
    for bound, loc_id in bounds:
        if best is not None and bound < -best[0][0]:
            break  # sorted by bound: nothing further can reach the best score
        step = problem.choice([*current.locations, loc_id])
        gain = step.fill - current.fill
        key = (-gain / cost(loc_id), -gain, problem.distance[loc_id], loc_id)
        if gain > 0 and (best is None or key < best[0]):
            best = (key, step)
    return None if best is None else best[1]


# --- flows -------------------------------------------------------------------------------------------------------


def _assign(problem: _Problem, chosen: Sequence[str], *, cheapest: bool) -> dict[tuple[int, str], int]:
    """Units per (line index, location id): the most `chosen` can fill; with `cheapest`, nearest location first.

    Network: source -> line (its quantity) -> (location, sku) (stock) -> location (remaining capacity) -> sink.
    The (location, sku) node makes lines of the same SKU share that location's stock.
    """
    order = problem.nearest_first(chosen)
    graph = _FlowGraph()
    source, sink = graph.node(), graph.node()
    location_node = {loc_id: graph.node() for loc_id in order}
    for loc_id in order:
        graph.edge(location_node[loc_id], sink, problem.locations[loc_id].remaining_capacity, 0)
    stock_node: dict[tuple[str, str], int] = {}
    line_edges: list[tuple[int, str, int]] = []
    for i, (line, ok) in enumerate(zip(problem.lines, problem.eligible, strict=True)):
        line_node = graph.node()
        graph.edge(source, line_node, line.quantity, 0)
        for rank, loc_id in enumerate(order):
            if loc_id not in ok:
                continue
            key = (loc_id, line.sku)
            if key not in stock_node:
                stock_node[key] = graph.node()
                graph.edge(stock_node[key], location_node[loc_id], problem.locations[loc_id].stock(line.sku), 0)
            line_edges.append((i, loc_id, graph.edge(line_node, stock_node[key], line.quantity, rank)))
    graph.max_flow(source, sink, cheapest=cheapest)
    flows: dict[tuple[int, str], int] = defaultdict(int)
    for i, loc_id, edge in line_edges:
        if graph.flow(edge) > 0:
            flows[(i, loc_id)] += graph.flow(edge)
    return dict(flows)


class _FlowGraph:
    """Augmenting paths: shortest by hops (Edmonds-Karp), or cheapest (successive shortest paths via SPFA).

    Graphs here have a few dozen nodes, so clarity wins over a faster algorithm.
    """

    def __init__(self) -> None:
        self.adjacent: list[list[int]] = []
        self.head: list[int] = []  # per edge: the node it points to; edge ^ 1 is its residual twin
        self.capacity: list[int] = []
        self.cost: list[int] = []
        self.initial: list[int] = []

    def node(self) -> int:
        self.adjacent.append([])
        return len(self.adjacent) - 1

    def edge(self, u: int, v: int, capacity: int, cost: int) -> int:
        """Add u -> v and its residual twin; returns the forward edge's index."""
        for a, b, cap, c in ((u, v, capacity, cost), (v, u, 0, -cost)):
            self.adjacent[a].append(len(self.head))
            self.head.append(b)
            self.capacity.append(cap)
            self.initial.append(cap)
            self.cost.append(c)
        return len(self.head) - 2

    def flow(self, edge: int) -> int:
        return self.initial[edge] - self.capacity[edge]

    def max_flow(self, source: int, sink: int, *, cheapest: bool) -> None:
        find = self._cheapest_path if cheapest else self._shortest_path
        while (path := find(source, sink)) is not None:
            pushed = min(self.capacity[e] for e in path)
            for e in path:
                self.capacity[e] -= pushed
                self.capacity[e ^ 1] += pushed

    def _shortest_path(self, source: int, sink: int) -> list[int] | None:
        via: list[int | None] = [None] * len(self.adjacent)
        seen = {source}
        queue = deque([source])
        while queue and sink not in seen:
            u = queue.popleft()
            for e in self.adjacent[u]:
                v = self.head[e]
                if self.capacity[e] > 0 and v not in seen:
                    seen.add(v)
                    via[v] = e
                    queue.append(v)
        return self._path(via, source, sink)

    def _cheapest_path(self, source: int, sink: int) -> list[int] | None:
        best = [_UNLIMITED] * len(self.adjacent)
        via: list[int | None] = [None] * len(self.adjacent)
        best[source] = 0
        queue, queued = deque([source]), {source}
        while queue:
            u = queue.popleft()
            queued.discard(u)
            for e in self.adjacent[u]:
                v = self.head[e]
                if self.capacity[e] > 0 and best[u] + self.cost[e] < best[v]:
                    best[v], via[v] = best[u] + self.cost[e], e
                    if v not in queued:
                        queue.append(v)
                        queued.add(v)
        return self._path(via, source, sink)

    def _path(self, via: list[int | None], source: int, sink: int) -> list[int] | None:
        if via[sink] is None:
            return None
        path: list[int] = []
        node = sink
        while node != source:
            edge = via[node]
            assert edge is not None  # every node on the way was reached through an edge
            path.append(edge)
            node = self.head[edge ^ 1]
        return path
