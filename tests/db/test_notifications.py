"""Customer mails through a real SMTP server: in the customer's language, to the customer's address, once per
event however often the relay delivers it."""

import asyncio
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import Engine, select

from domain import events as ev
from events_out.notifications.ledger import Ledger
from events_out.notifications.mailer import NotSent, SmtpConfig, SmtpMailer
from events_out.notifications.sink import NotificationSink, StillSending
from starter.cli import run
from starter.ports import free_port
from starter.settings import get_settings as load_settings
from store.notification_tables import notifications
from tests.db.notification_harness import (
    AT,
    Inbox,
    body_of,
    placed_and_routed,
    server_silent_after_the_message,
    smtp_server,
)

pytestmark = pytest.mark.db


@pytest.fixture
def inbox() -> Iterator[Inbox]:
    with smtp_server() as inbox:
        yield inbox


def sink_for(engine: Engine, inbox: Inbox) -> NotificationSink:
    return NotificationSink(engine, inbox.mailer(), sms=None)


def ledger_rows(engine: Engine, event_id: int) -> list[tuple[str, str]]:
    query = select(notifications.c.channel, notifications.c.state).where(notifications.c.event_id == event_id)
    with engine.connect() as conn:
        return [(channel, state) for channel, state in conn.execute(query)]


async def test_a_shipment_is_mailed_in_japanese_to_the_customer_with_its_tracking_number(
    engine: Engine, inbox: Inbox
) -> None:
    # given an order of a Japanese-speaking customer, shipped with a tracking number
    order, _ = placed_and_routed(engine, locale="ja")
    shipped = order.ship("YMT0000012345")
    # when the relay delivers the shipment to the notifications sink
    await sink_for(engine, inbox).deliver(shipped)
    # then the customer's address got one mail, in Japanese, naming the carrier and the tracking number
    [mail] = inbox.to(order.email)
    assert mail["To"] == order.email
    assert mail["From"] == "OMS Shop <shop@oms.example>"
    assert mail["Subject"] == f"ご注文の商品を発送しました（注文番号 {order.order_id}）"  # noqa: RUF001
    assert "お問い合わせ番号: YMT0000012345" in body_of(mail)
    assert "配送業者: ヤマト運輸" in body_of(mail)
    assert mail["Message-ID"] == f"<oms.event-{shipped.event_id}@oms.example>"
    assert ledger_rows(engine, shipped.event_id) == [("email", "sent")]


async def test_an_english_speaking_customer_is_confirmed_in_english(engine: Engine, inbox: Inbox) -> None:
    # given an order placed by a customer who reads English, and the event that accepted it at checkout
    order, confirming = placed_and_routed(engine, locale="en")
    # when the relay delivers that event
    await sink_for(engine, inbox).deliver(confirming)
    # then the confirmation is in English with the order's total
    [mail] = inbox.to(order.email)
    assert mail["Subject"] == f"Your order {order.order_id} is confirmed"
    assert "Dear 佐藤 愛子," in body_of(mail)
    assert "Total: ¥24,980" in body_of(mail)


async def test_an_order_ready_for_pickup_names_the_store_and_the_time_to_collect_it_by(
    engine: Engine, inbox: Inbox
) -> None:
    # given an order waiting at a store the catalog does not name, to be collected by 9 December 18:00 in Japan
    order, _ = placed_and_routed(engine, locale="en", location_id="ST-NT-1")
    collect_by = datetime(2026, 12, 9, 9, 0, tzinfo=UTC)
    [ready] = order.record(ev.ReadyForPickup(at=AT, fulfillment_order_id=f"{order.order_id}-F1", collect_by=collect_by))
    # when the relay delivers it
    await sink_for(engine, inbox).deliver(ready)
    # then the mail says where (the store's id, for want of a name) and until when
    [mail] = inbox.to(order.email)
    assert mail["Subject"] == f"Your order {order.order_id} is ready for pickup"
    assert "Store: ST-NT-1" in body_of(mail)
    assert "Collect by: 9 Dec 2026, 18:00 JST" in body_of(mail)


async def test_an_event_delivered_again_and_after_a_restart_is_mailed_once(engine: Engine, inbox: Inbox) -> None:
    # given a delivered parcel, mailed about once
    order, _ = placed_and_routed(engine)
    order.ship("YMT0000054321")
    [delivered] = order.record(
        ev.ShipmentDelivered(at=AT, fulfillment_order_id=f"{order.order_id}-F1", tracking_number="YMT0000054321")
    )
    sink = sink_for(engine, inbox)
    await sink.deliver(delivered)
    # when the relay retries it, and a restarted relay (a new sink) delivers it once more
    await sink.deliver(delivered)
    await sink_for(engine, inbox).deliver(delivered)
    # then the customer got one mail for it
    [mail] = inbox.to(order.email)
    assert mail["Subject"] == f"ご注文の商品をお届けしました（注文番号 {order.order_id}）"  # noqa: RUF001


