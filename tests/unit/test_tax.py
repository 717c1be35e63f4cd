"""The tax rules engine: rates by country, region and class; tax rounded once per rate; refunds split pro rata."""

from dataclasses import replace
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from domain.money import minor_units
from domain.tax import (
    CANADA,
    DEFAULT_RULES,
    JAPAN,
    RateTax,
    TaxableAmount,
    TaxBreakdown,
    TaxClass,
    TaxRules,
    added_tax,
    apportion,
    document_tax,
    exact_tax,
    line_taxes,
    split,
    tax_by_rate,
)
from integrations.tax import RulesEngine, TaxCalculator, TaxPlace

D = Decimal


@pytest.mark.parametrize(
    ("country", "postal_code", "tax_class", "rate"),
    [
        ("JP", "100-0005", "standard", D("0.10")),
        ("JP", "100-0005", "reduced", D("0.08")),
        ("CA", "M5V 3L9", "standard", D("0.13")),  # Toronto: HST
        ("CA", "V6B 1A1", "standard", D("0.12")),  # Vancouver: GST + BC PST
        ("CA", "H2X 1Y4", "standard", D("0.14975")),  # Montreal: GST + QST
        ("CA", "T2P 1J9", "standard", D("0.05")),  # Calgary: GST alone
        ("CA", "M5V 3L9", "reduced", D("0")),  # basic groceries zero-rated
        ("CA", "", "standard", D("0.05")),  # no province known: the federal rate
    ],
)
def test_rate_by_country_region_and_class(country: str, postal_code: str, tax_class: TaxClass, rate: D) -> None:
    # given one line shipped to the place
    # when its tax is computed
    breakdown = document_tax(
        DEFAULT_RULES, [TaxableAmount(D(1000), tax_class)], country=country, postal_code=postal_code, currency="JPY"
    )
    # then it is taxed at that place's rate for its class
    assert [r.rate for r in breakdown.rates] == [rate]


def test_japan_prices_include_the_tax() -> None:
    # given food at 1080 and a toy at 1100, tax included, in yen
    lines = [TaxableAmount(D(1080), "reduced"), TaxableAmount(D(1100), "standard")]
    # when the document's tax is computed
    breakdown = document_tax(DEFAULT_RULES, lines, country="JP", postal_code="100-0005", currency="JPY")
    # then each rate's tax is taken out of its amount, and the customer pays the amounts as they are
    assert breakdown.rates == (RateTax(D("0.08"), D(1080), D(80)), RateTax(D("0.10"), D(1100), D(100)))
    assert breakdown.prices_include_tax
    assert breakdown.paid == D(2180)


def test_canada_adds_the_tax_on_top() -> None:
    # given a 19.99 CAD line shipped to Ontario
    lines = [TaxableAmount(D("19.99"))]
    # when its tax is computed
    breakdown = document_tax(DEFAULT_RULES, lines, country="CA", postal_code="K1A 0B1", currency="CAD")
    # then 13 % is added on top, to the cent
    assert breakdown.rates == (RateTax(D("0.13"), D("19.99"), D("2.60")),)
    assert breakdown.paid == D("22.59")


def test_japanese_prices_may_be_quoted_net() -> None:
    # given rules where Japan's prices are quoted without the tax (a B2B price list)
    rules = TaxRules({"JP": replace(JAPAN, prices_include_tax=False)})
    # when a 1000-yen line is taxed
    breakdown = document_tax(rules, [TaxableAmount(D(1000))], country="JP", postal_code=None, currency="JPY")
    # then 10 % is added on top
    assert breakdown.rates == (RateTax(D("0.10"), D(1000), D(100)),)
    assert breakdown.paid == D(1100)


def test_the_region_given_wins_over_the_postal_code() -> None:
    # given a Toronto postal code but the region named as British Columbia
    lines = [TaxableAmount(D(100))]
    # when the tax is computed
    breakdown = document_tax(DEFAULT_RULES, lines, country="CA", postal_code="M5V", currency="CAD", region="BC")
    # then BC's rate applies
    assert breakdown.rates[0].rate == D("0.12")


def test_a_country_without_rules_is_not_taxed() -> None:
    # given an order shipped to a country the rules do not know (an export)
    # when its tax is computed
    breakdown = document_tax(DEFAULT_RULES, [TaxableAmount(D(100))], country="US", postal_code="1", currency="USD")
    # then it has no rates and is paid as priced
    assert breakdown.rates == ()
    assert breakdown.tax == 0


