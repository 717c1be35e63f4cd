"""Where an order ships from: the nearest single location able to fill every line.

Splitting across locations and the full routing policy come later; this rule is deliberately simple.
"""

import math

from pydantic import BaseModel

from domain.models import SkuQuantity

EARTH_RADIUS_KM = 6371.0


class LocationStock(BaseModel):
    location_id: str
    latitude: float
    longitude: float
    capabilities: list[str]
    available: dict[str, int]


def distance_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_KM * math.asin(math.sqrt(a))


def choose_location(
    lines: list[SkuQuantity],
    candidates: list[LocationStock],
    latitude: float | None,
    longitude: float | None,
    pickup_location_id: str | None = None,
) -> str | None:
    """The location to reserve at, or None when no single location can fill the order."""

    def fills(loc: LocationStock) -> bool:
        return all(loc.available.get(q.sku, 0) >= q.quantity for q in lines)

    if pickup_location_id is not None:
        eligible = [c for c in candidates if c.location_id == pickup_location_id and "pickup" in c.capabilities]
    else:
        eligible = [c for c in candidates if "ship" in c.capabilities]
    able = [c for c in eligible if fills(c)]
    if not able:
        return None

    def rank(loc: LocationStock) -> tuple[float, str]:
        if latitude is None or longitude is None:
            return (0.0, loc.location_id)
        return (distance_km(latitude, longitude, loc.latitude, loc.longitude), loc.location_id)

    return min(able, key=rank).location_id
