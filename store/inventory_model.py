"""What the inventory reads and answers: levels, movements, locations, availability, and its errors."""

from dataclasses import dataclass
from typing import Literal, NamedTuple

from pydantic import BaseModel, ConfigDict

MovementKind = Literal["receipt", "adjustment", "reservation", "release", "shipment", "return_restock", "expiry"]
StockLevel = Literal["in_stock", "low_stock", "out_of_stock"]
DEFAULT_LOW_STOCK_THRESHOLD = 5


class InventoryError(Exception):
    """A refused inventory change; the API maps each kind to its status code."""


class UnknownLocation(InventoryError):
    def __init__(self, location_id: str) -> None:
        super().__init__(f"no location {location_id!r}")
        self.location_id = location_id


class StockWouldGoNegative(InventoryError):
    """An adjustment would take on_hand below zero or below the units reserved for orders."""

    def __init__(self, location_id: str, sku: str, on_hand: int, reserved: int) -> None:
        if on_hand < 0:
            reason = f"on hand of {sku} at {location_id} would be {on_hand}; stock cannot go below zero"
        else:
            reason = (
                f"on hand of {sku} at {location_id} would be {on_hand}, below the {reserved} unit(s) "
                "reserved for orders; release or ship those first"
            )
        super().__init__(reason)
        self.location_id = location_id
        self.sku = sku
        self.on_hand = on_hand
        self.reserved = reserved


@dataclass(frozen=True)
class Level:
    location_id: str
    sku: str
    on_hand: int
    reserved: int
    safety_stock: int

    @property
    def available(self) -> int:
        return max(self.on_hand - self.reserved - self.safety_stock, 0)


@dataclass(frozen=True)
class AdjustedLevel(Level):
    """The level after an adjustment, with what this call changed (nothing when its key was used before)."""

    on_hand_delta: int = 0
    repeated: bool = False

    @property
    def received(self) -> bool:
        """Stock came in: waiting (backordered) orders may now proceed."""
        return self.on_hand_delta > 0


class Reservation(NamedTuple):
    fulfillment_order_id: str  # '' for a hold taken before fulfillment orders were numbered
    location_id: str
    sku: str
    quantity: int
    status: str


class LocationInfo(BaseModel):
    model_config = ConfigDict(frozen=True)

    id: str
    name: str
    kind: str
    latitude: float
    longitude: float
    capabilities: list[str]
    daily_capacity: int
    cutoff: str
    groups: list[str]
    channels: list[str]


class LocationAvailability(BaseModel):
    model_config = ConfigDict(frozen=True)

    location_id: str
    name: str
    kind: str
    available: int
    level: StockLevel
    distance_km: float | None = None


class SkuAvailability(BaseModel):
    model_config = ConfigDict(frozen=True)

    sku: str
    available: int
    level: StockLevel
    locations: list[LocationAvailability]


class Availability(BaseModel):
    model_config = ConfigDict(frozen=True)

    low_stock_threshold: int
    skus: list[SkuAvailability]


def stock_level(available: int, low_stock_threshold: int) -> StockLevel:
    """What a product page shows: out of stock at zero, low stock below the threshold, else in stock."""
    if available <= 0:
        return "out_of_stock"
    return "low_stock" if available < low_stock_threshold else "in_stock"
