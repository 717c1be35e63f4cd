"""The customer's view of an order: words a customer understands, what may still be returned, and when the
address may change, from the summary alone."""

from datetime import UTC, datetime
from decimal import Decimal

from domain.models import SkuQuantity
from starter.api.customer_words import refusal_for_customer
from starter.web.my_view import order_view, status_words
from store.read_model import LineSummary, OrderSummary, PaymentTotals, ReturnSummary, ShipmentSummary

NOW = datetime(2025, 1, 1, tzinfo=UTC)


def summary(status: str, *, shipped: int, delivered: int, returns: list[ReturnSummary] | None = None) -> OrderSummary:
    zero = Decimal(0)
    return OrderSummary(
        order_id="W-1",
        workflow_id="order-W-1",
        status=status,
        channel="web",
        customer={"id": "C-1"},
        currency="JPY",
        total=Decimal(9600),
        delivery_method="standard",
        shipping_address={"name": "Aiko Sato", "city": "Chiyoda", "latitude": 35.6},
        fraud_score=None,
        lines=[
            LineSummary(
                sku="MUG",
                unit_price=Decimal(3200),
                ordered=3,
                allocated=3,
                shipped=shipped,
                delivered=delivered,
                canceled=0,
                returned=1 if delivered else 0,
            )
        ],
        fulfillment_orders=[],
        shipments=[
            ShipmentSummary(fulfillment_order_id="W-1-F1", carrier="sagawa", tracking_number="S-1", status="in_transit")
        ]
        if shipped
        else [],
        payment=PaymentTotals(authorized=zero, captured=zero, refunded=zero, voided=zero),
        payments=[],
        invoices=[],
        returns=returns or [],
        timeline=[],
        placed_at=NOW,
        updated_at=NOW,
    )


def open_return(quantity: int) -> ReturnSummary:
    return ReturnSummary(
        return_id="W-1-R2",
        rma="RMA-W-1-2",
        status="requested",
        method="in_store",
        location_id="ST-UMEDA",
        label=None,
        lines=[SkuQuantity(sku="MUG", quantity=quantity)],
        received=[],
        refund_amount=Decimal(3200),
    )


def test_a_fraud_hold_reads_as_being_processed() -> None:
    assert status_words("on_hold") == "Being processed"
    assert "review" not in status_words("on_hold").lower()


def test_what_may_be_returned_leaves_out_units_returned_and_on_an_open_return() -> None:
    # given 3 delivered mugs: 1 returned already, 1 on a return still open at the Umeda store
    view = order_view(summary("delivered", shipped=3, delivered=3, returns=[open_return(1)]), {"ST-UMEDA": "Umeda"})
    # then one mug may still be returned, and the open return names the store, not its id
    assert [line.returnable for line in view.lines] == [1]
    assert view.returns[0].store == "Umeda"
    # and the parcel's carrier is named as the public knows it
    assert [(p.carrier, p.tracking_number) for p in view.parcels] == [("Sagawa Express", "S-1")]


def test_the_address_may_change_until_something_ships() -> None:
    assert order_view(summary("accepted", shipped=0, delivered=0), {}).address_changeable
    assert not order_view(summary("partially_shipped", shipped=1, delivered=0), {}).address_changeable
    assert not order_view(summary("on_hold", shipped=0, delivered=0), {}).address_changeable


def test_the_address_shown_has_no_coordinates() -> None:
    assert order_view(summary("accepted", shipped=0, delivered=0), {}).address == {
        "name": "Aiko Sato",
        "city": "Chiyoda",
    }


def test_a_refusal_naming_a_review_or_the_shops_ids_is_put_in_a_customers_words() -> None:
    assert "review" not in refusal_for_customer("the order is on hold for review: decide the review first")
    assert "W-1-F1" not in refusal_for_customer(
        "W-1-F1 already left its location: the address can change only before shipment"
    )
    assert refusal_for_customer("the return window closed") == "the return window closed"
