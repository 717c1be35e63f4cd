"""Money as Decimal with an ISO-4217 currency; amounts are rounded to the currency's minor unit."""

from decimal import ROUND_HALF_UP, Decimal

from iso4217 import Currency


def is_currency(code: str) -> bool:
    """An ISO-4217 currency money can be kept in: not a fund, a metal or a testing code (they have no minor unit)."""
    try:
        return Currency(code).exponent is not None
    except ValueError:
        return False


# Every code is_currency takes, for the API's schema.
CURRENCIES = sorted({c.code for c in Currency if c.exponent is not None})


def minor_units(currency: str) -> int:
    """The currency's minor unit as ISO 4217 has it: JPY 0, USD 2, KWD 3."""
    exponent = Currency(currency).exponent
    if exponent is None:
        raise ValueError(f"{currency} is not a currency money is kept in")
    return int(exponent)


def minor_unit(currency: str) -> Decimal:
    """The smallest amount of the currency: 1 yen, 0.01 dollar."""
    return Decimal(1).scaleb(-minor_units(currency))


def known_currency(code: str) -> str:
    """For validators: the code when it is an ISO-4217 currency, else a clear error."""
    if not is_currency(code):
        raise ValueError(f"{code!r} is not an ISO-4217 currency")
    return code


def quantize(amount: Decimal, currency: str) -> Decimal:
    exponent = Decimal(1).scaleb(-minor_units(currency))
    return amount.quantize(exponent, rounding=ROUND_HALF_UP)


def fmt(amount: Decimal, currency: str) -> str:
    return f"{currency} {quantize(amount, currency)}"
