"""Tax rules and the arithmetic of a document's tax: rates by country, region and tax class, tax per rate rounded once.

Japan's qualified-invoice rule (適格請求書, from October 2023) asks for the tax of a document to be rounded once per
rate, never per line: a document's lines are grouped by rate, each group's tax is computed from its total and rounded
to the currency's minor unit. The same rule is applied everywhere here, and to every document (an order's summary,
an invoice, a refund), so what a customer is shown adds up the same way wherever it is shown.

The rates are examples to start from, not tax advice: `DEFAULT_RULES` holds Japan's consumption tax (10 % standard,
8 % reduced for food and drink, National Tax Agency) and Canada's GST/HST with each province's sales tax combined into
one rate (Canada Revenue Agency and the provinces, as of 2025; basic groceries zero-rated). Other rules are made by
building a `TaxRules` of their own.
"""

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Literal

from domain.money import minor_units, quantize

TaxClass = Literal["standard", "reduced"]
TAX_CLASSES: tuple[TaxClass, ...] = ("standard", "reduced")


@dataclass(frozen=True)
class Jurisdiction:
    """One country's rates: by tax class, and where a region sets its own, by region. `prices_include_tax`: whether
    the prices sold there are quoted with the tax in them (Japan's consumer prices) or with it added on top (Canada)."""

    rates: Mapping[TaxClass, Decimal]
    prices_include_tax: bool
    regional: Mapping[str, Mapping[TaxClass, Decimal]] = field(default_factory=dict)
    # the region a postal code is in, by its first character (Canada's forward sortation areas start with it)
    region_by_postal_prefix: Mapping[str, str] = field(default_factory=dict)

    def rate(self, region: str | None, tax_class: TaxClass) -> Decimal:
        rates = self.regional.get(region, self.rates) if region else self.rates
        return rates.get(tax_class, self.rates[tax_class])

    def region_of(self, postal_code: str) -> str | None:
        return self.region_by_postal_prefix.get(postal_code.strip()[:1].upper())


def _rates(standard: str, reduced: str = "0") -> dict[TaxClass, Decimal]:
    return {"standard": Decimal(standard), "reduced": Decimal(reduced)}


JAPAN = Jurisdiction(rates=_rates("0.10", "0.08"), prices_include_tax=True)

# GST 5 % everywhere; HST provinces one harmonized rate; BC, MB, SK and QC their own sales tax on top, added here into
# one rate per province. Basic groceries (the reduced class) are zero-rated.
CANADA = Jurisdiction(
    rates=_rates("0.05"),
    prices_include_tax=False,
    regional={
        "AB": _rates("0.05"),
        "BC": _rates("0.12"),
        "MB": _rates("0.12"),
        "NB": _rates("0.15"),
        "NL": _rates("0.15"),
        "NS": _rates("0.14"),
        "NT": _rates("0.05"),
        "ON": _rates("0.13"),
        "PE": _rates("0.15"),
        "QC": _rates("0.14975"),
        "SK": _rates("0.11"),
        "YT": _rates("0.05"),
    },
    region_by_postal_prefix={
        letter: province
        for letters, province in {
            "A": "NL",
            "B": "NS",
            "C": "PE",
            "E": "NB",
            "GHJ": "QC",
            "KLMNP": "ON",
            "R": "MB",
            "S": "SK",
            "T": "AB",
            "V": "BC",
            "Y": "YT",
            # X is both the Northwest Territories and Nunavut: GST alone in each
            "X": "NT",
        }.items()
        for letter in letters
    },
)


@dataclass(frozen=True)
class TaxRules:
    """Jurisdictions by ISO country code. A country without one is not taxed here (an export, zero-rated)."""

    countries: Mapping[str, Jurisdiction]

    def jurisdiction(self, country: str) -> Jurisdiction | None:
        return self.countries.get(country)


# Japan's tax is in its prices; Canada's is added on top, quoted at checkout and charged with the prices
DEFAULT_RULES = TaxRules({"JP": JAPAN, "CA": CANADA})


@dataclass(frozen=True)
class TaxableAmount:
    """An amount as priced (tax in it when prices include tax) and the class of what it is for."""

    amount: Decimal
    tax_class: TaxClass = "standard"


@dataclass(frozen=True)
class RateTax:
    """One rate of a document: the amount it applies to, as priced (tax included when prices include it), and the
    tax at that rate, rounded once."""

    rate: Decimal
    taxable: Decimal
    tax: Decimal


@dataclass(frozen=True)
class TaxBreakdown:
    """A document's tax, one entry per rate, lowest rate first; and the rate of each line it was given, in order."""

    prices_include_tax: bool
    rates: tuple[RateTax, ...] = ()
    line_rates: tuple[Decimal, ...] = ()

    @property
    def tax(self) -> Decimal:
        return sum((r.tax for r in self.rates), Decimal(0))

    @property
    def paid(self) -> Decimal:
        """What the customer pays for the document: its amounts, plus the tax when it was not in them."""
        taxable = sum((r.taxable for r in self.rates), Decimal(0))
        return taxable if self.prices_include_tax else taxable + self.tax


