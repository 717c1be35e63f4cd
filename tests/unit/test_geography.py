"""Great-circle distances, which routing ranks locations by."""

from domain.geography import distance_km


def test_distance_tokyo_osaka_is_about_400_km() -> None:
    assert 390 < distance_km(35.681, 139.767, 34.702, 135.496) < 410


def test_distance_is_symmetric_and_zero_to_itself() -> None:
    tokyo, osaka = (35.681, 139.767), (34.702, 135.496)
    assert distance_km(*tokyo, *osaka) == distance_km(*osaka, *tokyo)
    assert distance_km(*tokyo, *tokyo) == 0
