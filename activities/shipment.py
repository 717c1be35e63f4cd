"""A shipped fulfillment order: its reserved units leave stock, then its own amount is captured."""

from temporalio import activity

from activities.contracts import SETTLE_SHIPMENT, SHIP_RESHIP, PaymentResult, SettleRequest, ShipRequest
from activities.payments import PaymentActivities
from store.inventory import InventoryRepository


class ShipmentActivities:
    def __init__(self, inventory: InventoryRepository, payments: PaymentActivities) -> None:
        self._inventory = inventory
        self._payments = payments

    @activity.defn(name=SETTLE_SHIPMENT)
    def settle(self, request: SettleRequest) -> PaymentResult:
        self._inventory.ship(request.order_id, request.location_id, fulfillment_order_id=request.fulfillment_order_id)
        return self._payments.capture(request.capture)

    @activity.defn(name=SHIP_RESHIP)
    def ship_reship(self, request: ShipRequest) -> int:
        return self._inventory.ship(
            request.order_id, request.location_id, fulfillment_order_id=request.fulfillment_order_id
        )
