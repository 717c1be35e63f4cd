"""Order routing policy: which locations fulfil which units of an order.

Priorities, strictly in order: what each line and the delivery method require, then the most units filled,
then the fewest fulfillment orders (FOs), then the shortest total distance to the customer, then location id.

How it stays fast enough for a checkout (milliseconds for a 50-line order over 200 locations):
- The order is first reduced to plain data (`domain.routing_flow.Supply`): per location, the lines it may fill
  as a bitmask, its stock per SKU and what it fills alone, with locations numbered nearest first. Nothing after
  that touches a pydantic model.
- What a set of locations fills is a small max-flow problem (line -> location's stock of the SKU -> location's
  daily capacity), because capacity is shared between SKUs and stock between lines of one SKU. When capacity
  cannot bind and every line of a SKU may use the same locations, it is a sum per SKU instead: no flow.
- `domain.routing_search` picks the set: exactly the fewest FOs, then the nearest set, whenever the order (or all
  the network can fill of it) fits in the FO limit; otherwise the most units, by trying every set on small
  networks, else from the best single location, the best pair and a greedy. Its search budgets, and why they
  keep the plan's quality, are in that module's docstring.
- Inside the chosen set, units go to the nearest location first (min-cost flow, or per SKU when no flow is
  needed), so a line is split across locations only when stock or capacity forces it.
"""

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, time, timedelta, timezone
from typing import Literal

from pydantic import Field

from domain.geography import LocationStock, distance_km
from domain.models import Channel, DeliveryMethod, SkuQuantity, Strict
from domain.routing_flow import Supply
from domain.routing_search import choose

LocationKind = Literal["warehouse", "distribution_center", "store", "dropship"]

SHIP = "ship"
PICKUP = "pickup"
SAME_DAY = "same_day"
WEEKEND = "weekend"
PERSONALIZATION = "personalization"


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
    if delivery_method == "pickup":
        chosen = problem.pickup_set()
    else:
        chosen = choose(
            problem.supply,
            problem.distance,
            [c.location_id for c in problem.locations],
            max_fulfillment_orders=policy.max_fulfillment_orders,
            split_penalty_km=policy.split_penalty_km,
        )
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


class _Order:
    """The order's lines as numbers and bitmasks; SKUs numbered as they first appear."""

    def __init__(self, lines: Sequence[RouteLine]) -> None:
        self.skus = list(dict.fromkeys(line.sku for line in lines))
        number = {sku: k for k, sku in enumerate(self.skus)}
        self.quantity = [line.quantity for line in lines]
        self.line_sku = [number[line.sku] for line in lines]
        self.demand = [0] * len(self.skus)
        self.sku_lines = [0] * len(self.skus)  # per SKU: bitmask of its lines
        self.needs: dict[frozenset[str], int] = defaultdict(int)  # capabilities needed -> bitmask of lines
        for i, line in enumerate(lines):
            self.demand[self.line_sku[i]] += line.quantity
            self.sku_lines[self.line_sku[i]] |= 1 << i
            self.needs[line.needed_capabilities()] |= 1 << i
        self.every_line = (1 << len(lines)) - 1
        self.lines_alike = all(
            sum(1 for lines in self.needs.values() if lines & sku_lines) <= 1 for sku_lines in self.sku_lines
        )

    def lines_of(self, skus: Iterable[int]) -> int:
        mask = 0
        for sku in skus:
            mask |= self.sku_lines[sku]
        return mask

    def asked(self, lines: int) -> int:
        return sum(self.quantity[i] for i in range(len(self.quantity)) if lines >> i & 1)


