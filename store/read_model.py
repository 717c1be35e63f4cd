"""The order read model as screens and the API read it: an order's summary, the list of orders, and their parts.

`store.order_projection` writes it from the workflow's events; `store.order_queries` reads it.
"""

from datetime import date, datetime
from decimal import Decimal
from typing import Any

from pydantic import BaseModel

from domain import events as ev
from domain.models import SkuQuantity
from domain.tax import TaxClass


class LineSummary(BaseModel):
    sku: str
    unit_price: Decimal
    ordered: int
    allocated: int
    shipped: int
    delivered: int
    canceled: int
    returned: int
    # as captured at checkout (store/projection_rows.py)
    tax_class: TaxClass = "standard"
    # the rate its units ordered and not canceled are taxed at (null when none are left), and their share of that
    # rate's tax on the order (store/order_tax.py)
    tax_rate: Decimal | None = None
    tax: Decimal = Decimal(0)


class RateTax(BaseModel):
    """One tax rate of the order: the amount it applies to as priced (tax in it when prices include tax) and its
    tax, rounded once for the rate (Japan's qualified-invoice rule)."""

    rate: Decimal
    taxable: Decimal
    tax: Decimal


class FulfillmentOrderSummary(BaseModel):
    id: str
    location_id: str
    status: str
    lines: list[dict[str, Any]]
    carrier: str | None
    tracking_number: str | None
    captured: Decimal
    refunded: Decimal
    invoice_id: str | None
    promised_date: date | None
    # per rate, of its units (store/order_tax.py)
    tax: list[RateTax] = []


class ReturnSummary(BaseModel):
    return_id: str
    rma: str
    status: str  # requested, received, refunded, refund_failed
    method: str  # mail, in_store
    location_id: str
    label: str | None
    lines: list[SkuQuantity]
    received: list[ev.ReturnedLine]
    refund_amount: Decimal


class ShipmentSummary(BaseModel):
    fulfillment_order_id: str
    carrier: str
    tracking_number: str
    status: str


class PaymentTotals(BaseModel):
    authorized: Decimal
    captured: Decimal
    refunded: Decimal
    voided: Decimal


class PaymentRecord(BaseModel):
    transaction_id: str
    kind: str
    amount: Decimal
    fulfillment_order_id: str | None
    at: datetime
    # a refund or appeasement: per rate, pro rata over the fulfillment order it pays back (empty for other kinds)
    tax: list[RateTax] = []


class InvoiceSummary(BaseModel):
    invoice_id: str
    fulfillment_order_id: str
    amount: Decimal
    issued_at: datetime
    # per rate, of the fulfillment order it bills
    tax: list[RateTax] = []


class TimelineEntry(BaseModel):
    seq: int
    type: str
    at: datetime
    actor: str
    summary: str


class ProjectionError(BaseModel):
    """Part of the order the read model could not write (a value its column cannot hold): the order went on, this
    summary misses it. Agents see why and since when; the workflow's history has everything."""

    reason: str
    at: datetime


class OrderAttention(BaseModel):
    """The order cannot go on by itself (a step failed for good, a partner stayed silent past its deadline, a
    refund the gateway refused): why a person must look, and since when. Agents and operators only."""

    reason: str
    since: datetime


class OrderSummary(BaseModel):
    order_id: str
    workflow_id: str
    status: str
    channel: str
    customer: dict[str, Any]
    currency: str
    total: Decimal
    delivery_method: str
    # the latest date a fulfillment order (not rejected or canceled) promised
    promised_date: date | None = None
    # while units wait for stock: when the order stops waiting and cancels them
    backordered_until: datetime | None = None
    shipping_address: dict[str, Any]
    fraud_score: int | None
    lines: list[LineSummary]
    fulfillment_orders: list[FulfillmentOrderSummary]
    shipments: list[ShipmentSummary]
    payment: PaymentTotals
    payments: list[PaymentRecord]
    invoices: list[InvoiceSummary]
    returns: list[ReturnSummary]
    timeline: list[TimelineEntry]
    placed_at: datetime
    updated_at: datetime
    projection_error: ProjectionError | None = None
    # null unless the order needs a person; agents and operators only
    attention: OrderAttention | None = None
    # per rate, for the units ordered and not canceled (store/order_tax.py)
    tax: list[RateTax] = []
    # whether the lines' prices have the tax in them (Japan) or it is added on top (Canada)
    prices_include_tax: bool = True
    # how it is paid, as the checkout said it (never a card's token): `{"method": "card"}`, or on account
    # `{"method": "invoice", "account_id", "purchase_order", "terms"}`, or prepaid on a platform
    payment_method: dict[str, Any] | None = None
    requested_delivery_date: date | None = None
    pickup_location_id: str | None = None  # the store a pickup order is collected at


class OrderListItem(BaseModel):
    order_id: str
    status: str
    channel: str
    customer_id: str
    currency: str
    total: Decimal
    placed_at: datetime
    # null unless the order needs a person; agents and operators only
    attention: OrderAttention | None = None
