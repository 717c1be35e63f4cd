"""What routing knows of a location's stock, and distances on the globe."""

import math

from pydantic import BaseModel

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
