"""Returned units that can be sold again go back on hand, through the inventory ledger."""

from temporalio import activity

from activities.contracts import RESTOCK_RETURN, RestockRequest
from domain.ids import restock_key
from store.inventory import InventoryRepository


class ReturnActivities:
    def __init__(self, inventory: InventoryRepository) -> None:
        self._inventory = inventory

    @activity.defn(name=RESTOCK_RETURN)
    def restock(self, request: RestockRequest) -> int:
        """Keyed by return and sku, so a retried step restocks once; returns the units put back."""
        restocked = 0
        for line in request.lines:
            key = restock_key(request.return_id, line.sku)
            level = self._inventory.restock(request.location_id, line.sku, line.quantity, request.return_id, key=key)
            restocked += 0 if level.repeated else line.quantity
        return restocked
