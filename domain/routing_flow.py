"""What a set of locations can fill for one order, exactly, and how it splits nearest first.

`Supply` is the order reduced to ints and bitmasks, with locations numbered nearest first, so the search never
touches pydantic models. Lines keep their order's numbering; SKUs are numbered as they first appear.

A set of *simple* locations needs no flow: each of them may give every line of the SKUs it stocks, and its
remaining capacity covers everything it could give this order, so SKUs never compete for capacity and each SKU
fills min(asked, stock summed over the set), nearest location first. When each location holds each SKU in full
(as much as asked) or not at all, that sum is the units asked of a bitmask of SKUs: one popcount per bit of the
quantities asked. Any other set is a max-flow problem on
source -> line (its quantity) -> (location, SKU) (stock) -> location (remaining capacity) -> sink,
because capacity is shared between SKUs and stock between lines of one SKU: a per-line greedy can strand a line
that only one location is allowed to fill.
"""

from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property

_UNLIMITED = 10**18


@dataclass(frozen=True)
class Supply:
    quantity: list[int]  # per line
    line_sku: list[int]  # per line: its SKU's number
    demand: list[int]  # per SKU: units asked over all its lines
    capacity: list[int]  # per location: units it can still process today
    stock: list[dict[int, int]]  # per location: SKU number -> units, for SKUs it may give at least one line
    eligible: list[int]  # per location: bitmask of the lines it may fill
    simple: list[bool]  # per location: see the module docstring
    alone: list[int]  # per location: what it fills by itself
    lines_alike: bool  # every line of a SKU requires the same of a location

    @property
    def size(self) -> int:
        return len(self.capacity)

    @cached_property
    def held_in_full(self) -> list[int]:
        """Per location: bitmask of the SKUs it holds at least as much of as asked."""
        demand = self.demand
        return [sum(1 << sku for sku, units in stock.items() if units >= demand[sku]) for stock in self.stock]

    @cached_property
    def held_in_part(self) -> list[bool]:
        """Per location: whether it holds some SKU, but less of it than asked."""
        demand = self.demand
        return [any(units < demand[sku] for sku, units in stock.items()) for stock in self.stock]

    @cached_property
    def useful_units(self) -> list[list[int]]:
        """Per location, per SKU: the units of it that could count towards this order."""
        vectors = []
        for stock in self.stock:
            vector = [0] * len(self.demand)
            for sku, units in stock.items():
                vector[sku] = min(units, self.demand[sku])
            vectors.append(vector)
        return vectors

    @cached_property
    def demand_bits(self) -> list[int]:
        """Per bit of the quantities asked: bitmask of the SKUs whose quantity has that bit set."""
        return [
            sum(1 << sku for sku, asked in enumerate(self.demand) if asked >> bit & 1)
            for bit in range(max(self.demand, default=0).bit_length())
        ]

    def asked(self, skus: int) -> int:
        """Units asked of the SKUs in the bitmask."""
        return sum((skus & mask).bit_count() << bit for bit, mask in enumerate(self.demand_bits))

    def is_simple(self, chosen: Sequence[int]) -> bool:
        """Whether `chosen` fills per SKU, without a flow."""
        return all([self.simple[c] for c in chosen])

    def bound(self, chosen: Sequence[int]) -> int:
        """A ceiling on what `chosen` fills: per SKU, asked against stock summed over the set; and capacity."""
        return min(_per_sku(self, chosen), sum([self.alone[c] for c in chosen]))

    def fill(self, chosen: Sequence[int]) -> int:
        if self.is_simple(chosen):
            return _per_sku(self, chosen)
        return _Network(self, chosen).max_flow()

    def reaches(self, chosen: Sequence[int], target: int) -> bool:
        """Whether `chosen` fills `target` units; the ceiling spares most flows."""
        if self.is_simple(chosen):
            return _per_sku(self, chosen) >= target
        return self.bound(chosen) >= target and _Network(self, chosen).max_flow() >= target

    def assign(self, chosen: Sequence[int]) -> dict[int, dict[int, int]]:
        """Units per location and SKU: the most `chosen` fills, from the nearest location first."""
        if self.is_simple(chosen):
            return _nearest_first(self, sorted(chosen))
        return _Network(self, chosen).cheapest()


