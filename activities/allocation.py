"""Allocation: route the order's lines, reserve them, then hand each fulfillment order to its location.

One local activity does all of it so checkout costs one history event for it; every part is
idempotent (reservations unique per order/sku/location, hand-offs keyed by fulfillment order id),
and a retry first looks for what an earlier attempt of the same step reserved and reuses it.
"""

from collections import Counter
from datetime import UTC, datetime, time, timedelta, timezone

import structlog
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.contracts import (
    ALLOCATE_ORDER,
    AMEND_FULFILLMENT,
    CANCEL_FULFILLMENT,
    HAND_OFF_FULFILLMENT,
    RELEASE_INVENTORY,
    AllocatedFulfillmentOrder,
    AllocateRequest,
    AllocateResult,
    AmendRequest,
    HandOffRequest,
    ReleaseRequest,
)
from domain.delivery import promise_date
from domain.ids import fulfillment_order_id, fulfillment_order_number
from domain.models import SkuQuantity
from domain.routing import Candidate, RouteLine, RoutingPolicy, cutoff_passed, route
from integrations.warehouse import FulfillmentRequest, WarehouseClient, WarehouseRefused
from store.inventory import InventoryRepository, LocationInfo

log = structlog.get_logger()

# A reservation can lose a race for the last units between reading stock and the conditional update.
_RACE_ATTEMPTS = 3
# The demo network is in Japan; cut-offs are local wall-clock times there.
NETWORK_UTC_OFFSET = timedelta(hours=9)


