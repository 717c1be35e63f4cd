"""A reorder is the past order again as the read model keeps it: its lines not canceled at today's prices, its
ship-to, its delivery (a pickup at the same store), its payment on account."""

from decimal import Decimal

import pytest
from fastapi import HTTPException

from domain.models import InvoicePayment
from starter.api.b2b_orders import ReorderBody, _again
from store.read_model import LineSummary, OrderSummary
from tests.unit.test_api_catalog import catalog_of, product
from tests.unit.test_api_service_actions import summary

ADDRESS = {"name": "山田 太郎", "line1": "1-1 Chiyoda", "city": "Tokyo", "postal_code": "100-0001", "country": "JP"}


def past(**change: object) -> OrderSummary:
    line = LineSummary(sku="LEGO-76419", unit_price=Decimal("24980"), ordered=2, allocated=2, shipped=2, delivered=2,
                       canceled=1, returned=0)  # fmt: skip
    on_account = {"method": "invoice", "account_id": "ACME", "purchase_order": "PO-1", "terms": "net30"}
    customer = {"id": "C-1", "email": "taro@example.com", "name": "山田 太郎"}
    fields = {
        "lines": [line],
        "customer": customer,
        "shipping_address": ADDRESS,
        "payment_method": on_account,
        **change,
    }
    return summary("W-1", "C-1").model_copy(update=fields)


def test_a_pickup_order_is_reordered_for_pickup_at_the_same_store() -> None:
    # given a past order picked up at a store, and the catalog's price today
    pickup = past(delivery_method="pickup", pickup_location_id="STORE-SHIBUYA")
    shelf = catalog_of(product("LEGO-76419", JPY="23980"))
    # when it is ordered again
    order = _again(pickup, ReorderBody(order_id="W-2"), shelf)
    # then it is a pickup at that store, of the unit not canceled, at today's price, on the same account
    assert (order.delivery_method, order.pickup_location_id) == ("pickup", "STORE-SHIBUYA")
    assert [(ln.sku, ln.quantity, ln.unit_price) for ln in order.lines] == [("LEGO-76419", 1, Decimal("23980"))]
    assert isinstance(order.payment, InvoicePayment) and order.payment.account_id == "ACME"


def test_a_pickup_order_whose_store_is_not_known_is_refused_with_the_reason() -> None:
    # given a pickup order projected before the summary kept its store
    old = past(delivery_method="pickup")
    # when it is ordered again, then it is refused as an order that cannot be placed again as it was
    with pytest.raises(HTTPException) as refused:
        _again(old, ReorderBody(order_id="W-2"), catalog_of(product("LEGO-76419", JPY="23980")))
    assert refused.value.status_code == 422
    assert "pickup_location_id" in str(refused.value.detail)
