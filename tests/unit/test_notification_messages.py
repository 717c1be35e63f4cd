"""Which events a customer hears about, and what the message says in Japanese and in English."""

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest

from events_out.contracts import OutboxEvent
from events_out.notifications.notices import Notice, notice_for
from events_out.notifications.templates import render

AT = datetime(2026, 12, 1, 3, 0, tzinfo=UTC)
ORDER = {"order_id": "W-1001", "name": "佐藤 愛子", "currency": "JPY", "total": Decimal("24980")}
CHECKOUT = [(1, "OrderPlaced"), (2, "FraudScreened"), (3, "PaymentAuthorized"), (4, "InventoryReserved")]


def event(type_: str, sequence: int = 10, **data: Any) -> OutboxEvent:
    return OutboxEvent(1, "W-1001", sequence, type_, AT, {"type": type_, "at": AT.isoformat(), **data})


def test_the_first_fulfillment_order_of_a_checkout_confirms_the_order_once() -> None:
    # given a checkout that placed two fulfillment orders (seq 5 and 7) and then backordered the rest
    history = [*CHECKOUT, (5, "FulfillmentOrderCreated"), (6, "InventoryReserved"), (7, "FulfillmentOrderCreated")]
    history += [(8, "LinesBackordered")]
    # when each placement is looked at, then only the first confirms
    assert notice_for(event("FulfillmentOrderCreated", 5), history) == Notice("confirmed")
    assert notice_for(event("FulfillmentOrderCreated", 7), history) is None
    # and a later reroute or reship confirms nothing again
    assert notice_for(event("FulfillmentOrderCreated", 12), [*history, (12, "FulfillmentOrderCreated")]) is None
    assert notice_for(event("FulfillmentOrderCreated", 5, reship=True), history) is None


def test_an_order_held_at_checkout_is_confirmed_by_its_approval_not_its_placement() -> None:
    # given a checkout the fraud screen held after placing its fulfillment order
    history = [*CHECKOUT, (5, "FulfillmentOrderCreated"), (6, "OrderHeld")]
    # when its placement is looked at, then the customer is not told it is confirmed
    assert notice_for(event("FulfillmentOrderCreated", 5), history) is None
    # when an agent approves it, then that confirms it; a rejection does not
    decided = [*history, (7, "ReviewDecided")]
    assert notice_for(event("ReviewDecided", 7, approved=True), decided) == Notice("confirmed")
    assert notice_for(event("ReviewDecided", 7, approved=False), decided) is None
    # and an approval of an order never held at checkout (a hold after an address change) confirms nothing
    later = [*CHECKOUT, (5, "FulfillmentOrderCreated"), (6, "AddressChanged"), (9, "OrderHeld"), (10, "ReviewDecided")]
    assert notice_for(event("ReviewDecided", 10, approved=True), later) is None


@pytest.mark.parametrize(
    "quiet",
    ["OrderPlaced", "FraudScreened", "PaymentAuthorized", "PaymentCaptured", "InvoiceIssued", "OrderCompleted"],
)
def test_events_a_customer_does_not_care_about_make_no_message(quiet: str) -> None:
    # given an event of the order's bookkeeping, when it is looked at, then there is nothing to tell
    assert notice_for(event(quiet)) is None


def test_a_shipment_in_japanese_names_the_carrier_and_the_tracking_number() -> None:
    # given a shipped event for a Japanese-speaking customer
    notice = notice_for(event("ShipmentShipped", carrier="yamato", tracking_number="YMT0123456789"))
    assert notice is not None
    # when it is rendered
    message = render(notice, "ja", ORDER)
    # then subject, body and text are Japanese and carry what the customer needs to follow the parcel
    assert message.subject == "ご注文の商品を発送しました（注文番号 W-1001）"  # noqa: RUF001  (Japanese brackets)
    assert "佐藤 愛子 様" in message.body
    assert "配送業者: ヤマト運輸" in message.body
    assert "お問い合わせ番号: YMT0123456789" in message.body
    assert "YMT0123456789" in message.sms


def test_the_same_messages_in_english_show_amounts_and_times_as_an_english_reader_expects() -> None:
    # given a confirmation, a refund and a pickup for an English-speaking customer
    pickup = event("ReadyForPickup", fulfillment_order_id="W-1001-F1", collect_by="2026-12-08T09:00:00+00:00")
    notices = [
        Notice("confirmed"),
        notice_for(event("RefundIssued", refund_id="R-1", return_id=None, amount="4990.0000", parts=[])),
        notice_for(pickup),
    ]
    # when each is rendered in English
    confirmed, refunded, ready = (render(n, "en", {**ORDER, "store": "Shibuya store"}) for n in notices if n)
    # then the words are English and amounts, stores and deadlines read naturally
    assert confirmed.subject == "Your order W-1001 is confirmed"
    assert "Total: ¥24,980" in confirmed.body
    assert refunded.subject == "A refund for your order W-1001"
    assert "We have refunded ¥4,990" in refunded.body
    assert "Store: Shibuya store" in ready.body
    assert "Collect by: 8 Dec 2026, 18:00 JST" in ready.body
    # and in Japanese the same refund reads in yen as Japanese write it
    japanese = render(Notice("refunded", {"amount": Decimal("4990")}), "ja", ORDER)
    assert "4,990円 のご返金手続きが完了しました" in japanese.body
