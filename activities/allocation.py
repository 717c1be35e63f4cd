"""Allocation: reserve the order's lines, then hand each fulfillment order to its location.

One local activity does both so checkout costs one history event for them; both halves are
idempotent (reservations unique per order/sku/location, hand-offs keyed by fulfillment order id),
so a retry after a failed hand-off reserves nothing twice.
"""

import structlog
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.contracts import (
    ALLOCATE_ORDER,
    RELEASE_INVENTORY,
    AllocatedFulfillmentOrder,
    AllocateRequest,
    AllocateResult,
    ReleaseRequest,
    fulfillment_order_id,
)
from domain.allocation import choose_location
from integrations.warehouse import FulfillmentRequest, WarehouseClient, WarehouseRefused
from store.inventory import InventoryRepository

log = structlog.get_logger()

# A reservation can lose a race for the last units between reading stock and the conditional update.
_RACE_ATTEMPTS = 3


class AllocationActivities:
    def __init__(self, inventory: InventoryRepository, warehouse: WarehouseClient) -> None:
        self._inventory = inventory
        self._warehouse = warehouse

    @activity.defn(name=ALLOCATE_ORDER)
    def allocate(self, request: AllocateRequest) -> AllocateResult:
        location_id = self._reserve(request)
        if location_id is None:
            return AllocateResult(short_skus=self._short_skus(request))
        fo = AllocatedFulfillmentOrder(
            fulfillment_order_id=fulfillment_order_id(request.order_id, 1), location_id=location_id, lines=request.lines
        )
        try:
            self._warehouse.release(
                FulfillmentRequest(
                    fulfillment_order_id=fo.fulfillment_order_id,
                    order_id=request.order_id,
                    location_id=location_id,
                    lines=fo.lines,
                    ship_to=request.ship_to,
                    delivery_method=request.delivery_method,
                )
            )
        except WarehouseRefused as refused:
            raise ApplicationError(str(refused), type="WarehouseRefused", non_retryable=True) from refused
        return AllocateResult(fulfillment_orders=[fo])

    def _reserve(self, request: AllocateRequest) -> str | None:
        held = {loc for loc, _, _, status in self._inventory.reservations_of(request.order_id) if status == "reserved"}
        if held:
            return sorted(held)[0]  # an earlier attempt already reserved
        for _ in range(_RACE_ATTEMPTS):
            stock = self._inventory.stock_for([q.sku for q in request.lines])
            location_id = choose_location(
                request.lines, stock, request.latitude, request.longitude, request.pickup_location_id
            )
            if location_id is None:
                return None
            if self._inventory.reserve(request.order_id, location_id, request.lines):
                log.info("inventory reserved", location_id=location_id)
                return location_id
            log.info("reservation lost a race; rereading stock", location_id=location_id)
        return None

    def _short_skus(self, request: AllocateRequest) -> list[str]:
        stock = self._inventory.stock_for([q.sku for q in request.lines])
        total = {q.sku: sum(loc.available.get(q.sku, 0) for loc in stock) for q in request.lines}
        short = [q.sku for q in request.lines if total[q.sku] < q.quantity]
        return short or [q.sku for q in request.lines]

    @activity.defn(name=RELEASE_INVENTORY)
    def release(self, request: ReleaseRequest) -> int:
        return self._inventory.release(request.order_id, lines=request.lines)
