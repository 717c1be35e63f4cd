"""The order read model's tax: per rate, for the order's current lines, each fulfillment order and its invoice, and
each refund or appeasement, computed when the summary is read.

It is computed at read time from what the read model keeps (each line's price, units and tax class as captured at
checkout, the address it ships to now, the currency) rather than stored: it follows every cancel, exchange and change
of address without a column to keep in step. A refund or appeasement is split pro rata across the rates of the
fulfillment order it pays back (of the whole order when it names none).
"""

from collections.abc import Iterable, Mapping
from decimal import Decimal
from typing import Any

from domain.tax import TaxableAmount, TaxBreakdown, line_taxes
from integrations.tax import TaxCalculator, TaxPlace
from store.read_model import LineSummary, RateTax


def _rates(breakdown: TaxBreakdown) -> list[RateTax]:
    return [RateTax(rate=r.rate, taxable=r.taxable, tax=r.tax) for r in breakdown.rates]


class OrderTaxes:
    """The tax of one order's documents, by the calculator, to where the order ships now."""

    def __init__(
        self,
        calculator: TaxCalculator,
        lines: Iterable[LineSummary],
        shipping_address: Mapping[str, Any],
        currency: str,
    ) -> None:
        self._calculator = calculator
        self._lines = {line.sku: line for line in lines}
        self._currency = currency
        self._place = TaxPlace(
            country=str(shipping_address.get("country", "")),
            postal_code=shipping_address.get("postal_code"),
            # the checkout's address has no region yet: the postal code names it where the rules need one
            region=shipping_address.get("region"),
        )
        self._current = {
            sku: line.ordered - line.canceled for sku, line in self._lines.items() if line.ordered > line.canceled
        }
        self._order = self._tax(self._current)
        self._by_fulfillment_order: dict[str, TaxBreakdown] = {}

    def _amounts(self, units: Mapping[str, int]) -> list[TaxableAmount]:
        return [
            TaxableAmount(self._lines[sku].unit_price * quantity, self._lines[sku].tax_class)
            for sku, quantity in units.items()
            if sku in self._lines
        ]

    def _tax(self, units: Mapping[str, int]) -> TaxBreakdown:
        return self._calculator.document_tax(self._amounts(units), ship_to=self._place, currency=self._currency)

    @property
    def prices_include_tax(self) -> bool:
        return self._order.prices_include_tax

    def of_order(self) -> list[RateTax]:
        """The units ordered and not canceled."""
        return _rates(self._order)

    def with_line_taxes(self, lines: Iterable[LineSummary]) -> list[LineSummary]:
        """Each line with its rate and its share of that rate's tax on the order (the rate's tax split pro rata by
        the lines' amounts, so they add up to it); a line with nothing left to pay for has none."""
        amounts = [a.amount for a in self._amounts(self._current)]
        rates = dict(zip(self._current, self._order.line_rates, strict=False))
        shares = dict(zip(self._current, line_taxes(amounts, self._order, self._currency), strict=False))
        return [
            line.model_copy(update={"tax_rate": rates.get(line.sku), "tax": shares.get(line.sku, Decimal(0))})
            for line in lines
        ]

    def of_fulfillment_order(self, fulfillment_order_id: str, lines: Iterable[Mapping[str, Any]]) -> list[RateTax]:
        """A fulfillment order's units, which its invoice bills."""
        units: dict[str, int] = {}
        for line in lines:
            units[line["sku"]] = units.get(line["sku"], 0) + int(line["quantity"])
        self._by_fulfillment_order[fulfillment_order_id] = breakdown = self._tax(units)
        return _rates(breakdown)

    def of_invoice(self, fulfillment_order_id: str) -> list[RateTax]:
        found = self._by_fulfillment_order.get(fulfillment_order_id)
        return [] if found is None else _rates(found)

    def paid_back(self, amount: Decimal, fulfillment_order_id: str | None) -> list[RateTax]:
        """A refund or appeasement, pro rata by rate over what it pays back."""
        of = self._by_fulfillment_order.get(fulfillment_order_id or "", self._order)
        return _rates(self._calculator.apportion(amount, of, self._currency))
