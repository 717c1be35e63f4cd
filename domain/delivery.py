"""When an order is promised to arrive, per delivery method.

The rules are deliberately calendar-simple (no carrier timetables): they are what the storefront shows at
checkout and what the order records as its promise, so they must be predictable and easy to explain.
"""

from collections.abc import Set
from datetime import date, datetime, timedelta

from domain.models import DeliveryMethod

STANDARD_BUSINESS_DAYS = 3
SATURDAY = 5  # date.weekday()


def is_business_day(day: date, holidays: Set[date] = frozenset()) -> bool:
    """Monday to Friday, except the given holidays."""
    return day.weekday() < SATURDAY and day not in holidays


def add_business_days(start: date, days: int, holidays: Set[date] = frozenset()) -> date:
    """The date `days` business days after `start` (`start` itself never counts)."""
    day = start
    while days > 0:
        day += timedelta(days=1)
        if is_business_day(day, holidays):
            days -= 1
    return day


def next_business_day(start: date, holidays: Set[date] = frozenset()) -> date:
    """`start` if it is a business day, else the first business day after it."""
    day = start
    while not is_business_day(day, holidays):
        day += timedelta(days=1)
    return day


def promise_date(
    delivery_method: DeliveryMethod,
    now: datetime,
    cutoff_passed: bool,
    *,
    holidays: Set[date] = frozenset(),
    standard_business_days: int = STANDARD_BUSINESS_DAYS,
) -> date:
    """The date promised to the customer; `now` is the shipping location's local time.

    The order can leave today if the location's cut-off has not passed, otherwise tomorrow (the "dispatch day").
    - standard: `standard_business_days` (3) business days after the first business day on or after the
      dispatch day; weekends and `holidays` do not count, because parcel carriers do not move then.
    - next_day: the calendar day after the dispatch day (express carriers deliver every day).
    - same_day: the dispatch day: today, or tomorrow once the cut-off has passed (routing never plans same-day
      after a cut-off, so this only happens when the caller asks anyway).
    - weekend: the first Saturday after the dispatch day; ordering on a Friday before the cut-off still makes
      tomorrow, on a Saturday or Sunday it is the following Saturday.
    - pickup: ready at the store on the dispatch day: today, or tomorrow once the cut-off has passed.
    """
    dispatch = now.date() + timedelta(days=1 if cutoff_passed else 0)
    if delivery_method == "standard":
        return add_business_days(next_business_day(dispatch, holidays), standard_business_days, holidays)
    if delivery_method == "next_day":
        return dispatch + timedelta(days=1)
    if delivery_method == "weekend":
        return dispatch + timedelta(days=(SATURDAY - dispatch.weekday() - 1) % 7 + 1)
    return dispatch  # same_day and pickup
