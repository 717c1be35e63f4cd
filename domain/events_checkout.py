"""Events of checkout: the order placed, screened, paid for, reserved, and held for review when in doubt or for
its account's approver when above the account's threshold."""

from datetime import datetime
from decimal import Decimal
from typing import Literal

from domain.events_base import Event
from domain.models import PlaceOrder, SkuQuantity


class OrderPlaced(Event):
    type: Literal["OrderPlaced"] = "OrderPlaced"
    order: PlaceOrder


class FraudScreened(Event):
    type: Literal["FraudScreened"] = "FraudScreened"
    score: int
    reasons: list[str] = []


class PaymentAuthorized(Event):
    type: Literal["PaymentAuthorized"] = "PaymentAuthorized"
    authorization_id: str
    amount: Decimal
    expires_at: datetime | None = None  # the gateway's word; an order renews it before capturing after it


class AuthorizationRenewed(Event):
    """What an expiring authorization still held moved to a fresh one, before anything was captured on it."""

    type: Literal["AuthorizationRenewed"] = "AuthorizationRenewed"
    expiring_id: str
    authorization_id: str
    amount: Decimal
    expires_at: datetime | None = None


class PaymentDeclined(Event):
    type: Literal["PaymentDeclined"] = "PaymentDeclined"
    reason: str


class AuthorizationVoided(Event):
    type: Literal["AuthorizationVoided"] = "AuthorizationVoided"
    authorization_id: str
    amount: Decimal


class InventoryReserved(Event):
    type: Literal["InventoryReserved"] = "InventoryReserved"
    location_id: str
    lines: list[SkuQuantity]
    reship: bool = False  # extra units sent at no charge: not the order's own allocation


class OrderUnavailable(Event):
    type: Literal["OrderUnavailable"] = "OrderUnavailable"
    reason: str
    skus: list[str]


class OrderHeld(Event):
    """The fraud screen asks for a person: reserved but not handed to any location until reviewed."""

    type: Literal["OrderHeld"] = "OrderHeld"
    score: int
    until: datetime


class ReviewDecided(Event):
    type: Literal["ReviewDecided"] = "ReviewDecided"
    approved: bool
    reason: str


class ApprovalRequested(Event):
    """A B2B order above its account's approval threshold: reserved, handed to no location until approved."""

    type: Literal["ApprovalRequested"] = "ApprovalRequested"
    account_id: str
    threshold: Decimal
    until: datetime


class ApprovalEscalated(Event):
    """No approver decided in time: agents are asked too (the order needs attention) until the approval expires."""

    type: Literal["ApprovalEscalated"] = "ApprovalEscalated"
    account_id: str
    until: datetime


class ApprovalDecided(Event):
    type: Literal["ApprovalDecided"] = "ApprovalDecided"
    approved: bool
    reason: str
