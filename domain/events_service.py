"""Events of service after checkout: address changes, returns, refunds, exchanges, appeasements, and what needs
a person."""

from decimal import Decimal
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from domain.events_base import Event
from domain.models import Address, SkuQuantity


class AddressChanged(Event):
    type: Literal["AddressChanged"] = "AddressChanged"
    address: Address
    reason: str


class ReturnRequested(Event):
    type: Literal["ReturnRequested"] = "ReturnRequested"
    return_id: str
    rma: str
    lines: list[SkuQuantity]
    reason: str
    method: Literal["mail", "in_store"]
    location_id: str
    label: str | None
    refund_amount: Decimal


class ReturnedLine(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    sku: str
    quantity: int = Field(gt=0)
    condition: Literal["resellable", "damaged"]


class ReturnReceived(Event):
    type: Literal["ReturnReceived"] = "ReturnReceived"
    return_id: str
    lines: list[ReturnedLine]


class RefundPart(BaseModel):
    """One refund against one capture: money goes back the way it came."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    fulfillment_order_id: str
    transaction_id: str
    amount: Decimal


class RefundIssued(Event):
    type: Literal["RefundIssued"] = "RefundIssued"
    refund_id: str
    return_id: str | None
    amount: Decimal
    parts: list[RefundPart]


class RefundFailed(Event):
    """The gateway refused a return's refund for good: the units are back, the money needs an agent."""

    type: Literal["RefundFailed"] = "RefundFailed"
    return_id: str
    amount: Decimal
    reason: str


class ExchangeLine(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    sku: str
    quantity: int = Field(gt=0)
    unit_price: Decimal = Field(ge=0)
    # why an agent set this price rather than the order's or the catalog's; absent from older events
    price_reason: str | None = None


class ExchangeRequested(Event):
    """Returned units are swapped for replacement ones. The returned units' value pays for the replacement
    (`credit`); `difference` is what the replacement costs beyond it (charged on shipment against
    `authorization_id`) or, when negative, what the return refunds once received."""

    type: Literal["ExchangeRequested"] = "ExchangeRequested"
    exchange_id: str
    return_id: str
    lines: list[ExchangeLine]
    credit: Decimal
    difference: Decimal
    authorization_id: str | None
    reason: str


class AppeasementGranted(Event):
    type: Literal["AppeasementGranted"] = "AppeasementGranted"
    refund_id: str
    amount: Decimal
    reason: str
    parts: list[RefundPart]


class StepFailed(Event):
    """A service step failed for good and was given up; the timeline says what an operator must see to."""

    type: Literal["StepFailed"] = "StepFailed"
    step: str
    reason: str


class AttentionNeeded(Event):
    """The order cannot go on by itself: a step failed for good or a partner stayed silent past its deadline."""

    type: Literal["AttentionNeeded"] = "AttentionNeeded"
    step: str
    reason: str


class AttentionCleared(Event):
    type: Literal["AttentionCleared"] = "AttentionCleared"
    reason: str
