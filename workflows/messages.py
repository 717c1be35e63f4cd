"""Inputs, update results and signal payloads of the order workflow."""

from decimal import Decimal
from typing import Literal

from pydantic import BaseModel, Field

from domain.models import PlaceOrder, SkuQuantity

ORDER_WORKFLOW = "Order"
CHECKOUT_UPDATE = "checkout"
WAREHOUSE_SIGNAL = "warehouse_event"
CARRIER_SIGNAL = "carrier_event"
CANCEL_UPDATE = "cancel"
SUMMARY_QUERY = "summary"


def workflow_id_for(order_id: str) -> str:
    return f"order-{order_id}"


class OrderInput(BaseModel):
    order: PlaceOrder
    return_window_seconds: float = Field(gt=0)


class CheckoutResult(BaseModel):
    order_id: str
    status: str
    reason: str | None = None
    currency: str
    total: Decimal
    fulfillment_order_ids: list[str] = []


class WarehouseEvent(BaseModel):
    fulfillment_order_id: str
    event: Literal["picked", "packed", "shipped", "rejected"]
    tracking_number: str | None = None
    carrier: str | None = None


class CarrierEvent(BaseModel):
    tracking_number: str
    event: Literal["in_transit", "out_for_delivery", "delivered", "exception"]


class CancelRequest(BaseModel):
    """Cancel these lines (None: everything still cancelable)."""

    lines: list[SkuQuantity] | None = None
    reason: str = Field(min_length=1, max_length=500)
    actor: str


class CancelResult(BaseModel):
    order_id: str
    status: str
    canceled: list[SkuQuantity]


class OrderOutcome(BaseModel):
    order_id: str
    status: str
    events: int
