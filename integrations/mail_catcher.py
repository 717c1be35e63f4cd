"""A local SMTP server in the simulators that keeps every mail it is handed, so a stack with no mail server still
sends its customers' mails somewhere a person can read them (`GET /mail/messages` on the simulators)."""

import asyncio
import logging
from email import message_from_bytes
from email.message import EmailMessage
from email.policy import default
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session
from sqlalchemy import Engine, cast, insert, select
from sqlalchemy.dialects.postgresql import JSONB

from store.notification_tables import simulator_mails as mails


class MailStore:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def add(self, mail_from: str, rcpt_to: list[str], raw: bytes) -> int:
        message = message_from_bytes(raw, policy=default)
        assert isinstance(message, EmailMessage)  # what the default policy builds
        row = {
            "message_id": message.get("Message-ID"),
            "mail_from": mail_from,
            "rcpt_to": rcpt_to,
            "subject": str(message.get("Subject", "")),
            "body": _text_of(message),
            "raw": raw.decode("utf-8", errors="replace"),
        }
        with self.engine.begin() as conn:
            mail_id: int = conn.execute(insert(mails).values(row).returning(mails.c.id)).scalar_one()
        return mail_id

    def list(self, to: str | None = None, limit: int = 100) -> list[dict[str, Any]]:
        """The latest mails first, for one recipient or all."""
        query = select(mails.c.id, mails.c.message_id, mails.c.mail_from, mails.c.rcpt_to, mails.c.subject)
        query = query.add_columns(mails.c.body, mails.c.received_at).order_by(mails.c.id.desc()).limit(limit)
        if to is not None:
            query = query.where(cast(mails.c.rcpt_to, JSONB).contains([to]))
        with self.engine.connect() as conn:
            return [dict(r) for r in conn.execute(query).mappings()]


def _text_of(message: EmailMessage) -> str:
    part = message.get_body(preferencelist=("plain",))
    # mail text travels with CRLF line ends; a person reads it with plain ones
    return part.get_content().replace("\r\n", "\n") if isinstance(part, EmailMessage) else ""


class _Keeper:
    def __init__(self, store: MailStore) -> None:
        self.store = store

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        raw = envelope.original_content or envelope.content or b""
        assert isinstance(raw, bytes)
        await asyncio.to_thread(self.store.add, envelope.mail_from or "", list(envelope.rcpt_tos), raw)
        return "250 Message accepted for delivery"


class MailCatcher:
    """The SMTP server, on its own thread (aiosmtpd's controller) beside the simulators' HTTP server."""

    def __init__(self, engine: Engine, host: str, port: int) -> None:
        logging.getLogger("mail.log").setLevel(logging.WARNING)  # aiosmtpd logs every SMTP command at INFO
        self.host, self.port = host, port
        self.controller = Controller(_Keeper(MailStore(engine)), hostname=host, port=port)

    def start(self) -> None:
        self.controller.start()

    def stop(self) -> None:
        self.controller.stop()
