"""The notifications destination of the outbox: for an event a customer cares about, one mail and (when the
customer gave a phone number) one SMS, in the customer's language, each sent once however often the relay
delivers the event (events_out/notifications/ledger.py says what happens after a crash mid-send)."""

import asyncio
from collections.abc import Awaitable, Callable

import structlog
from sqlalchemy import Engine

from events_out.contracts import OutboxEvent
from events_out.notifications.ledger import Channel, Ledger
from events_out.notifications.mailer import Mail, MaybeSent, NotSent, SmtpMailer
from events_out.notifications.notices import NOTIFYING_TYPES, Notice, needs_history, notice_for
from events_out.notifications.recipients import Recipient, Recipients
from events_out.notifications.sms import SmsProvider, SmsRejected
from events_out.notifications.templates import Rendered, render

log = structlog.get_logger(__name__)


class OrderNotProjected(Exception):
    """The event's order is not in the read model (yet): deliver again later."""


class StillSending(Exception):
    """An earlier delivery of the event, which the relay stopped waiting for, is still sending: try again later."""


class NotificationSink:
    name = "notifications"
    types: frozenset[str] | None = NOTIFYING_TYPES  # an event of another type is never even read out for it

    def __init__(self, engine: Engine, mailer: SmtpMailer | None, sms: SmsProvider | None) -> None:
        """No `mailer` (no SMTP server configured) or no `sms` provider: that channel sends nothing."""
        self.mailer, self.sms = mailer, sms
        self.recipients, self.ledger = Recipients(engine), Ledger(engine)
        # sends under way, by (event, channel): kept to the end even when the relay stops waiting for them
        self._sending: dict[tuple[int, Channel], asyncio.Future[None]] = {}

    async def deliver(self, event: OutboxEvent) -> None:
        if event.type not in NOTIFYING_TYPES:
            return
        history = await asyncio.to_thread(self.recipients.history, event.order_id) if needs_history(event.type) else ()
        notice = notice_for(event, history)
        if notice is None:
            return
        recipient = await asyncio.to_thread(self.recipients.of, event.order_id)
        if recipient is None:
            raise OrderNotProjected(f"order {event.order_id} is not in the read model")
        message = await self._render(notice, recipient)
        failures: list[Exception] = []
        for channel, send in self._channels(event, recipient, message):
            try:
                await self._once(event, notice, channel, send)
            except Exception as err:  # one channel failing must not hold back the other
                failures.append(err)
        if failures:
            raise failures[0]

    async def close(self) -> None:
        """What the relay calls as it stops: sends under way settle first, then the provider's client closes."""
        await asyncio.gather(*self._sending.values(), return_exceptions=True)
        if self.mailer is not None:
            await asyncio.to_thread(self.mailer.close)
        close = getattr(self.sms, "aclose", None)
        if close is not None:
            await close()

    async def _render(self, notice: Notice, recipient: Recipient) -> Rendered:
        values = recipient.values()
        if notice.kind == "ready_for_pickup":
            fo_id = str(notice.facts["fulfillment_order_id"])
            values["store"] = await asyncio.to_thread(self.recipients.store_of, fo_id) or fo_id
        return render(notice, recipient.locale, values)

    def _channels(
        self, event: OutboxEvent, recipient: Recipient, message: Rendered
    ) -> list[tuple[tuple[Channel, str], Callable[[], Awaitable[str]]]]:
        channels: list[tuple[tuple[Channel, str], Callable[[], Awaitable[str]]]] = []
        mailer, sms, phone = self.mailer, self.sms, recipient.phone
        if mailer is not None:
            mail = Mail(recipient.email, message.subject, message.body, mailer.message_id(event.event_id))

            async def send_mail() -> str:
                await mailer.send(mail)
                return mail.message_id

            channels.append((("email", recipient.email), send_mail))
        if sms is not None and phone is not None:

            async def send_sms() -> str:
                return await sms.send(phone, message.sms, f"oms-event-{event.event_id}-sms")

            channels.append((("sms", phone), send_sms))
        return channels

    async def _once(
        self, event: OutboxEvent, notice: Notice, to: tuple[Channel, str], send: Callable[[], Awaitable[str]]
    ) -> None:
        ids = (event.event_id, to[0])
        if ids in self._sending:
            raise StillSending(f"event {event.event_id} is still being sent by {to[0]}")
        # The relay gives up waiting on a slow delivery, but a claim taken or a send begun goes on regardless (the
        # SMTP thread cannot be stopped): it is settled to the end rather than left claimed by a cancel.
        settling = asyncio.ensure_future(self._claim_send_settle(event, notice, to, send))
        self._sending[ids] = settling
        settling.add_done_callback(lambda task: self._settled(ids, task))
        await asyncio.shield(settling)

    async def _claim_send_settle(
        self, event: OutboxEvent, notice: Notice, to: tuple[Channel, str], send: Callable[[], Awaitable[str]]
    ) -> None:
        channel, address = to
        where = {"event_id": event.event_id, "order_id": event.order_id, "channel": channel, "kind": notice.kind}
        ids = (event.event_id, channel)
        claim = await asyncio.to_thread(self.ledger.claim, *ids, event.order_id, notice.kind, address)
        if claim == "settled":
            return
        # an SMS goes to its provider again under the same key, which sends it once; a mail cannot be taken back
        if claim == "unsettled" and channel == "email":
            log.warning("notification_unsettled", **where)
            return
        try:
            reference = await send()
        except (SmsRejected, NotSent) as err:
            if isinstance(err, NotSent) and not err.permanent:
                await asyncio.to_thread(self.ledger.release, *ids)
                raise
            log.warning("notification_refused", error=str(err), **where)
            await asyncio.to_thread(self.ledger.failed, *ids, str(err))
            return
        except MaybeSent as err:
            log.error("notification_unsettled", error=str(err), **where)  # stays claimed, for an operator
            return
        await asyncio.to_thread(self.ledger.sent, *ids, reference)
        log.info("notification_sent", **where)

    def _settled(self, ids: tuple[int, Channel], task: "asyncio.Future[None]") -> None:
        self._sending.pop(ids, None)
        if not task.cancelled():
            # seen here, so a failure nobody waits for any more is not reported as lost: the relay delivers again
            task.exception()
