"""Checkout bodies for tests of every tier."""

import uuid
from typing import Any

from domain.models import PlaceOrder


def checkout_body(order_id: str | None = None, **overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "order_id": order_id or f"T-{uuid.uuid4().hex[:10]}",
        "channel": "web",
        "customer": {"id": "C-1", "email": "c1@example.com", "name": "Aiko Sato", "phone": "+81300000000"},
        "currency": "JPY",
        "lines": [{"sku": "LEGO-76419", "quantity": 1, "unit_price": "24980"}],
        "shipping_address": {
            "name": "Aiko Sato",
            "line1": "1-1 Marunouchi",
            "city": "Chiyoda",
            "postal_code": "100-0005",
            "country": "JP",
            "latitude": 35.681,
            "longitude": 139.767,
        },
        "delivery_method": "standard",
        "pickup_location_id": None,
        "payment": {"method": "card", "token": "tok_visa"},
    }
    body.update(overrides)
    return body


def place_order(order_id: str | None = None, **overrides: Any) -> PlaceOrder:
    return PlaceOrder.model_validate(checkout_body(order_id, **overrides))
