"""Fraud screening rules: a pure, deterministic score, so the workflow runs them inline."""

from decimal import Decimal

from pydantic import BaseModel, Field

from domain.models import Address, PlaceOrder


class FraudRules(BaseModel):
    """What the screen counts as unusual, per currency; the merchant's settings, carried in each order's input
    so an order is always screened by the rules it was placed under."""

    # from this score on an order waits on hold for an agent's review
    review_threshold: int = Field(default=70, ge=1, le=100)
    # order totals above these amounts are unusual for a consumer order; other currencies use `large_default`
    large_order: dict[str, Decimal] = Field(
        default_factory=lambda: {"JPY": Decimal(500_000), "USD": Decimal(5_000), "EUR": Decimal(5_000)}
    )
    large_default: Decimal = Decimal(5_000)
    # a currency's home country: an address elsewhere for it is unusual
    home_country: dict[str, str] = Field(default_factory=lambda: {"JPY": "JP"})
    bulk_quantity: int = Field(default=20, ge=1)


# The rules orders were screened by before they were configurable.
DEFAULT_RULES = FraudRules()


class FraudScore(BaseModel):
    score: int
    reasons: list[str]
    threshold: int = DEFAULT_RULES.review_threshold

    @property
    def needs_review(self) -> bool:
        return self.score >= self.threshold


def screen(order: PlaceOrder, rules: FraudRules = DEFAULT_RULES, ship_to: Address | None = None) -> FraudScore:
    """Score the order, shipped to `ship_to` when its address has changed since checkout."""
    address = ship_to or order.shipping_address
    score, reasons = 0, list[str]()
    if order.total > rules.large_order.get(order.currency, rules.large_default):
        score, reasons = score + 40, [*reasons, "large order"]
    if any(line.quantity >= rules.bulk_quantity for line in order.lines):
        score, reasons = score + 25, [*reasons, "bulk quantity"]
    if order.customer.name.strip().lower() != address.name.strip().lower():
        score, reasons = score + 10, [*reasons, "ship-to name differs"]
    home = rules.home_country.get(order.currency)
    if home is not None and address.country != home:
        score, reasons = score + 20, [*reasons, "foreign address for a domestic currency"]
    return FraudScore(score=min(score, 100), reasons=reasons, threshold=rules.review_threshold)
