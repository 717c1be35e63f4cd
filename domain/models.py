"""The checkout request and its parts, validated at the edge and carried into the workflow."""

from datetime import date
from decimal import Decimal
from typing import Annotated, Literal, Protocol, TypeVar

from pydantic import AfterValidator, BaseModel, ConfigDict, Discriminator, Field, Tag, field_validator, model_validator
from pydantic.json_schema import SkipJsonSchema

from domain import ids
from domain.intake_source import IntakeSource
from domain.money import CURRENCIES, known_currency, minor_unit, quantize
from domain.tax import TaxClass, added_tax

Channel = Literal["web", "app", "store", "b2b", "agent"]
Locale = Literal["ja", "en"]
DeliveryMethod = Literal["standard", "next_day", "same_day", "weekend", "pickup"]

ORDER_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"

# The largest amount the money columns hold (NUMERIC(18, 4), store/tables.py MONEY) in whole units of any currency:
# a bound on every price and every total the API accepts.
MAX_AMOUNT = Decimal(10**14 - 1)


# No spaces, by an explicit list: `\s` means other characters to the validator (Unicode) than to a JSON Schema
# client (ECMAScript), which would then send e-mails the document allows and the API refuses.
_NOT_AT_OR_SPACE = r"[^@ \t\n\r\f\v\u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000\ufeff]"
EMAIL_PATTERN = rf"^{_NOT_AT_OR_SPACE}+@{_NOT_AT_OR_SPACE}+\.{_NOT_AT_OR_SPACE}+$"


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Customer(Strict):
    id: str = Field(min_length=1, max_length=64)
    email: str = Field(pattern=EMAIL_PATTERN, max_length=254)
    name: str = Field(min_length=1, max_length=200)
    phone: str | None = Field(default=None, max_length=32)
    # the language of what the customer is sent (e-mail, SMS); orders placed before it was asked for read as `ja`
    locale: Locale = "ja"


class Address(Strict):
    name: str = Field(min_length=1, max_length=200)
    line1: str = Field(min_length=1, max_length=200)
    line2: str | None = Field(default=None, max_length=200)
    city: str = Field(min_length=1, max_length=100)
    postal_code: str = Field(min_length=1, max_length=20)
    country: str = Field(pattern=r"^[A-Z]{2}$")
    latitude: float | None = Field(default=None, ge=-90, le=90)
    longitude: float | None = Field(default=None, ge=-180, le=180)


# Bounds of what a request may name: a sku as its column holds it, units of one line, lines in one request.
SKU_LENGTH = 64
MAX_QUANTITY = 10_000
MAX_LINES = 200
Sku = Annotated[str, Field(min_length=1, max_length=SKU_LENGTH)]
Quantity = Annotated[int, Field(gt=0, le=MAX_QUANTITY)]
Amount = Annotated[Decimal, Field(ge=0, le=MAX_AMOUNT)]
LocationId = Annotated[str, Field(min_length=1, max_length=64)]


class NamesSku(Protocol):
    @property
    def sku(self) -> str: ...


L = TypeVar("L", bound=NamesSku)


def one_line_per_sku(lines: list[L]) -> list[L]:
    """A request's lines name each sku once: two lines of one sku would be checked one at a time and could
    overdraw what the order holds."""
    seen: set[str] = set()
    for line in lines:
        if line.sku in seen:
            raise ValueError(f"each sku may appear on one line only; {line.sku} is named twice: add up the quantities")
        seen.add(line.sku)
    return lines


class LineRequest(Strict):
    sku: Sku
    quantity: Quantity
    unit_price: Amount
    # the product's tax class as the catalog had it at checkout; set by the API from the catalog, never taken from a
    # body, so it is not part of the contract's schema. None: placed before it was captured (the read model then
    # takes the catalog's)
    tax_class: SkipJsonSchema[TaxClass | None] = None
    # where prices are quoted without tax (Canada), the rate added on top, as the tax adapter quoted it at checkout
    # for the ship-to; set by the API, never taken from a body. None: the price has its tax in it, or is not taxed
    tax_rate: SkipJsonSchema[Decimal | None] = None


class CardPayment(Strict):
    method: Literal["card"] = "card"
    token: str = Field(min_length=1, max_length=128)


AccountId = Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")]


class InvoicePayment(Strict):
    """Paid on a B2B account's net terms: no card is authorized; the account's credit limit holds the total."""

    method: Literal["invoice"]
    account_id: AccountId
    purchase_order: str | None = Field(default=None, min_length=1, max_length=64)
    # the account's terms (`net30`) when the order was placed, which its invoices' due dates follow; set by the API
    # from the account, never taken from a body
    terms: SkipJsonSchema[str | None] = None

    @property
    def token(self) -> str:
        """What the order's payment steps name: the account's credit, in the OMS's own ledger."""
        return ids.account_payment_reference(self.account_id)


