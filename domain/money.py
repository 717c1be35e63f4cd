"""Money as Decimal with an ISO-4217 currency; amounts are rounded to the currency's minor unit."""

from decimal import ROUND_HALF_UP, Decimal

# Currencies whose minor unit is not the usual two digits.
_MINOR_UNITS = {"JPY": 0, "KRW": 0, "VND": 0, "CLP": 0, "ISK": 0, "BHD": 3, "KWD": 3, "JOD": 3}


def minor_units(currency: str) -> int:
    return _MINOR_UNITS.get(currency, 2)


def quantize(amount: Decimal, currency: str) -> Decimal:
    exponent = Decimal(1).scaleb(-minor_units(currency))
    return amount.quantize(exponent, rounding=ROUND_HALF_UP)


def fmt(amount: Decimal, currency: str) -> str:
    return f"{currency} {quantize(amount, currency)}"
