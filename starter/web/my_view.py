"""What a customer's pages show of an order: its public facts only, in words a customer understands.

The pages render this view, never the order summary itself, so nothing internal can reach the HTML by a template
slip: no fraud score or review, no attention, no location, partner or fulfillment order ids, no carrier codes.
It is built from the summary the JSON API gives a customer (`summary_or_404`), which already leaves the staff-only
fields out.
"""

from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from store.read_model import OrderListItem, OrderSummary, ReturnSummary

# The status a customer reads. A fraud hold reads as "being processed": nobody is told they are under review.
STATUS_WORDS = {
    "pending": "Being processed",
    "on_hold": "Being processed",
    "accepted": "Confirmed, being prepared",
    "backordered": "Waiting for stock",
    "ready_for_pickup": "Ready for pickup at the store",
    "partially_shipped": "Partly shipped",
    "shipped": "Shipped",
    "delivered": "Delivered",
    "completed": "Delivered",
    "payment_declined": "Payment declined: nothing was charged",
    "unavailable": "Not available: nothing was charged",
    "canceled": "Canceled",
}
DELIVERY_WORDS = {
    "standard": "Standard delivery",
    "next_day": "Next-day delivery",
    "same_day": "Same-day delivery",
    "weekend": "Weekend delivery",
    "pickup": "Pickup at a store",
}
RETURN_WORDS = {
    "requested": "Waiting for the items to come back",
    "received": "Items received, refund on its way",
    "refunded": "Refunded",
    # the customer's refund is late; which gateway refused it is the shop's business
    "refund_failed": "Items received, refund delayed: our service team is on it",
}
# Carriers by their public name; an id not listed here is shown as a plain "Carrier", never as the code.
CARRIER_NAMES = {
    "yamato": "Yamato Transport",
    "sagawa": "Sagawa Express",
    "japanpost": "Japan Post",
    "YMT": "Yamato Transport",
}
# Until any of these, the address may still change (the order itself has the last word, and says why not).
_ADDRESS_CHANGEABLE = frozenset({"accepted", "backordered"})


def status_words(status: str) -> str:
    return STATUS_WORDS.get(status, status.replace("_", " ").capitalize())


def carrier_name(carrier: str | None) -> str:
    return CARRIER_NAMES.get(carrier or "", "Carrier")


@dataclass(frozen=True)
class ParcelView:
    carrier: str
    tracking_number: str
    delivered: bool


@dataclass(frozen=True)
class LineView:
    sku: str
    unit_price: Decimal
    ordered: int
    shipped: int
    delivered: int
    canceled: int
    returned: int
    # delivered units not returned and not on a return still open: what a new return may take
    returnable: int


@dataclass(frozen=True)
class ReturnView:
    rma: str
    status: str
    by_mail: bool
    label: str | None
    lines: list[tuple[str, int]]
    refund_amount: Decimal
    # the store's name for a return brought to a store (never its id)
    store: str | None


@dataclass(frozen=True)
class OrderView:
    order_id: str
    status: str
    status_words: str
    placed_at: datetime
    promised_date: date | None
    currency: str
    total: Decimal
    delivery: str
    address: dict[str, Any]
    lines: list[LineView]
    parcels: list[ParcelView]
    returns: list[ReturnView]
    address_changeable: bool

    @property
    def returnable(self) -> bool:
        return any(line.returnable > 0 for line in self.lines)

    def find_return(self, rma: str) -> ReturnView | None:
        return next((r for r in self.returns if r.rma == rma), None)


@dataclass(frozen=True)
class ListedOrder:
    order_id: str
    status_words: str
    placed_at: datetime
    currency: str
    total: Decimal


def _open_units(returns: list[ReturnSummary]) -> dict[str, int]:
    """Units on returns whose items have not come back yet, by sku (the workflow counts them as taken)."""
    units: dict[str, int] = {}
    for ret in returns:
        if ret.status == "requested":
            for line in ret.lines:
                units[line.sku] = units.get(line.sku, 0) + line.quantity
    return units


# Address fields a customer sees and may change; coordinates are the router's business.
ADDRESS_FIELDS = ("name", "line1", "line2", "city", "postal_code", "country")


def order_view(summary: OrderSummary, store_names: dict[str, str]) -> OrderView:
    """The customer's view of `summary`; `store_names` names the stores (location id -> name) returns go to."""
    on_returns = _open_units(summary.returns)
    shipped = any(line.shipped for line in summary.lines)
    return OrderView(
        order_id=summary.order_id,
        status=summary.status,
        status_words=status_words(summary.status),
        placed_at=summary.placed_at,
        promised_date=summary.promised_date,
        currency=summary.currency,
        total=summary.total,
        delivery=DELIVERY_WORDS.get(summary.delivery_method, summary.delivery_method),
        address={k: summary.shipping_address.get(k) for k in ADDRESS_FIELDS if summary.shipping_address.get(k)},
        lines=[
            LineView(
                sku=line.sku,
                unit_price=line.unit_price,
                ordered=line.ordered,
                shipped=line.shipped,
                delivered=line.delivered,
                canceled=line.canceled,
                returned=line.returned,
                returnable=max(line.delivered - line.returned - on_returns.get(line.sku, 0), 0),
            )
            for line in summary.lines
        ],
        parcels=[
            ParcelView(
                carrier=carrier_name(parcel.carrier),
                tracking_number=parcel.tracking_number,
                delivered=parcel.status == "delivered",
            )
            for parcel in summary.shipments
        ],
        returns=[
            ReturnView(
                rma=ret.rma,
                status=RETURN_WORDS.get(ret.status, ret.status),
                by_mail=ret.method == "mail",
                label=ret.label,
                lines=[(line.sku, line.quantity) for line in ret.lines],
                refund_amount=ret.refund_amount,
                store=None if ret.method == "mail" else store_names.get(ret.location_id, "the store"),
            )
            for ret in summary.returns
        ],
        address_changeable=summary.status in _ADDRESS_CHANGEABLE
        and not shipped
        and summary.delivery_method != "pickup",
    )


def listed(item: OrderListItem) -> ListedOrder:
    return ListedOrder(
        order_id=item.order_id,
        status_words=status_words(item.status),
        placed_at=item.placed_at,
        currency=item.currency,
        total=item.total,
    )
