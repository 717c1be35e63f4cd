"""The checkout request and its parts, validated at the edge and carried into the workflow."""

from decimal import Decimal
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from domain.money import quantize

Channel = Literal["web", "app", "store", "b2b", "agent"]
DeliveryMethod = Literal["standard", "next_day", "same_day", "weekend", "pickup"]

ORDER_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Customer(Strict):
    id: str = Field(min_length=1, max_length=64)
    email: str = Field(pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$", max_length=254)
    name: str = Field(min_length=1, max_length=200)
    phone: str | None = Field(default=None, max_length=32)


class Address(Strict):
    name: str = Field(min_length=1, max_length=200)
    line1: str = Field(min_length=1, max_length=200)
    line2: str | None = Field(default=None, max_length=200)
    city: str = Field(min_length=1, max_length=100)
    postal_code: str = Field(min_length=1, max_length=20)
    country: str = Field(pattern=r"^[A-Z]{2}$")
    latitude: float | None = Field(default=None, ge=-90, le=90)
    longitude: float | None = Field(default=None, ge=-180, le=180)


class LineRequest(Strict):
    sku: str = Field(min_length=1, max_length=64)
    quantity: int = Field(gt=0, le=10_000)
    unit_price: Decimal = Field(ge=0, max_digits=14)


class PaymentRequest(Strict):
    method: Literal["card"] = "card"
    token: str = Field(min_length=1, max_length=128)


class PlaceOrder(Strict):
    """What a storefront posts at checkout."""

    order_id: str = Field(pattern=ORDER_ID_PATTERN)
    channel: Channel
    customer: Customer
    currency: str = Field(pattern=r"^[A-Z]{3}$")
    lines: list[LineRequest] = Field(min_length=1, max_length=200)
    shipping_address: Address
    delivery_method: DeliveryMethod = "standard"
    pickup_location_id: str | None = None
    payment: PaymentRequest

    @field_validator("lines")
    @classmethod
    def _unique_skus(cls, lines: list[LineRequest]) -> list[LineRequest]:
        skus = [line.sku for line in lines]
        if len(set(skus)) != len(skus):
            raise ValueError("each sku may appear on one line only; add up the quantities")
        return lines

    @model_validator(mode="after")
    def _pickup_needs_location(self) -> "PlaceOrder":
        if self.delivery_method == "pickup" and not self.pickup_location_id:
            raise ValueError("delivery_method 'pickup' needs pickup_location_id")
        for line in self.lines:
            if quantize(line.unit_price, self.currency) != line.unit_price:
                raise ValueError(
                    f"unit_price {line.unit_price} of {line.sku} has more decimals than {self.currency} allows"
                )
        return self

    @property
    def total(self) -> Decimal:
        return quantize(sum((ln.unit_price * ln.quantity for ln in self.lines), Decimal(0)), self.currency)


class SkuQuantity(Strict):
    sku: str
    quantity: int = Field(gt=0)
