"""What a simulated location reports for a fulfillment order, step by step, and the webhook of each step.

Pure functions: the simulator's store keeps the flow on the fulfillment order's row, so a restarted
simulator goes on with the steps it was given when the order arrived.
"""

import hashlib
import hmac
from collections.abc import Sequence
from typing import Any, Literal

Stage = Literal[
    "received",
    "picked",
    "packed",
    "shipped",
    "in_transit",
    "out_for_delivery",
    "delivered",
    "ready_for_pickup",
    "picked_up",
    "rejected",
    "canceled",
    "failed",
]

CARRIER = "yamato"  # the carrier every simulated location hands its parcels to
PICKUP = "pickup"
WAREHOUSE_PATH = "/v1/webhooks/warehouse"
CARRIER_PATH = "/v1/webhooks/carrier"

SHIP_FLOW: tuple[Stage, ...] = ("picked", "packed", "shipped", "in_transit", "out_for_delivery", "delivered")
PICKUP_FLOW: tuple[Stage, ...] = ("picked", "packed", "ready_for_pickup", "picked_up")
REJECT_FLOW: tuple[Stage, ...] = ("rejected",)
CARRIER_EVENTS = frozenset[Stage]({"in_transit", "out_for_delivery", "delivered"})
# Once one of these has begun to be reported, the goods have left the location: no cancel from then on.
HANDED_OVER = frozenset[Stage]({"shipped", "picked_up", *CARRIER_EVENTS})
# Once one of these has begun to be reported, the units are off the shelf: no amend from then on.
PICKED = frozenset[Stage]({"picked", "packed", "ready_for_pickup", *HANDED_OVER})
# The webhooks that say what left (or is waiting for the customer) carry the lines the location holds.
_WITH_LINES = frozenset[Stage]({"shipped", "ready_for_pickup", "picked_up"})


SIGNATURE_HEADER = "X-OMS-Signature"


def sign_webhook(secret: str, content: bytes, at: int) -> str:
    """The partner's X-OMS-Signature of the exact bytes posted at unix second ``at`` (docs: ../shared/API.md, Auth)."""
    mac = hmac.new(secret.encode(), f"{at}.".encode() + content, hashlib.sha256).hexdigest()
    return f"t={at},v1={mac}"


def parse_locations(text: str) -> frozenset[str]:
    """``"STORE-A, DC-B"`` -> ``{"STORE-A", "DC-B"}``; blanks are ignored, so ``""`` is nobody."""
    return frozenset(part.strip() for part in text.split(",") if part.strip())


def flow_of(location_id: str, delivery_method: str, reject_locations: frozenset[str]) -> tuple[Stage, ...]:
    if location_id in reject_locations:
        return REJECT_FLOW
    return PICKUP_FLOW if delivery_method == PICKUP else SHIP_FLOW


def progressed(current: str, stage: Stage, flow: Sequence[str]) -> bool:
    """Whether reporting ``stage`` moves a fulfillment order at ``current`` forward (out-of-order news does not)."""
    if current == "received":
        return True
    if current not in flow:
        return False  # canceled or failed: it stays so
    return flow.index(stage) > flow.index(current)


def webhook_of(fo: dict[str, Any], stage: Stage) -> tuple[str, dict[str, Any]]:
    """The path and body that report ``stage`` of the fulfillment order ``fo`` (a row of the simulator's table)."""
    if stage in CARRIER_EVENTS:
        return CARRIER_PATH, {"tracking_number": fo["tracking_number"], "event": stage}
    body: dict[str, Any] = {"fulfillment_order_id": fo["fulfillment_order_id"], "event": stage}
    if stage == "shipped":
        body |= {"tracking_number": fo["tracking_number"], "carrier": fo["carrier"]}
    elif stage == "rejected":
        body["reason"] = f"no capacity at {fo['location_id']}"
    if stage in _WITH_LINES:
        body["lines"] = fo["lines"]
    return WAREHOUSE_PATH, body


def remaining_lines(lines: list[dict[str, Any]], remove: list[dict[str, Any]]) -> list[dict[str, Any]] | str:
    """``lines`` less ``remove`` (several entries of one sku add up), or why it cannot be taken off."""
    held = {line["sku"]: int(line["quantity"]) for line in lines}
    for item in remove:
        sku, quantity = item["sku"], int(item["quantity"])
        if held.get(sku, 0) < quantity:
            return f"holds {held.get(sku, 0)} of {sku}, cannot take off {quantity}"
        held[sku] -= quantity
    return [{"sku": line["sku"], "quantity": held[line["sku"]]} for line in lines if held[line["sku"]] > 0]
