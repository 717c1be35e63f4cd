"""The record of notifications, one row per (event, channel): claimed before sending, settled after.

The relay may hand the same event over again (a retry, a restart), so a message is sent only by the call that
claims its row. A row settles as `sent`, as `failed` (refused for good: retrying would not help), or is given
back (deleted) when nothing went out and the relay should try again.

A claim that never settled means the sender stopped between claiming and settling: the message may or may not
have gone out. Never twice wins: an e-mail is not sent again for it; such claims are listed for an operator
(`unsettled`), who checks the mail server's log and then `release`s the claim so the event's next delivery (a
replay) sends it, or leaves it. An SMS is handed to its provider again under the same idempotency key, which
the provider sends once, so its claims settle by themselves.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from sqlalchemy import Engine, delete, func, select, update
from sqlalchemy.dialects.postgresql import insert

from store.notification_tables import notifications as nt

Channel = Literal["email", "sms"]
Claim = Literal["ours", "unsettled", "settled"]


@dataclass(frozen=True)
class Unsettled:
    event_id: int
    channel: str
    order_id: str
    kind: str
    recipient: str
    claimed_at: datetime


class Ledger:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def claim(self, event_id: int, channel: Channel, order_id: str, kind: str, recipient: str) -> Claim:
        """`ours` when this call now holds the claim; `unsettled` when an earlier one holds it and never
        settled; `settled` when the message was sent or refused for good."""
        row = {
            "event_id": event_id,
            "channel": channel,
            "order_id": order_id,
            "kind": kind,
            "recipient": recipient,
            "state": "claimed",
        }
        with self.engine.begin() as conn:
            new = conn.execute(insert(nt).values(row).on_conflict_do_nothing().returning(nt.c.event_id)).first()
            if new is not None:
                return "ours"
            state = conn.execute(
                select(nt.c.state).where(nt.c.event_id == event_id, nt.c.channel == channel)
            ).scalar_one()
        return "unsettled" if state == "claimed" else "settled"

    def sent(self, event_id: int, channel: Channel, reference: str) -> None:
        self._settle(event_id, channel, state="sent", reference=reference)

    def failed(self, event_id: int, channel: Channel, error: str) -> None:
        self._settle(event_id, channel, state="failed", error=error[:2000])

    def release(self, event_id: int, channel: Channel) -> bool:
        """Give back a claim that did not send: the event's next delivery claims and sends it again."""
        where = (nt.c.event_id == event_id) & (nt.c.channel == channel) & (nt.c.state == "claimed")
        with self.engine.begin() as conn:
            return conn.execute(delete(nt).where(where)).rowcount > 0

    def unsettled(self, older_than: timedelta = timedelta(minutes=5)) -> list[Unsettled]:
        """Claims older than `older_than` that never settled, oldest first: what an operator must look at."""
        query = (
            select(nt.c.event_id, nt.c.channel, nt.c.order_id, nt.c.kind, nt.c.recipient, nt.c.claimed_at)
            .where(nt.c.state == "claimed", nt.c.claimed_at < func.now() - older_than)
            .order_by(nt.c.claimed_at)
        )
        with self.engine.connect() as conn:
            return [Unsettled(**row) for row in conn.execute(query).mappings()]

    def _settle(self, event_id: int, channel: Channel, **values: str) -> None:
        where = (nt.c.event_id == event_id) & (nt.c.channel == channel)
        with self.engine.begin() as conn:
            conn.execute(update(nt).where(where).values(settled_at=func.now(), **values))
