"""The simple allocation rule: the nearest single location that can fill every line."""

from domain.allocation import LocationStock, choose_location, distance_km
from domain.models import SkuQuantity

TOKYO = (35.681, 139.767)


def stock(loc: str, lat: float, lon: float, caps: list[str], **available: int) -> LocationStock:
    return LocationStock(location_id=loc, latitude=lat, longitude=lon, capabilities=caps, available=available)


NETWORK = [
    stock("DC-OSAKA", 34.65, 135.43, ["ship"], A=10, B=10),
    stock("DC-TOKYO", 35.63, 139.78, ["ship"], A=10, B=1),
    stock("ST-SHIBUYA", 35.66, 139.70, ["ship", "pickup"], A=1),
]


def test_the_nearest_location_with_everything_wins() -> None:
    lines = [SkuQuantity(sku="A", quantity=2), SkuQuantity(sku="B", quantity=1)]
    assert choose_location(lines, NETWORK, *TOKYO) == "DC-TOKYO"


def test_a_farther_location_is_chosen_when_the_near_one_cannot_fill_all_lines() -> None:
    lines = [SkuQuantity(sku="A", quantity=2), SkuQuantity(sku="B", quantity=5)]
    assert choose_location(lines, NETWORK, *TOKYO) == "DC-OSAKA"


def test_nothing_is_chosen_when_no_single_location_can_fill_the_order() -> None:
    assert choose_location([SkuQuantity(sku="A", quantity=11)], NETWORK, *TOKYO) is None
    assert choose_location([SkuQuantity(sku="Z", quantity=1)], NETWORK, *TOKYO) is None


def test_pickup_reserves_only_at_the_chosen_store() -> None:
    one = [SkuQuantity(sku="A", quantity=1)]
    assert choose_location(one, NETWORK, *TOKYO, pickup_location_id="ST-SHIBUYA") == "ST-SHIBUYA"
    assert choose_location(one, NETWORK, *TOKYO, pickup_location_id="DC-TOKYO") is None


def test_without_coordinates_the_tie_break_is_the_location_id() -> None:
    assert choose_location([SkuQuantity(sku="A", quantity=1)], NETWORK, None, None) == "DC-OSAKA"


def test_distance_tokyo_osaka_is_about_400_km() -> None:
    assert 390 < distance_km(35.681, 139.767, 34.702, 135.496) < 410