def test_rounding_once_per_rate_is_not_rounding_per_line() -> None:
    # given three 105-yen snacks at 8 % on separate lines, tax included: 7.78 yen each
    lines = [(D("0.08"), D(105))] * 3
    # when the document's tax is computed
    breakdown = tax_by_rate(lines, prices_include_tax=True, currency="JPY")
    # then the rate's total 315 is rounded once (23.33 -> 23), where rounding each line would give 3 x 8 = 24
    assert breakdown.rates == (RateTax(D("0.08"), D(315), D(23)),)


@pytest.mark.parametrize(
    ("amounts", "expected"),
    [
        # three snacks share their rate's 23 yen; the one yen left over goes to the first in a tie
        ([D(105), D(105), D(105)], [D(8), D(8), D(7)]),
        # a toy alone at its rate has all of its rate's tax
        ([D(105), D(1100)], [D(8), D(100)]),
    ],
)
def test_each_line_has_its_share_of_its_rates_tax(amounts: list[D], expected: list[D]) -> None:
    # given a document of snacks at 8 % and perhaps a toy at 10 %, tax included
    rates = [D("0.08"), D("0.08"), D("0.08")] if len(amounts) == 3 else [D("0.08"), D("0.10")]
    breakdown = tax_by_rate(zip(rates, amounts, strict=True), prices_include_tax=True, currency="JPY")
    # when each line's tax is asked for
    shares = line_taxes(amounts, breakdown, "JPY")
    # then the lines share their rate's tax, rounded once, and add up to it
    assert shares == expected
    assert sum(shares) == breakdown.tax


def test_a_split_over_nothing_is_all_zero() -> None:
    # given weights that are all zero
    # when an amount is split over them
    # then every part is zero
    assert split(D(10), [D(0), D(0)], "JPY") == [D(0), D(0)]


@pytest.mark.parametrize(
    ("amount", "expected"),
    [
        # half the refund at each rate, by what was paid at each
        (D(1000), [RateTax(D("0.08"), D(500), D(37)), RateTax(D("0.10"), D(500), D(45))]),
        # one yen left over goes to the part that lost most to rounding; in a tie, the lower rate
        (D(1), [RateTax(D("0.08"), D(1), D(0)), RateTax(D("0.10"), D(0), D(0))]),
        (D(0), [RateTax(D("0.08"), D(0), D(0)), RateTax(D("0.10"), D(0), D(0))]),
    ],
)
def test_a_refund_is_split_pro_rata_by_rate(amount: D, expected: list[RateTax]) -> None:
    # given an invoice of 2000 yen, half at each rate
    invoice = tax_by_rate([(D("0.08"), D(1000)), (D("0.10"), D(1000))], prices_include_tax=True, currency="JPY")
    # when part of it is refunded
    parts = apportion(amount, invoice, "JPY")
    # then the refund is split by rate with its tax in each part
    assert list(parts.rates) == expected


def test_an_exclusive_refund_is_split_by_what_was_paid_with_tax() -> None:
    # given 100 CAD at 13 % (113 paid) refunded in full
    invoice = tax_by_rate([(D("0.13"), D(100))], prices_include_tax=False, currency="CAD")
    # when all that was paid is refunded
    parts = apportion(invoice.paid, invoice, "CAD")
    # then the refund gives back the tax and the net as invoiced
    assert parts.rates == (RateTax(D("0.13"), D("100.00"), D("13.00")),)


def test_nothing_to_apportion_over_gives_no_parts() -> None:
    # given a document with nothing paid
    # when an amount is apportioned over it
    # then there are no parts to give
    assert apportion(D(10), TaxBreakdown(prices_include_tax=True), "JPY").rates == ()


def test_the_rules_engine_is_a_tax_calculator() -> None:
    # given the default adapter
    calculator: TaxCalculator = RulesEngine()
    # when it is asked for a Japanese order's tax
    breakdown = calculator.document_tax(
        [TaxableAmount(D(1100))], ship_to=TaxPlace(country="JP", postal_code="100-0005"), currency="JPY"
    )
    # then it answers with the engine's rates
    assert breakdown.rates == (RateTax(D("0.10"), D(1100), D(100)),)
    assert calculator.apportion(D(550), breakdown, "JPY").rates == (RateTax(D("0.10"), D(550), D(50)),)


RATES = st.sampled_from([D("0"), D("0.05"), D("0.08"), D("0.10"), D("0.13"), D("0.14975")])
CURRENCIES = st.sampled_from(["JPY", "CAD", "KWD"])


