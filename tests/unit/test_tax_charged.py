"""Tax added on top of prices (Canada) is charged: checkout authorizes it, each fulfillment order's capture and
each refund carries its units' share, rounded once per rate for them; Japan's, in its prices, adds nothing."""

from datetime import UTC, datetime
from decimal import Decimal

from domain import events as ev
from domain.models import SkuQuantity
from domain.order import Order
from tests.orders import place_order

NOW = datetime(2026, 12, 1, tzinfo=UTC)
TORONTO = {
    "name": "Alex Martin",
    "line1": "290 Bremner Blvd",
    "city": "Toronto",
    "postal_code": "M5V 3L9",
    "country": "CA",
}


def canadian(rate: str | None = "0.13") -> dict[str, object]:
    return {
        "currency": "CAD",
        "shipping_address": TORONTO,
        "lines": [{"sku": "LEGO-76419", "quantity": 3, "unit_price": "10.01", "tax_rate": rate}],
    }


def test_checkout_authorizes_the_prices_the_tax_on_top_and_a_cent_per_taxed_line() -> None:
    # given a Canadian order of 3 x 10.01 at 13 %
    placed = place_order("W-1", **canadian())
    # then its total is the prices, its tax on top 3.90 (30.03 x 13 % = 3.9039, rounded once), and the
    # authorization holds both and a cent for the rounding of split shipments
    assert (placed.total, placed.tax_added, placed.amount_to_authorize) == (
        Decimal("30.03"),
        Decimal("3.90"),
        Decimal("33.94"),
    )


def test_prices_with_their_tax_in_them_authorize_the_prices_alone() -> None:
    # given a Japanese order (no rate added on top)
    placed = place_order("W-1")
    # then the authorization is its total
    assert placed.tax_added == 0 and placed.amount_to_authorize == placed.total


def split_order(authorized: str) -> Order:
    one = [SkuQuantity(sku="LEGO-76419", quantity=1)]
    two = [SkuQuantity(sku="LEGO-76419", quantity=2)]
    return Order.from_events(
        "W-1",
        [
            ev.OrderPlaced(at=NOW, order=place_order("W-1", **canadian())),
            ev.PaymentAuthorized(at=NOW, authorization_id="auth_1", amount=Decimal(authorized)),
            ev.InventoryReserved(at=NOW, location_id="DC-TOKYO", lines=one),
            ev.FulfillmentOrderCreated(at=NOW, fulfillment_order_id="W-1-F1", location_id="DC-TOKYO", lines=one),
            ev.InventoryReserved(at=NOW, location_id="DC-OSAKA", lines=two),
            ev.FulfillmentOrderCreated(at=NOW, fulfillment_order_id="W-1-F2", location_id="DC-OSAKA", lines=two),
        ],
    )


def test_each_shipment_is_charged_its_units_and_their_tax_rounded_once_for_it() -> None:
    # given the order split 1 + 2 over two locations
    order = split_order("33.94")
    f1, f2 = order.fulfillment_orders
    # then each fulfillment order charges its prices and their tax: 10.01 + 1.30, 20.02 + 2.60
    assert order.charge_for(f1) == (Decimal("11.31"), "auth_1")
    assert order.charge_for(f2) == (Decimal("22.62"), "auth_1")
    # and a refund of one unit gives back its price and its tax
    assert order.amount_of([SkuQuantity(sku="LEGO-76419", quantity=1)]) == Decimal("11.31")


def test_the_last_shipment_never_captures_more_than_is_left_authorized() -> None:
    # given an authorization a cent short of what the two shipments round to (33.93 for the order's tax rounded
    # once, 33.92 here), and the second shipment captured
    order = split_order("33.92")
    order.apply(ev.ShipmentShipped(at=NOW, fulfillment_order_id="W-1-F2", carrier="yamato", tracking_number="Y2"))
    captured = ev.PaymentCaptured(
        at=NOW,
        transaction_id="cap_2",
        fulfillment_order_id="W-1-F2",
        amount=Decimal("22.62"),
        authorization_id="auth_1",
    )
    order.apply(captured)
    # when the first is charged
    charge = order.charge_for(order.fulfillment_orders[0])
    # then it is what is left (11.30), not the 11.31 a gateway would refuse to capture
    assert charge == (Decimal("11.30"), "auth_1")
