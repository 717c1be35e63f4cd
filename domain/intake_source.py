"""What a storefront platform said of an order taken in from it, where the OMS keeps no field of its own.

The intake routes (starter/api/intake.py) attach it to the order, so the order's history records it with the order:
the platform's own total, shipping price and tax are kept for reference (the OMS computes its own tax and does not
charge shipping), as are the lines it did not take (a gift card the platform issues itself).
"""

from decimal import Decimal
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

Platform = Literal["shopify", "sfcc"]
# What the platform said in words: kept for a person to read, clipped to these bounds by the mappers.
NOTE_LENGTH = 200
NotFulfilled = Annotated[str, Field(max_length=NOTE_LENGTH)]


class IntakeSource(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    platform: Platform
    # the platform's own id of the order (Shopify's order id, B2C Commerce's order_no)
    order_id: str = Field(min_length=1, max_length=64)
    # what the customer was shown as the order's number (Shopify's `#1001`)
    order_name: str | None = Field(default=None, max_length=64)
    total: Decimal | None = None
    shipping_price: Decimal | None = None
    shipping_method: str | None = Field(default=None, max_length=NOTE_LENGTH)
    tax_total: Decimal | None = None
    taxes_included: bool | None = None
    # Shopify's financial_status, B2C Commerce's payment_status
    financial_status: str | None = Field(default=None, max_length=64)
    # the shipping address's state, province or prefecture, which the OMS's address has no field for
    region: str | None = Field(default=None, max_length=100)
    # each line of the platform's order the OMS does not fulfil, and why
    not_fulfilled: list[NotFulfilled] = Field(default_factory=list)