def _per_sku(supply: Supply, chosen: Sequence[int]) -> int:
    partly, full = supply.held_in_part, supply.held_in_full
    if not any([partly[c] for c in chosen]):
        held = 0
        for c in chosen:
            held |= full[c]
        return supply.asked(held)
    # Comprehensions with inline arithmetic: this runs for thousands of candidate sets.
    vectors, demand = supply.useful_units, supply.demand
    if len(chosen) == 2:  # most sets the search bounds are pairs
        a, b = vectors[chosen[0]], vectors[chosen[1]]
        return sum([x + y if x + y < asked else asked for x, y, asked in zip(a, b, demand, strict=True)])
    total = vectors[chosen[0]]
    for c in chosen[1:]:
        total = [x + y for x, y in zip(total, vectors[c], strict=True)]
    return sum([held if held < asked else asked for held, asked in zip(total, demand, strict=True)])


def _nearest_first(supply: Supply, order: list[int]) -> dict[int, dict[int, int]]:
    left = list(supply.demand)
    given: dict[int, dict[int, int]] = {}
    for c in order:
        for sku, units in supply.stock[c].items():
            if (take := min(units, left[sku])) > 0:
                given.setdefault(c, {})[sku] = take
                left[sku] -= take
    return given


class _Network:
    """The flow network of one set of locations; a location's rank among them, nearest first, is its cost."""

    def __init__(self, supply: Supply, chosen: Sequence[int]) -> None:
        graph = self.graph = _FlowGraph()
        self.source, self.sink = graph.node(), graph.node()
        order = sorted(chosen)
        to_sink = {c: graph.edge(graph.node(), self.sink, supply.capacity[c], 0) for c in order}
        self.stock_edges: dict[tuple[int, int], int] = {}  # (location, SKU) -> its stock edge
        self.paths: list[list[int]] = []  # source -> line -> stock -> location -> sink, nearest first per line
        self.from_source: list[int] = []
        for i, quantity in enumerate(supply.quantity):
            line_node = graph.node()
            from_source = graph.edge(self.source, line_node, quantity, 0)
            self.from_source.append(from_source)
            sku = supply.line_sku[i]
            for rank, c in enumerate(order):
                if not supply.eligible[c] >> i & 1:
                    continue
                if (c, sku) not in self.stock_edges:
                    location_node = graph.head[to_sink[c] ^ 1]
                    self.stock_edges[(c, sku)] = graph.edge(graph.node(), location_node, supply.stock[c][sku], 0)
                stock_edge = self.stock_edges[(c, sku)]
                to_stock = graph.edge(line_node, graph.head[stock_edge ^ 1], quantity, rank)
                self.paths.append([from_source, to_stock, stock_edge, to_sink[c]])

    def max_flow(self) -> int:
        # Filling nearest first leaves few augmenting paths for the exact search to find.
        for path in self.paths:
            self.graph.push(path, min(self.graph.capacity[e] for e in path))
        self.graph.max_flow(self.source, self.sink, cheapest=False)
        return sum(self.graph.flow(e) for e in self.from_source)

    def cheapest(self) -> dict[int, dict[int, int]]:
        self.graph.max_flow(self.source, self.sink, cheapest=True)
        given: dict[int, dict[int, int]] = {}
        for (c, sku), edge in self.stock_edges.items():
            if (units := self.graph.flow(edge)) > 0:
                given.setdefault(c, {})[sku] = units
        return given


class _FlowGraph:
    """Augmenting paths: shortest by hops (Edmonds-Karp), or cheapest (successive shortest paths via SPFA)."""

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

    def push(self, path: list[int], units: int) -> None:
        for e in path:
            self.capacity[e] -= units
            self.capacity[e ^ 1] += units

    def max_flow(self, source: int, sink: int, *, cheapest: bool) -> None:
        find = self._cheapest_path if cheapest else self._shortest_path
        while (path := find(source, sink)) is not None:
            self.push(path, min(self.capacity[e] for e in path))

    def _shortest_path(self, source: int, sink: int) -> list[int] | None:
        via: list[int | None] = [None] * len(self.adjacent)
        seen = [False] * len(self.adjacent)
        seen[source] = True
        queue = deque([source])
        while queue and not seen[sink]:
            u = queue.popleft()
            for e in self.adjacent[u]:
                v = self.head[e]
                if self.capacity[e] > 0 and not seen[v]:
                    seen[v] = True
                    via[v] = e
                    queue.append(v)
        return self._path(via, source, sink)

    def _cheapest_path(self, source: int, sink: int) -> list[int] | None:
        best = [_UNLIMITED] * len(self.adjacent)
        via: list[int | None] = [None] * len(self.adjacent)
        queued = [False] * len(self.adjacent)
        best[source] = 0
        queue = deque([source])
        while queue:
            u = queue.popleft()
            queued[u] = False
            for e in self.adjacent[u]:
                v = self.head[e]
                if self.capacity[e] > 0 and best[u] + self.cost[e] < best[v]:
                    best[v], via[v] = best[u] + self.cost[e], e
                    if not queued[v]:
                        queue.append(v)
                        queued[v] = True
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