def exact_tax(amount: Decimal, rate: Decimal, *, prices_include_tax: bool) -> Decimal:
    """The tax in (inclusive: amount * r / (1 + r)) or on (exclusive: amount * r) an amount, not rounded."""
    return amount * rate / (1 + rate) if prices_include_tax else amount * rate


def tax_by_rate(amounts: Iterable[tuple[Decimal, Decimal]], *, prices_include_tax: bool, currency: str) -> TaxBreakdown:
    """The tax of a document's (rate, amount) pairs: amounts added up per rate, each rate's tax rounded once."""
    lines = list(amounts)
    per_rate: dict[Decimal, Decimal] = {}
    for rate, amount in lines:
        per_rate[rate] = per_rate.get(rate, Decimal(0)) + amount
    return TaxBreakdown(
        prices_include_tax,
        tuple(
            RateTax(
                rate=rate,
                taxable=quantize(total, currency),
                tax=quantize(exact_tax(total, rate, prices_include_tax=prices_include_tax), currency),
            )
            for rate, total in sorted(per_rate.items())
        ),
        tuple(rate for rate, _ in lines),
    )


def document_tax(
    rules: TaxRules,
    lines: Iterable[TaxableAmount],
    *,
    country: str,
    postal_code: str | None,
    currency: str,
    region: str | None = None,
) -> TaxBreakdown:
    """The tax of a document shipped to the country (and region: given, else from the postal code), in its currency.
    A country the rules do not know gives no rates: its prices are taken as they are."""
    place = rules.jurisdiction(country)
    if place is None:
        return TaxBreakdown(prices_include_tax=True)
    where = region or (place.region_of(postal_code) if postal_code else None)
    return tax_by_rate(
        ((place.rate(where, line.tax_class), line.amount) for line in lines),
        prices_include_tax=place.prices_include_tax,
        currency=currency,
    )


def apportion(amount: Decimal, of: TaxBreakdown, currency: str) -> TaxBreakdown:
    """An amount paid back (a refund, an appeasement) split across the rates of what it pays back, pro rata by what
    was paid at each rate, with the tax in each part rounded once. The parts add up to the amount exactly: the minor
    units rounding leaves over go to the parts that lost most to it (largest remainder). The amount is money paid, so
    its tax is always in it; `taxable` stays as the document priced it (net of tax for exclusive prices)."""
    paid = [(r.rate, r.taxable if of.prices_include_tax else r.taxable + r.tax) for r in of.rates]
    if sum((p for _, p in paid), Decimal(0)) <= 0:
        return TaxBreakdown(of.prices_include_tax)
    parts = []
    for (rate, _), part in zip(paid, split(amount, [p for _, p in paid], currency), strict=True):
        tax = quantize(exact_tax(part, rate, prices_include_tax=True), currency)
        parts.append(RateTax(rate=rate, taxable=part if of.prices_include_tax else part - tax, tax=tax))
    return TaxBreakdown(of.prices_include_tax, tuple(parts))


def split(amount: Decimal, weights: Sequence[Decimal], currency: str) -> list[Decimal]:
    """The amount in parts pro rata to the weights, in the currency's minor units, adding up to it exactly: the units
    rounding leaves over go to the parts that lost most to it (in a tie, the first). All zero weights: all zero."""
    whole = sum(weights, Decimal(0))
    if whole <= 0:
        return [Decimal(0) for _ in weights]
    unit = Decimal(1).scaleb(-minor_units(currency))
    units = int(quantize(amount, currency) / unit)
    shares = [Decimal(units) * w / whole for w in weights]
    floors = [int(s) for s in shares]
    by_remainder = sorted(range(len(weights)), key=lambda i: (floors[i] - shares[i], i))
    for i in by_remainder[: units - sum(floors)]:
        floors[i] += 1
    return [n * unit for n in floors]


def added_tax(amounts: Iterable[tuple[Decimal | None, Decimal]], currency: str) -> Decimal:
    """The tax added on top of (rate, amount) pairs priced without it: amounts added up per rate, each rate's tax
    rounded once, as a document of them says (a rate of None: nothing added, the price has it or is not taxed)."""
    per_rate: dict[Decimal, Decimal] = {}
    for rate, amount in amounts:
        if rate is not None:
            per_rate[rate] = per_rate.get(rate, Decimal(0)) + amount
    return sum((quantize(total * rate, currency) for rate, total in per_rate.items()), Decimal(0))


def line_taxes(amounts: Sequence[Decimal], of: TaxBreakdown, currency: str) -> list[Decimal]:
    """Each line's share of its rate's tax, the lines given in the order `of` was computed from: the rate's tax,
    rounded once, split pro rata by the lines' amounts, so a rate's lines add up to its tax on the document."""
    shares = [Decimal(0) for _ in amounts]
    for rate in of.rates:
        at_rate = [i for i, r in enumerate(of.line_rates) if r == rate.rate]
        for i, share in zip(at_rate, split(rate.tax, [amounts[i] for i in at_rate], currency), strict=True):
            shares[i] = share
    return shares
