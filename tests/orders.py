"""Checkout bodies for tests of every tier: the command line's sample order under a fresh id."""

import copy
import uuid
from typing import Any

from domain.models import PlaceOrder
from starter.cli_orders import SAMPLE_ORDER


def checkout_body(order_id: str | None = None, **overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "order_id": order_id or f"T-{uuid.uuid4().hex[:10]}",
        **copy.deepcopy(SAMPLE_ORDER),
        "pickup_location_id": None,
    }
    body.update(overrides)
    return body


def place_order(order_id: str | None = None, **overrides: Any) -> PlaceOrder:
    return PlaceOrder.model_validate(checkout_body(order_id, **overrides))
