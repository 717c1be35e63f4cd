"""Promised delivery dates per delivery method."""

from datetime import date, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from domain.delivery import add_business_days, is_business_day, next_business_day, promise_date
from domain.models import DeliveryMethod

MONDAY = datetime(2024, 6, 3, 10, 0)
FRIDAY = datetime(2024, 6, 7, 10, 0)
SATURDAY = datetime(2024, 6, 8, 10, 0)
SUNDAY = datetime(2024, 6, 9, 10, 0)


def day(n: int) -> date:
    """June 2024, which starts on a Saturday: day(3) is Monday."""
    return date(2024, 6, n)


@pytest.mark.parametrize(
    ("now", "cutoff_passed", "expected"),
    [
        (MONDAY, False, day(6)),  # Mon + 3 business days = Thu
        (MONDAY, True, day(7)),  # leaves Tuesday: Fri
        (FRIDAY, False, day(12)),  # leaves Friday: Mon, Tue, Wed
        (FRIDAY, True, day(13)),  # leaves Monday: Thu
        (SATURDAY, False, day(13)),  # nothing leaves at the weekend: Monday + 3 = Thu
        (SUNDAY, True, day(13)),
    ],
)
def test_standard_is_three_business_days_after_dispatch(now: datetime, cutoff_passed: bool, expected: date) -> None:
    # given an order placed at `now`, before or after the location's cut-off
    # when the standard promise is computed
    promised = promise_date("standard", now, cutoff_passed)
    # then weekends do not count and a missed cut-off costs a business day
    assert promised == expected


def test_standard_skips_holidays() -> None:
    # given Tuesday and Wednesday are public holidays
    holidays = {day(4), day(5)}
    # when a Monday order is promised
    promised = promise_date("standard", MONDAY, cutoff_passed=False, holidays=holidays)
    # then the holidays are skipped like a weekend: Thu, Fri, Mon
    assert promised == day(10)


def test_standard_business_days_are_configurable() -> None:
    # given a slower carrier
    # when five business days are promised from Monday
    promised = promise_date("standard", MONDAY, cutoff_passed=False, standard_business_days=5)
    # then it is the next Monday
    assert promised == day(10)


@pytest.mark.parametrize(
    ("now", "cutoff_passed", "expected"),
    [(MONDAY, False, day(4)), (MONDAY, True, day(5)), (FRIDAY, False, day(8)), (SATURDAY, True, day(10))],
)
def test_next_day_is_the_calendar_day_after_dispatch(now: datetime, cutoff_passed: bool, expected: date) -> None:
    # given / when a next-day promise
    promised = promise_date("next_day", now, cutoff_passed)
    # then it counts calendar days, weekends included
    assert promised == expected


@pytest.mark.parametrize("method", ["same_day", "pickup"])
def test_same_day_and_pickup_are_today_or_tomorrow_after_the_cutoff(method: DeliveryMethod) -> None:
    # given / when same-day or pickup, before and after the cut-off
    before = promise_date(method, SATURDAY, cutoff_passed=False)
    after = promise_date(method, SATURDAY, cutoff_passed=True)
    # then today, else tomorrow
    assert before == day(8)
    assert after == day(9)


@pytest.mark.parametrize(
    ("now", "cutoff_passed", "expected"),
    [
        (MONDAY, False, day(8)),
        (MONDAY, True, day(8)),
        (FRIDAY, False, day(8)),  # leaves Friday, arrives Saturday
        (FRIDAY, True, day(15)),  # leaves Saturday, so the next weekend
        (SATURDAY, False, day(15)),
        (SUNDAY, False, day(15)),
    ],
)
def test_weekend_is_the_next_saturday_after_dispatch(now: datetime, cutoff_passed: bool, expected: date) -> None:
    # given / when a weekend promise
    promised = promise_date("weekend", now, cutoff_passed)
    # then it is the first Saturday after the dispatch day
    assert promised == expected
    assert promised.weekday() == 5


def test_business_day_helpers() -> None:
    # given a Saturday and a holiday Monday
    holidays = {day(10)}
    # when / then weekends and holidays are not business days, and counting starts after the start date
    assert not is_business_day(day(8)) and is_business_day(day(7))
    assert not is_business_day(day(10), holidays)
    assert next_business_day(day(8), holidays) == day(11)
    assert next_business_day(day(7)) == day(7)
    assert add_business_days(day(7), 1, holidays) == day(11)
    assert add_business_days(day(7), 0) == day(7)


METHODS: list[DeliveryMethod] = ["standard", "next_day", "same_day", "weekend", "pickup"]
MAX_DAYS = {"same_day": 1, "pickup": 1, "next_day": 2, "weekend": 8, "standard": 8}


@given(
    method=st.sampled_from(METHODS),
    now=st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2099, 12, 31)),
    cutoff_passed=st.booleans(),
)
def test_a_promise_is_never_in_the_past_nor_earlier_after_the_cutoff(
    method: DeliveryMethod, now: datetime, cutoff_passed: bool
) -> None:
    # given any moment and method
    # when promised
    promised = promise_date(method, now, cutoff_passed)
    # then it is today or later, within the method's longest wait, and missing the cut-off never makes it sooner
    assert now.date() <= promised <= now.date() + timedelta(days=MAX_DAYS[method])
    assert promise_date(method, now, cutoff_passed=True) >= promise_date(method, now, cutoff_passed=False)
    if method == "standard":
        assert is_business_day(promised)
