"""Fraud screening rules: a pure, deterministic score, so the workflow runs them inline."""

from decimal import Decimal

from pydantic import BaseModel

from domain.models import PlaceOrder

# From this score on an order waits on hold for an agent's review.
REVIEW_THRESHOLD = 70

# Order totals above these amounts (per currency) are unusual for a consumer order.
_LARGE_ORDER = {"JPY": Decimal(500_000), "USD": Decimal(5_000), "EUR": Decimal(5_000)}


class FraudScore(BaseModel):
    score: int
    reasons: list[str]

    @property
    def needs_review(self) -> bool:
        return self.score >= REVIEW_THRESHOLD


def screen(order: PlaceOrder) -> FraudScore:
    score, reasons = 0, list[str]()
    if order.total > _LARGE_ORDER.get(order.currency, Decimal(5_000)):
        score, reasons = score + 40, [*reasons, "large order"]
    if any(line.quantity >= 20 for line in order.lines):
        score, reasons = score + 25, [*reasons, "bulk quantity"]
    if order.customer.name.strip().lower() != order.shipping_address.name.strip().lower():
        score, reasons = score + 10, [*reasons, "ship-to name differs"]
    if order.shipping_address.country != "JP" and order.currency == "JPY":
        score, reasons = score + 20, [*reasons, "foreign address for a domestic currency"]
    return FraudScore(score=min(score, 100), reasons=reasons)