@dataclass(frozen=True)
class _Holding:
    """What one location may give this order."""

    stock: dict[int, int]
    eligible: int
    simple: bool
    alone: int
    capacity: int

    @classmethod
    def of(cls, c: Candidate, order: _Order) -> "_Holding | None":
        """None when the location can fill no line."""
        capabilities = set(c.capabilities)
        allowed = 0  # lines whose requirements the location meets
        for needed, lines in order.needs.items():
            if needed <= capabilities:
                allowed |= lines
        available = c.available
        stock = {sku: units for sku, name in enumerate(order.skus) if (units := available.get(name, 0)) > 0}
        if allowed == order.every_line:  # the common case, kept to one pass over the SKUs
            eligible = order.every_line if len(stock) == len(order.skus) else order.lines_of(stock)
            demand = order.demand
            potential = sum([units if units < demand[sku] else demand[sku] for sku, units in stock.items()])
            alike = True
        else:
            stock = {sku: units for sku, units in stock.items() if order.sku_lines[sku] & allowed}
            eligible, potential, alike = _partly(stock, allowed, order)
        if not stock:
            return None
        capacity = c.remaining_capacity
        return cls(stock, eligible, alike and capacity >= potential, min(capacity, potential), capacity)


def _partly(stock: dict[int, int], allowed: int, order: _Order) -> tuple[int, int, bool]:
    """Lines, units and alikeness for a location that may fill only the `allowed` lines."""
    eligible, potential, alike = 0, 0, True
    for sku, units in stock.items():
        lines = order.sku_lines[sku] & allowed
        whole = lines == order.sku_lines[sku]
        eligible |= lines
        alike = alike and whole
        potential += min(units, order.demand[sku] if whole else order.asked(lines))
    return eligible, potential, alike


@dataclass(frozen=True)
class _Problem:
    order: _Order
    locations: list[Candidate]  # only those allowed and useful for at least one line, nearest first, then by id
    distance: list[float]
    supply: Supply

    @classmethod
    def build(cls, lines: Sequence[RouteLine], candidates: Sequence[Candidate], ctx: _Context) -> "_Problem":
        order = _Order(lines)
        rows: list[tuple[float, str, Candidate, _Holding]] = []
        for c in candidates:
            if ctx.allows(c) and (holding := _Holding.of(c, order)) is not None:
                rows.append((ctx.distance(c), c.location_id, c, holding))
        rows.sort(key=lambda row: (row[0], row[1]))
        held = [row[3] for row in rows]
        supply = Supply(
            quantity=order.quantity,
            line_sku=order.line_sku,
            demand=order.demand,
            capacity=[h.capacity for h in held],
            stock=[h.stock for h in held],
            eligible=[h.eligible for h in held],
            simple=[h.simple for h in held],
            alone=[h.alone for h in held],
            lines_alike=order.lines_alike,
        )
        return cls(order, [row[2] for row in rows], [row[0] for row in rows], supply)

    def pickup_set(self) -> list[int]:
        """Pickup never splits: the chosen store fills everything or nothing is planned."""
        stores = list(range(self.supply.size))  # at most the pickup store survives the eligibility rules
        return stores if stores and self.supply.fill(stores) == sum(self.order.demand) else []

    def plan(self, chosen: Sequence[int]) -> RoutePlan:
        given = self.supply.assign(chosen) if chosen else {}
        planned = [0] * len(self.order.skus)
        fulfillments: list[PlannedFulfillment] = []
        for c, units in sorted(given.items()):  # numbered nearest first, then by id
            for sku, n in units.items():
                planned[sku] += n
            fulfillments.append(
                PlannedFulfillment(
                    location_id=self.locations[c].location_id,
                    lines=_sku_quantities({self.order.skus[sku]: n for sku, n in units.items()}),
                    distance_km=self.distance[c],
                )
            )
        left = {
            sku: asked - planned[k]
            for k, (sku, asked) in enumerate(zip(self.order.skus, self.order.demand, strict=True))
        }
        return RoutePlan(fulfillments=fulfillments, unfilled=_sku_quantities(left))


def _sku_quantities(quantities: dict[str, int]) -> list[SkuQuantity]:
    return [SkuQuantity(sku=sku, quantity=qty) for sku, qty in sorted(quantities.items()) if qty > 0]
