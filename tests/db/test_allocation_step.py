"""The allocation step on real PostgreSQL: each fulfillment order reserves its own units, and a retry
of the step reuses what its earlier attempt reserved instead of reserving again."""

import pytest
from sqlalchemy import Engine

from activities.allocation import AllocationActivities
from activities.contracts import AllocateRequest
from domain.models import SkuQuantity
from integrations.warehouse import FulfillmentRequest
from store.inventory import InventoryRepository
from tests.db.test_inventory import add_location, sku

pytestmark = pytest.mark.db


class RecordingWarehouse:
    def __init__(self) -> None:
        self.released: list[FulfillmentRequest] = []

    def release(self, request: FulfillmentRequest) -> None:
        self.released.append(request)

    def cancel(self, fulfillment_order_id: str) -> bool:
        return True

    def amend(self, fulfillment_order_id: str, remove: list[SkuQuantity], key: str) -> bool:
        return True


def request_for(order_id: str, wanted: SkuQuantity, first_number: int = 1) -> AllocateRequest:
    return AllocateRequest(
        order_id=order_id,
        channel="web",
        lines=[wanted],
        latitude=35.0,
        longitude=139.0,
        ship_to={"line1": "1-1", "city": "Tokyo", "country": "JP"},
        delivery_method="standard",
        first_number=first_number,
    )


@pytest.fixture
def repo(engine: Engine) -> InventoryRepository:
    add_location(engine, "LOC-A")
    return InventoryRepository(engine)


def test_a_retried_allocation_reuses_its_reservation_and_a_reship_of_the_same_sku_reserves_anew(
    repo: InventoryRepository,
) -> None:
    # given 5 units of a sku at one location only
    a = sku()
    repo.set_on_hand("LOC-A", a, 5)
    warehouse = RecordingWarehouse()
    step = AllocationActivities(repo, warehouse)
    order = "AL" + a
    # when the checkout's allocation runs twice (a retry after a lost answer)
    first = step.allocate(request_for(order, SkuQuantity(sku=a, quantity=2)))
    again = step.allocate(request_for(order, SkuQuantity(sku=a, quantity=2)))
    # then both answers name the same fulfillment order, and only 2 units are reserved
    assert [fo.fulfillment_order_id for fo in first.fulfillment_orders] == [f"{order}-F1"]
    assert again.fulfillment_orders == first.fulfillment_orders and not again.unfilled
    assert repo.level("LOC-A", a).reserved == 2
    # when F1 ships and a reship of one unit is allocated as F2 at the same location
    repo.ship(order, "LOC-A", fulfillment_order_id=f"{order}-F1")
    reship = step.allocate(request_for(order, SkuQuantity(sku=a, quantity=1), first_number=2))
    # then F2 holds a unit of its own, and the location was handed F1 and F2
    assert [(fo.fulfillment_order_id, fo.lines) for fo in reship.fulfillment_orders] == [
        (f"{order}-F2", [SkuQuantity(sku=a, quantity=1)])
    ]
    level = repo.level("LOC-A", a)
    assert (level.on_hand, level.reserved) == (3, 1)
    assert sorted({r.fulfillment_order_id for r in warehouse.released}) == [f"{order}-F1", f"{order}-F2"]
