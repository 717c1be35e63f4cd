"""Which order events a customer hears about, and the facts of each message beyond the order and the customer.

A customer hears that the order is confirmed, shipped (with the carrier and tracking number), ready for pickup,
delivered, and that money was refunded (a return's refund or a goodwill one). Everything else stays quiet.

There is no "confirmed" event: checkout accepts an order by placing its first fulfillment order, so that event
confirms it, once. An order the fraud screen held at checkout is confirmed by the review that approves it
instead: a customer whose order may still be rejected is not told it is confirmed.
"""

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any, Literal

from events_out.contracts import OutboxEvent

Kind = Literal["confirmed", "shipped", "ready_for_pickup", "delivered", "refunded"]
KINDS: tuple[Kind, ...] = ("confirmed", "shipped", "ready_for_pickup", "delivered", "refunded")
# (sequence, type) of an order's events, as the read model keeps them
History = Sequence[tuple[int, str]]

# the event types any message can come of: the sink passes over the others without reading anything
NOTIFYING_TYPES = frozenset(
    {
        "FulfillmentOrderCreated",
        "ReviewDecided",
        "ShipmentShipped",
        "ReadyForPickup",
        "ShipmentDelivered",
        "RefundIssued",
        "AppeasementGranted",
    }
)
_FIRST_PLACEMENT = "FulfillmentOrderCreated"
# what checkout records with each fulfillment order it places, before whatever comes next (a hold, a backorder)
_PLACEMENT = frozenset({"InventoryReserved", "FulfillmentOrderCreated"})


@dataclass(frozen=True)
class Notice:
    kind: Kind
    facts: dict[str, Any] = field(default_factory=dict)


def needs_history(event_type: str) -> bool:
    """Whether `notice_for` must see the order's other events to decide about this one."""
    return event_type in (_FIRST_PLACEMENT, "ReviewDecided")


def notice_for(event: OutboxEvent, history: History = ()) -> Notice | None:
    """The message the customer gets for this event, or None. `history` is read only for confirmations."""
    data = event.data
    match event.type:
        case "FulfillmentOrderCreated":
            if data.get("reship") or data.get("exchange_id") or _placed_before(event.sequence, history):
                return None
            return None if _held_at_checkout(event.sequence, history) else Notice("confirmed")
        case "ReviewDecided":
            first_placed = _first_placement(history)
            if not data.get("approved") or first_placed is None or not _held_at_checkout(first_placed, history):
                return None
            first_review = min((seq for seq, kind in history if kind == "ReviewDecided"), default=event.sequence)
            return Notice("confirmed") if event.sequence <= first_review else None
        case "ShipmentShipped":
            return Notice("shipped", {"carrier": data["carrier"], "tracking_number": data["tracking_number"]})
        case "ReadyForPickup":
            collect_by = datetime.fromisoformat(str(data["collect_by"]))
            facts = {"fulfillment_order_id": data["fulfillment_order_id"], "collect_by": collect_by}
            return Notice("ready_for_pickup", facts)
        case "ShipmentDelivered":
            return Notice("delivered", {"tracking_number": data["tracking_number"]})
        case "RefundIssued" | "AppeasementGranted":
            return Notice("refunded", {"amount": Decimal(str(data["amount"]))})
    return None


def _placed_before(sequence: int, history: History) -> bool:
    return any(kind == _FIRST_PLACEMENT and seq < sequence for seq, kind in history)


def _first_placement(history: History) -> int | None:
    return min((seq for seq, kind in history if kind == _FIRST_PLACEMENT), default=None)


def _held_at_checkout(first_placed: int, history: History) -> bool:
    """Checkout records its placements together and then, for an order in doubt, the hold."""
    after = sorted((seq, kind) for seq, kind in history if seq > first_placed)
    following = next((kind for _, kind in after if kind not in _PLACEMENT), None)
    return following == "OrderHeld"