class PrepaidPayment(Strict):
    """Paid where the customer checked out (a storefront platform's own payment): the OMS records it in its own
    ledger and captures against it as units ship. Only the intake routes place such orders."""

    method: Literal["prepaid"]
    platform: Literal["shopify", "sfcc"]
    reference: str = Field(min_length=1, max_length=64, pattern=r"^[^\x00:]+$")

    @property
    def token(self) -> str:
        return ids.prepaid_payment_reference(self.platform, self.reference)


def _payment_method(value: object) -> str:
    # a body that names no method pays by card, as before other methods existed
    if isinstance(value, dict):
        return str(value.get("method", "card"))
    return str(getattr(value, "method", "card"))


PaymentRequest = Annotated[
    Annotated[CardPayment, Tag("card")]
    | Annotated[InvoicePayment, Tag("invoice")]
    | Annotated[PrepaidPayment, Tag("prepaid")],
    Discriminator(_payment_method),
]


class PlaceOrder(Strict):
    """What a storefront posts at checkout."""

    order_id: str = Field(pattern=ORDER_ID_PATTERN)
    channel: Channel
    customer: Customer
    currency: Annotated[
        str, Field(pattern=r"^[A-Z]{3}$", json_schema_extra={"enum": CURRENCIES}), AfterValidator(known_currency)
    ]
    lines: list[LineRequest] = Field(min_length=1, max_length=MAX_LINES)
    shipping_address: Address
    delivery_method: DeliveryMethod = "standard"
    pickup_location_id: LocationId | None = None
    payment: PaymentRequest
    # the day a B2B buyer wants it delivered, which the locations and the documents are told; none: as soon as may be
    requested_delivery_date: date | None = None
    # the agent who placed it for the customer (`agent:<id>`), which the timeline records; set by the API from the
    # caller's token, never taken from a body, so it is not part of the contract's schema
    placed_by: SkipJsonSchema[str | None] = None
    # what the storefront platform said of an order taken from it (/v1/intake/*) that the OMS does not model; set by
    # the intake routes, never taken from a checkout body, so it is not part of the contract's schema
    source: SkipJsonSchema[IntakeSource | None] = None

    @field_validator("lines")
    @classmethod
    def _unique_skus(cls, lines: list[LineRequest]) -> list[LineRequest]:
        return one_line_per_sku(lines)

    @model_validator(mode="after")
    def _pickup_needs_location(self) -> "PlaceOrder":
        if self.delivery_method == "pickup" and not self.pickup_location_id:
            raise ValueError("delivery_method 'pickup' needs pickup_location_id")
        if self.amount_to_authorize > MAX_AMOUNT:
            raise ValueError(
                f"the order total {self.amount_to_authorize} is above the {MAX_AMOUNT} an order may come to"
            )
        for line in self.lines:
            if quantize(line.unit_price, self.currency) != line.unit_price:
                raise ValueError(
                    f"unit_price {line.unit_price} of {line.sku} has more decimals than {self.currency} allows"
                )
        return self

    @property
    def total(self) -> Decimal:
        """The lines' prices: with their tax in them, or (where tax is added on top) without it."""
        return quantize(sum((ln.unit_price * ln.quantity for ln in self.lines), Decimal(0)), self.currency)

    @property
    def tax_added(self) -> Decimal:
        """The tax added on top of prices quoted without it, rounded once per rate for the whole order."""
        return added_tax(((ln.tax_rate, ln.unit_price * ln.quantity) for ln in self.lines), self.currency)

    @property
    def amount_to_authorize(self) -> Decimal:
        """What checkout authorizes: the prices and the tax added on top. Each shipment's invoice rounds its own
        tax, so shipments in several parts may add up to a minor unit per taxed line more: that much is held too,
        and what no capture takes is voided."""
        taxed = sum(1 for ln in self.lines if ln.tax_rate)
        return self.total + self.tax_added + taxed * minor_unit(self.currency)


class SkuQuantity(Strict):
    sku: Sku
    quantity: int = Field(gt=0)


class NamesUnits(NamesSku, Protocol):
    @property
    def quantity(self) -> int: ...


U = TypeVar("U", bound=NamesUnits)


def requested_units(lines: list[U]) -> list[U]:
    """What a request names (cancel, return, reship, exchange, a return received): each sku once, at most a line's
    worth of it. The order's own SkuQuantity lines are not bounded so: an exchange may take a line past one request."""
    for line in one_line_per_sku(lines):
        if line.quantity > MAX_QUANTITY:
            raise ValueError(
                f"{line.sku}: {line.quantity} units asked; a request names at most {MAX_QUANTITY} of a sku"
            )
    return lines


# The lines of a service request, as the API and the workflow's messages both take them.
RequestedLines = Annotated[
    list[SkuQuantity],
    Field(
        min_length=1,
        max_length=MAX_LINES,
        json_schema_extra=lambda s: s.update(
            items={"allOf": [s["items"], {"properties": {"quantity": {"maximum": MAX_QUANTITY}}}]}
        ),
    ),
    AfterValidator(requested_units),
]
