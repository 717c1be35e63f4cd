"""A real SMTP server for the test to read, and orders projected into the read model so that their events are in
the outbox, as the relay hands them to the notifications sink."""

import asyncio
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from email import message_from_bytes
from email.message import EmailMessage
from email.policy import default
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session
from sqlalchemy import Engine, select

from activities.contracts import ProjectionBatch
from domain import events as ev
from domain.ids import workflow_id_for
from domain.models import SkuQuantity
from domain.order import Order
from events_out.contracts import OutboxEvent
from events_out.notifications.mailer import SmtpConfig, SmtpMailer
from starter.ports import free_port
from store.order_projection import OrderProjection
from store.outbox_tables import outbox
from tests.orders import place_order

AT = datetime(2026, 12, 1, 1, 0, tzinfo=UTC)


@dataclass
class Inbox:
    """What the SMTP server was handed: each message as a reader parses it, with its envelope's recipients."""

    port: int
    received: list[tuple[list[str], EmailMessage]] = field(default_factory=list)
    answer_after_s: float = 0.0  # how long the server takes to answer a message it has taken

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        await asyncio.sleep(self.answer_after_s)
        content = envelope.content
        assert isinstance(content, bytes)
        message = message_from_bytes(content, policy=default)
        assert isinstance(message, EmailMessage)
        self.received.append((list(envelope.rcpt_tos), message))
        return "250 OK"

    def to(self, address: str) -> list[EmailMessage]:
        return [message for rcpt, message in self.received if address in rcpt]

    def mailer(self) -> SmtpMailer:
        return SmtpMailer(SmtpConfig("127.0.0.1", self.port, "OMS Shop <shop@oms.example>", timeout_s=5))


@contextmanager
def smtp_server() -> Iterator[Inbox]:
    inbox = Inbox(free_port())
    controller = Controller(inbox, hostname="127.0.0.1", port=inbox.port)
    controller.start()
    try:
        yield inbox
    finally:
        controller.stop()


@asynccontextmanager
async def server_silent_after_the_message() -> AsyncIterator[SmtpMailer]:
    """An SMTP server that takes a whole message and then drops the connection without answering: the mail may
    have been delivered, and the sender cannot know."""
    received: list[bytes] = []

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"220 silent\r\n")
        while line := await reader.readline():
            if line.upper().startswith(b"DATA"):
                writer.write(b"354 go ahead\r\n")
                received.append(await reader.readuntil(b"\r\n.\r\n"))
                break
            writer.write(b"250 OK\r\n")
        writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        yield SmtpMailer(SmtpConfig("127.0.0.1", port, "shop@oms.example", timeout_s=5))
    finally:
        server.close()
        await server.wait_closed()
    assert received, "the message never reached the server"


def body_of(message: EmailMessage) -> str:
    part = message.get_body(preferencelist=("plain",))
    assert isinstance(part, EmailMessage)
    return str(part.get_content())


@dataclass
class ProjectedOrder:
    """An order whose events were projected (so written to the outbox) as its workflow would."""

    engine: Engine
    order: Order
    email: str

    @property
    def order_id(self) -> str:
        return self.order.order_id

    def record(self, *events: ev.OrderEvent) -> list[OutboxEvent]:
        """Project the events in one batch; their outbox rows as the relay reads them."""
        recorded = []
        for event in events:
            self.order.apply(event)
            recorded.append(ev.RecordedEvent(seq=self.order.version, event=event))
        batch = ProjectionBatch(
            workflow_id=workflow_id_for(self.order_id), order=self.order.model_copy(deep=True), events=recorded
        )
        assert OrderProjection(self.engine).project(batch) is None
        sequences = [r.seq for r in recorded]
        query = select(outbox).where(outbox.c.order_id == self.order_id, outbox.c.sequence.in_(sequences))
        with self.engine.connect() as conn:
            rows = conn.execute(query.order_by(outbox.c.sequence)).mappings().all()
        return [
            OutboxEvent(r["event_id"], r["order_id"], r["sequence"], r["type"], r["occurred_at"], r["data"])
            for r in rows
        ]

    def ship(self, tracking_number: str) -> OutboxEvent:
        shipped = ev.ShipmentShipped(
            at=AT + timedelta(hours=2),
            fulfillment_order_id=f"{self.order_id}-F1",
            carrier="yamato",
            tracking_number=tracking_number,
        )
        return self.record(shipped)[0]


def placed_and_routed(
    engine: Engine, locale: str = "ja", phone: str | None = None, location_id: str = "DC-TOKYO"
) -> tuple[ProjectedOrder, OutboxEvent]:
    """A JPY order of one LEGO set (24,980) placed, paid, and released to a location; and the event confirming it."""
    order_id = f"NT-{uuid.uuid4().hex[:10]}"
    email = f"{order_id.lower()}@example.com"
    customer: dict[str, Any] = {"id": "C-NOTIFY", "email": email, "name": "佐藤 愛子", "locale": locale, "phone": phone}
    placed = ProjectedOrder(engine, Order(order_id=order_id), email)
    line = SkuQuantity(sku="LEGO-76419", quantity=1)
    events = placed.record(
        ev.OrderPlaced(at=AT, actor="customer:C-NOTIFY", order=place_order(order_id, customer=customer)),
        ev.PaymentAuthorized(at=AT, authorization_id=f"auth_{order_id}", amount=Decimal("24980")),
        ev.InventoryReserved(at=AT, location_id=location_id, lines=[line]),
        ev.FulfillmentOrderCreated(at=AT, fulfillment_order_id=f"{order_id}-F1", location_id=location_id, lines=[line]),
    )
    return placed, events[-1]