@st.composite
def documents(draw: st.DrawFn) -> tuple[str, list[tuple[D, D]]]:
    currency = draw(CURRENCIES)
    places = minor_units(currency)
    cents = st.integers(min_value=0, max_value=10**9)
    lines = draw(st.lists(st.tuples(RATES, cents.map(lambda n: D(n).scaleb(-places))), min_size=1, max_size=20))
    return currency, lines


@given(documents(), st.booleans())
def test_rounding_once_per_rate_stays_within_half_a_minor_unit_per_rate(
    document: tuple[str, list[tuple[D, D]]], inclusive: bool
) -> None:
    # given any document's lines at any rates
    currency, lines = document
    # when its tax is computed
    breakdown = tax_by_rate(lines, prices_include_tax=inclusive, currency=currency)
    # then the tax differs from the exact sum by at most half a minor unit per rate
    exact = sum((exact_tax(a, r, prices_include_tax=inclusive) for r, a in lines), D(0))
    half = D(1).scaleb(-minor_units(currency)) / 2
    assert abs(breakdown.tax - exact) <= half * len(breakdown.rates)
    assert len({r.rate for r in breakdown.rates}) == len(breakdown.rates)


@given(documents(), st.booleans(), st.integers(min_value=0, max_value=10**10))
def test_pro_rata_parts_add_up_to_the_amount(
    document: tuple[str, list[tuple[D, D]]], inclusive: bool, units: int
) -> None:
    # given any document with something paid, and an amount in the currency's minor units
    currency, lines = document
    breakdown = tax_by_rate(lines, prices_include_tax=inclusive, currency=currency)
    amount = D(units).scaleb(-minor_units(currency))
    # when the amount is apportioned over its rates
    parts = apportion(amount, breakdown, currency)
    # then the parts add up to the amount exactly, and none takes more tax than it holds
    if breakdown.paid > 0:
        assert sum((p.taxable + (0 if inclusive else p.tax) for p in parts.rates), D(0)) == amount
    for part in parts.rates:
        assert 0 <= part.tax <= part.taxable + (0 if inclusive else part.tax)


@given(documents(), st.booleans())
def test_the_lines_shares_add_up_to_each_rates_tax(document: tuple[str, list[tuple[D, D]]], inclusive: bool) -> None:
    # given any document's lines at any rates
    currency, lines = document
    breakdown = tax_by_rate(lines, prices_include_tax=inclusive, currency=currency)
    # when each line's share of its rate's tax is taken
    shares = line_taxes([a for _, a in lines], breakdown, currency)
    # then per rate the shares add up to the rate's tax on the document
    for rate in breakdown.rates:
        assert sum((s for (r, _), s in zip(lines, shares, strict=True) if r == rate.rate), D(0)) == rate.tax


def test_the_default_rules_add_canadas_tax_on_top_and_keep_japans_in_the_price() -> None:
    # given the default rules
    # when an order ships to Ontario, where tax is added on top of prices (13 % HST)
    breakdown = document_tax(DEFAULT_RULES, [TaxableAmount(D(100))], country="CA", postal_code="M5V", currency="CAD")
    # then its tax is on top of the price, and Japan's stays in its prices
    assert [(r.rate, r.tax) for r in breakdown.rates] == [(D("0.13"), D("13.00"))] and breakdown.paid == D("113.00")
    assert DEFAULT_RULES.jurisdiction("JP") is JAPAN and DEFAULT_RULES.jurisdiction("CA") is CANADA


@pytest.mark.parametrize(
    ("pairs", "currency", "added"),
    [
        ([], "CAD", "0"),
        ([(None, "100")], "CAD", "0"),  # the price has its tax in it
        ([("0.13", "10.01"), ("0.13", "10.01")], "CAD", "2.60"),  # 20.02 x 13 % = 2.6026, rounded once
        ([("0.05", "0.10"), ("0.13", "0.10")], "CAD", "0.02"),  # 0.005 and 0.013: each rate rounded on its own
        ([("0.14975", "999.99"), (None, "50")], "CAD", "149.75"),
    ],
)
def test_the_tax_added_on_top_is_rounded_once_per_rate(
    pairs: list[tuple[str | None, str]], currency: str, added: str
) -> None:
    # given amounts priced without their tax, at their rates
    # when the tax added on top is taken
    tax = added_tax(((D(r) if r else None, D(a)) for r, a in pairs), currency)
    # then each rate's amounts are added up and taxed once
    assert tax == D(added)
