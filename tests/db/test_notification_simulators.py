"""Texts through the simulated SMS provider, and mails caught by the simulators' mail catcher, as `oms up` runs
them: each message once, however the provider fails and however often the relay delivers."""

import random
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

import httpx
import pytest
from sqlalchemy import Engine

from domain import events as ev
from events_out.notifications.mailer import SmtpConfig, SmtpMailer
from events_out.notifications.sink import NotificationSink
from events_out.notifications.sms import HttpSmsProvider, SmsUnavailable
from integrations.mail_catcher import MailCatcher
from integrations.simulator_faults import FaultPlan
from integrations.simulators import create_simulator_app
from starter.ports import free_port
from tests.db.notification_harness import AT, placed_and_routed
from tests.db.simulator_harness import OMS, PARTNER_TOKEN

pytestmark = pytest.mark.db
SIM = "http://sim.test"


@dataclass
class Simulators:
    client: httpx.AsyncClient
    transport: httpx.ASGITransport

    def texting_sink(self, engine: Engine) -> NotificationSink:
        """A new sink (as after a restart) texting through these simulators, mailing nothing."""
        return NotificationSink(engine, mailer=None, sms=HttpSmsProvider(SIM, transport=self.transport))


@asynccontextmanager
async def simulators(engine: Engine, faults: FaultPlan | None = None) -> AsyncIterator[Simulators]:
    """The simulators' app, reached in the test's loop."""
    app = create_simulator_app(OMS, PARTNER_TOKEN, "off", 0.01, engine=engine, faults=faults)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url=SIM) as client:
        yield Simulators(client, transport)


def new_phone() -> str:
    return f"+8190{random.randrange(10**8):08d}"


async def test_a_shipment_is_texted_once_through_the_simulator(engine: Engine) -> None:
    # given a shipped order of a customer who gave a phone number and reads English
    phone = new_phone()
    order, _ = placed_and_routed(engine, locale="en", phone=phone)
    shipped = order.ship("YMT0000077777")
    async with simulators(engine) as sim:
        # when the relay delivers the shipment, retries it, and a restarted relay delivers it again
        await sim.texting_sink(engine).deliver(shipped)
        await sim.texting_sink(engine).deliver(shipped)
        texts = (await sim.client.get("/sms/messages", params={"to": phone})).json()
    # then the provider sent one text, in English, with the tracking number, under the event's key
    assert [(t["to"], t["idempotency_key"]) for t in texts] == [(phone, f"oms-event-{shipped.event_id}-sms")]
    assert texts[0]["body"] == (
        f"Your order {order.order_id} has shipped with Yamato Transport, tracking number YMT0000077777."
    )


async def test_a_provider_that_fails_and_loses_answers_still_texts_each_event_once(engine: Engine) -> None:
    # given a provider failing half its calls, some after sending (the answer lost), and an order with news
    phone = new_phone()
    order, confirming = placed_and_routed(engine, phone=phone)
    shipped = order.ship("YMT0000088888")
    [delivered] = order.record(
        ev.ShipmentDelivered(at=AT, fulfillment_order_id=f"{order.order_id}-F1", tracking_number="YMT0000088888")
    )
    async with simulators(engine, FaultPlan(0.5, seed=3, slow_s=0.01)) as sim:
        # when the relay delivers each event until the sink takes it
        failures: list[str] = []
        for event in (confirming, shipped, delivered):
            for _ in range(30):
                try:
                    await sim.texting_sink(engine).deliver(event)
                    break
                except SmsUnavailable as err:
                    failures.append(str(err))
        texts = (await sim.client.get("/sms/messages", params={"to": phone})).json()
    # then the provider failed on the way, both before sending and after (the answer lost)
    assert any("nothing was done" in f for f in failures)
    assert any("answer was lost" in f for f in failures)
    # and still the customer got exactly one text per event
    assert sorted(t["idempotency_key"] for t in texts) == sorted(
        f"oms-event-{e.event_id}-sms" for e in (confirming, shipped, delivered)
    )


async def test_the_provider_sends_once_per_key_and_refuses_a_key_reused_for_another_text(engine: Engine) -> None:
    async with simulators(engine) as sim:
        phone, key = new_phone(), f"k-{random.randrange(10**9)}"
        # given a text sent under a key
        first = await sim.client.post(
            "/sms/messages", json={"to": phone, "body": "hello"}, headers={"Idempotency-Key": key}
        )
        # when the same text comes again, and another text under the same key
        again = await sim.client.post(
            "/sms/messages", json={"to": phone, "body": "hello"}, headers={"Idempotency-Key": key}
        )
        other = await sim.client.post(
            "/sms/messages", json={"to": phone, "body": "other"}, headers={"Idempotency-Key": key}
        )
        listed = (await sim.client.get("/sms/messages", params={"to": phone})).json()
    # then the repeat answers the first text, the other is refused, and one text was sent
    assert (first.status_code, again.status_code, other.status_code) == (201, 200, 422)
    assert again.json()["id"] == first.json()["id"]
    assert [t["body"] for t in listed] == ["hello"]


async def test_the_mail_catcher_keeps_what_it_is_sent_for_a_person_to_read(engine: Engine) -> None:
    # given the simulators' mail catcher, which oms up points the mail of a stack without a mail server at
    catcher = MailCatcher(engine, "127.0.0.1", free_port())
    catcher.start()
    try:
        mailer = SmtpMailer(SmtpConfig("127.0.0.1", catcher.port, "OMS <no-reply@oms.example>", timeout_s=5))
        order, confirming = placed_and_routed(engine, locale="ja")
        # when the confirmation is mailed
        await NotificationSink(engine, mailer, sms=None).deliver(confirming)
    finally:
        catcher.stop()
    # then the simulators list it, decoded, for its recipient
    async with simulators(engine) as sim:
        [mail] = (await sim.client.get("/mail/messages", params={"to": order.email})).json()
    assert mail["rcpt_to"] == [order.email]
    assert mail["subject"] == f"ご注文を承りました（注文番号 {order.order_id}）"  # noqa: RUF001
    assert "合計金額: 24,980円" in mail["body"]
    assert mail["message_id"] == f"<oms.event-{confirming.event_id}@oms.example>"
