"""The tax port: what the order's documents ask of a tax calculator, and the built-in rules engine that answers by
default. An external tax service (Avalara, Vertex, a country's own) replaces it by implementing `TaxCalculator`."""

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Protocol

from domain.tax import DEFAULT_RULES, TaxableAmount, TaxBreakdown, TaxRules, apportion, document_tax


@dataclass(frozen=True)
class TaxPlace:
    """Where a document's goods go, as far as tax cares: the country, and the region when it is known; else the
    postal code, which in some countries names it."""

    country: str
    postal_code: str | None = None
    region: str | None = None


class TaxCalculator(Protocol):
    def document_tax(self, lines: Sequence[TaxableAmount], *, ship_to: TaxPlace, currency: str) -> TaxBreakdown:
        """The document's tax per rate, each rate rounded once (Japan's qualified-invoice rule)."""
        ...

    def apportion(self, amount: Decimal, of: TaxBreakdown, currency: str) -> TaxBreakdown:
        """An amount paid back (a refund, an appeasement) split pro rata across the rates of what it pays back;
        the parts add up to the amount."""
        ...


class RulesEngine:
    """The default calculator: `domain.tax` with its rules (Japan's consumption tax, Canada's GST/HST/PST), or the
    rules given. Pure computation, so it never fails for want of a network."""

    def __init__(self, rules: TaxRules = DEFAULT_RULES) -> None:
        self._rules = rules

    def document_tax(self, lines: Sequence[TaxableAmount], *, ship_to: TaxPlace, currency: str) -> TaxBreakdown:
        return document_tax(
            self._rules,
            lines,
            country=ship_to.country,
            postal_code=ship_to.postal_code,
            region=ship_to.region,
            currency=currency,
        )

    def apportion(self, amount: Decimal, of: TaxBreakdown, currency: str) -> TaxBreakdown:
        return apportion(amount, of, currency)