async def test_a_send_the_relay_stopped_waiting_for_still_settles_and_is_not_doubled(
    engine: Engine, inbox: Inbox
) -> None:
    # given a mail server slow to answer, and a relay that waits for a delivery less long than that
    order, confirming = placed_and_routed(engine)
    inbox.answer_after_s = 0.5
    sink = sink_for(engine, inbox)
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(sink.deliver(confirming), 0.1)
    # when the relay delivers again while the first send is under way, then it is told to come back later
    with pytest.raises(StillSending):
        await sink.deliver(confirming)
    # when it comes back once the server has answered, then the first send settled it and nothing more is sent
    await asyncio.sleep(0.8)
    await sink.deliver(confirming)
    assert len(inbox.to(order.email)) == 1
    assert ledger_rows(engine, confirming.event_id) == [("email", "sent")]


async def test_an_event_customers_do_not_care_about_sends_nothing(engine: Engine, inbox: Inbox) -> None:
    # given an order whose payment is captured and invoiced
    order, _ = placed_and_routed(engine)
    order.ship("YMT0000099999")
    fo_id, amount = f"{order.order_id}-F1", Decimal("24980")
    bookkeeping = order.record(
        ev.PaymentCaptured(at=AT, transaction_id="tx-1", fulfillment_order_id=fo_id, amount=amount),
        ev.InvoiceIssued(at=AT, invoice_id="inv-1", fulfillment_order_id=fo_id, amount=amount),
    )
    # when the relay delivers those events
    for event in bookkeeping:
        await sink_for(engine, inbox).deliver(event)
    # then no mail went out and nothing was claimed
    assert inbox.to(order.email) == []
    assert [ledger_rows(engine, e.event_id) for e in bookkeeping] == [[], []]


async def test_a_mail_server_that_is_down_is_tried_again_and_then_mails_once(engine: Engine, inbox: Inbox) -> None:
    # given a mail server not listening yet
    order, confirming = placed_and_routed(engine)
    down = SmtpMailer(SmtpConfig("127.0.0.1", free_port(), "shop@oms.example", timeout_s=2))
    # when the relay delivers the confirmation, then the sink asks to be retried and keeps no claim
    with pytest.raises(NotSent):
        await NotificationSink(engine, down, sms=None).deliver(confirming)
    assert ledger_rows(engine, confirming.event_id) == []
    # when the retry finds the server up, then the mail goes out once
    await sink_for(engine, inbox).deliver(confirming)
    await sink_for(engine, inbox).deliver(confirming)
    assert len(inbox.to(order.email)) == 1


async def test_a_mail_claimed_by_a_sender_that_stopped_is_not_sent_again_but_listed(
    engine: Engine, inbox: Inbox
) -> None:
    # given a mail claimed by a sender that stopped before it settled (it may or may not have gone out)
    order, confirming = placed_and_routed(engine)
    ledger = Ledger(engine)
    assert ledger.claim(confirming.event_id, "email", order.order_id, "confirmed", order.email) == "ours"
    # when the relay delivers the event again
    await sink_for(engine, inbox).deliver(confirming)
    # then nothing is sent, and the claim is listed for an operator
    assert inbox.to(order.email) == []
    listed = [(u.event_id, u.channel, u.kind) for u in ledger.unsettled(older_than=timedelta(0))]
    assert (confirming.event_id, "email", "confirmed") in listed
    # when the operator releases it and the event is delivered again, then it is mailed once
    assert ledger.release(confirming.event_id, "email")
    await sink_for(engine, inbox).deliver(confirming)
    assert len(inbox.to(order.email)) == 1
    assert ledger_rows(engine, confirming.event_id) == [("email", "sent")]


async def test_a_mail_whose_answer_never_came_is_not_sent_again_but_listed(engine: Engine, inbox: Inbox) -> None:
    # given a mail server that took the confirmation and dropped the line before answering
    order, confirming = placed_and_routed(engine)
    async with server_silent_after_the_message() as silent:
        # when the relay delivers the confirmation, then the sink does not ask to be retried (it may have gone out)
        await NotificationSink(engine, silent, sms=None).deliver(confirming)
    # when the relay delivers it again through a mail server that answers
    await sink_for(engine, inbox).deliver(confirming)
    # then it is not sent a second time: the claim waits for an operator
    assert inbox.to(order.email) == []
    assert ledger_rows(engine, confirming.event_id) == [("email", "claimed")]
    listed = [u.event_id for u in Ledger(engine).unsettled(older_than=timedelta(0))]
    assert confirming.event_id in listed


def test_an_operator_lists_an_unsettled_mail_and_gives_it_back(
    engine: Engine, database_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # given a mail claimed by a sender that stopped before it settled
    order, confirming = placed_and_routed(engine)
    Ledger(engine).claim(confirming.event_id, "email", order.order_id, "confirmed", order.email)
    monkeypatch.setenv("OMS_DATABASE_URL", database_url)
    load_settings.cache_clear()
    try:
        # when the operator lists what is unsettled, then it is there, with its order and recipient
        assert run(["notifications", "unsettled", "--older-than", "PT0S"]) == 0
        listed = [line.split("\t") for line in capsys.readouterr().out.splitlines()]
        assert [str(confirming.event_id), "email", order.order_id, "confirmed", order.email] in [
            line[:5] for line in listed
        ]
        # when the operator releases it, then the claim is gone, and a second release finds nothing to give back
        assert run(["notifications", "release", str(confirming.event_id)]) == 0
        assert ledger_rows(engine, confirming.event_id) == []
        assert run(["notifications", "release", str(confirming.event_id)]) == 1
    finally:
        load_settings.cache_clear()
