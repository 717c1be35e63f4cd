"""The notifications sink as the relay drives it from the outbox: a confirmation mailed once, across a restart."""

import asyncio
from collections.abc import Iterator

import pytest
from sqlalchemy import Engine

from events_out.notifications.sink import NotificationSink
from events_out.relay import Relay
from tests.db.notification_harness import Inbox, placed_and_routed, smtp_server

pytestmark = pytest.mark.db


@pytest.fixture
def inbox() -> Iterator[Inbox]:
    with smtp_server() as inbox:
        yield inbox


async def rounds_until(relay: Relay, rounds: int = 50) -> None:
    """Run the relay round by round until it has nothing left to read or try."""
    for _ in range(rounds):
        if not await relay.run_once():
            return
        await asyncio.sleep(0)


async def test_the_relay_mails_a_confirmation_once_and_a_restarted_relay_does_not_again(
    engine: Engine, inbox: Inbox
) -> None:
    # given a relay serving the notifications sink (which starts reading at the outbox's end)
    relay = Relay(engine, [NotificationSink(engine, inbox.mailer(), sms=None)], poll_interval=0.05)
    await rounds_until(relay)
    # when an order is placed and routed, and the relay runs
    order, _ = placed_and_routed(engine, locale="en")
    await rounds_until(relay)
    await relay.close()
    # then its customer got the confirmation
    assert [m["Subject"] for m in inbox.to(order.email)] == [f"Your order {order.order_id} is confirmed"]
    # when a restarted relay with a new sink runs over the same outbox
    restarted = Relay(engine, [NotificationSink(engine, inbox.mailer(), sms=None)], poll_interval=0.05)
    await rounds_until(restarted)
    await restarted.close()
    # then nothing more was sent
    assert len(inbox.to(order.email)) == 1