class AllocationActivities:
    def __init__(
        self, inventory: InventoryRepository, warehouse: WarehouseClient, policy: RoutingPolicy | None = None
    ) -> None:
        self._inventory = inventory
        self._warehouse = warehouse
        self._policy = policy or RoutingPolicy()

    @activity.defn(name=ALLOCATE_ORDER)
    def allocate(self, request: AllocateRequest) -> AllocateResult:
        now = datetime.now(UTC)
        plan = self._earlier_attempt(request) or self._reserve(request, now)
        fos, unfilled = plan
        if request.hold_until is None:
            for fo in fos:
                self._hand_off(request, fo)
        return AllocateResult(fulfillment_orders=fos, unfilled=unfilled)

    @activity.defn(name=HAND_OFF_FULFILLMENT)
    def hand_off(self, request: HandOffRequest) -> int:
        """Approved after review: the holds become plain reservations and the locations get their orders."""
        self._inventory.confirm(request.order_id)
        for fo in request.fulfillment_orders:
            self._hand_off(request, fo)
        return len(request.fulfillment_orders)

    def _earlier_attempt(
        self, request: AllocateRequest
    ) -> tuple[list[AllocatedFulfillmentOrder], list[SkuQuantity]] | None:
        """What an earlier attempt of this step reserved: holds of fulfillment orders numbered from its first."""
        held: dict[str, tuple[str, list[SkuQuantity]]] = {}
        for r in self._inventory.reservations_by_fulfillment_order(request.order_id):
            number = fulfillment_order_number(r.fulfillment_order_id)  # None: a hold from before ids were kept
            if r.status == "reserved" and number is not None and number >= request.first_number:
                held.setdefault(r.fulfillment_order_id, (r.location_id, []))[1].append(
                    SkuQuantity(sku=r.sku, quantity=r.quantity)
                )
        if not held:
            return None
        infos = {loc.id: loc for loc in self._inventory.locations()}
        now = datetime.now(UTC)
        fos = [
            self._fulfillment_order(request, fo_id, location_id, lines, infos.get(location_id), now)
            for fo_id, (location_id, lines) in sorted(
                held.items(), key=lambda item: fulfillment_order_number(item[0]) or 0
            )
        ]
        got = Counter[str]()
        for fo in fos:
            for q in fo.lines:
                got[q.sku] += q.quantity
        return fos, _missing(request.lines, got)

    def _reserve(
        self, request: AllocateRequest, now: datetime
    ) -> tuple[list[AllocatedFulfillmentOrder], list[SkuQuantity]]:
        infos = {loc.id: loc for loc in self._inventory.locations()}
        for _ in range(_RACE_ATTEMPTS):
            stock = self._inventory.stock_for([q.sku for q in request.lines], channel=request.channel)
            used = self._inventory.committed_since(_local_midnight(now))
            candidates = [
                _candidate({**s.model_dump(), "capacity_used": used.get(s.location_id, 0)}, infos[s.location_id])
                for s in stock
                if s.location_id in infos
            ]
            plan = route(
                [RouteLine(sku=q.sku, quantity=q.quantity) for q in request.lines],
                candidates,
                delivery_method=request.delivery_method,
                now=now,
                latitude=request.latitude,
                longitude=request.longitude,
                pickup_location_id=request.pickup_location_id,
                excluded=request.excluded,
                channel=request.channel,
                policy=self._policy,
            )
            reserved: list[tuple[str, str, list[SkuQuantity]]] = []
            for n, planned in enumerate(plan.fulfillments, start=request.first_number):
                fo_id = fulfillment_order_id(request.order_id, n)
                if not self._inventory.reserve(
                    request.order_id,
                    planned.location_id,
                    planned.lines,
                    expires_at=request.hold_until,
                    fulfillment_order_id=fo_id,
                ):
                    break
                reserved.append((fo_id, planned.location_id, planned.lines))
            else:
                fos = [
                    self._fulfillment_order(request, fo_id, location_id, lines, infos[location_id], now)
                    for fo_id, location_id, lines in reserved
                ]
                if fos:
                    log.info("inventory reserved", locations=[fo.location_id for fo in fos])
                return fos, plan.unfilled
            for fo_id, _, _ in reserved:  # lost a race part-way: give back this attempt's holds
                self._inventory.release(request.order_id, fulfillment_order_id=fo_id)
            log.info("reservation lost a race; rerouting on fresh stock")
        return [], list(request.lines)

    def _fulfillment_order(
        self,
        request: AllocateRequest,
        fo_id: str,
        location_id: str,
        lines: list[SkuQuantity],
        info: LocationInfo | None,
        now: datetime,
    ) -> AllocatedFulfillmentOrder:
        promised = None
        if info is not None:
            late = cutoff_passed(_candidate({"location_id": location_id, "available": {}}, info), now)
            promised = promise_date(request.delivery_method, now + NETWORK_UTC_OFFSET, late)
        return AllocatedFulfillmentOrder(
            fulfillment_order_id=fo_id,
            location_id=location_id,
            lines=lines,
            promised_date=promised,
        )

    def _hand_off(self, request: AllocateRequest | HandOffRequest, fo: AllocatedFulfillmentOrder) -> None:
        try:
            self._warehouse.release(
                FulfillmentRequest(
                    fulfillment_order_id=fo.fulfillment_order_id,
                    order_id=request.order_id,
                    location_id=fo.location_id,
                    lines=fo.lines,
                    ship_to=request.ship_to,
                    delivery_method=request.delivery_method,
                    requested_delivery_date=request.requested_delivery_date,
                )
            )
        except WarehouseRefused as refused:
            raise ApplicationError(str(refused), type="WarehouseRefused", non_retryable=True) from refused

    @activity.defn(name=RELEASE_INVENTORY)
    def release(self, request: ReleaseRequest) -> int:
        return self._inventory.release(
            request.order_id,
            request.lines,
            key=request.key,
            location_id=request.location_id,
            fulfillment_order_id=request.fulfillment_order_id,
        )

    @activity.defn(name=CANCEL_FULFILLMENT)
    def cancel_fulfillment(self, fulfillment_order_id: str) -> bool:
        """Tell the location to stop; False when it had already shipped (the order learns that by its webhook)."""
        try:
            return self._warehouse.cancel(fulfillment_order_id)
        except WarehouseRefused as refused:
            raise ApplicationError(str(refused), type="WarehouseRefused", non_retryable=True) from refused

    @activity.defn(name=AMEND_FULFILLMENT)
    def amend_fulfillment(self, request: AmendRequest) -> bool:
        """Take canceled units off a fulfillment order at its location; False when they are picked already."""
        try:
            return self._warehouse.amend(request.fulfillment_order_id, request.remove, request.key)
        except WarehouseRefused as refused:
            raise ApplicationError(str(refused), type="WarehouseRefused", non_retryable=True) from refused


def _candidate(stock: dict[str, object], info: LocationInfo) -> Candidate:
    hours, minutes = (int(part) for part in info.cutoff.split(":"))
    return Candidate.model_validate(
        {
            **stock,
            "latitude": info.latitude,
            "longitude": info.longitude,
            "capabilities": info.capabilities,
            "kind": info.kind,
            "daily_capacity": info.daily_capacity,
            "cutoff": time(hours, minutes),
            "utc_offset": NETWORK_UTC_OFFSET,
        }
    )


def _local_midnight(now: datetime) -> datetime:
    """Start of the network's local day: daily capacity resets then."""
    local = now.astimezone(timezone(NETWORK_UTC_OFFSET))
    return local.replace(hour=0, minute=0, second=0, microsecond=0)


def _missing(lines: list[SkuQuantity], got: Counter[str]) -> list[SkuQuantity]:
    return [SkuQuantity(sku=q.sku, quantity=q.quantity - got[q.sku]) for q in lines if q.quantity - got[q.sku] > 0]
