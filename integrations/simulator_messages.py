"""The simulated SMS provider (`POST /sms/messages`, once per Idempotency-Key, failing like the other partners)
and the listings of what was texted and mailed to customers, for tests and for a person trying the stack."""

import asyncio
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Annotated, Any, Protocol, TypeVar

import structlog
from fastapi import APIRouter, Header, HTTPException, Response
from pydantic import BaseModel, Field
from sqlalchemy import Engine, select
from sqlalchemy.dialects.postgresql import insert

from integrations.mail_catcher import MailStore
from store.notification_tables import simulator_sms_messages as sms

log = structlog.get_logger(__name__)
T = TypeVar("T")


class PartnerCall(Protocol):
    """Runs a partner call under the simulators' fault plan (integrations/simulators.py)."""

    def __call__(self, work: Callable[[], Awaitable[T]]) -> Awaitable[T]: ...


class SmsRequest(BaseModel):
    to: str = Field(min_length=1, max_length=32)
    sender: str = Field(default="OMS", min_length=1, max_length=32)
    body: str = Field(min_length=1, max_length=1600)


class SmsMessage(BaseModel):
    id: int
    idempotency_key: str
    to: str
    sender: str
    body: str
    created_at: datetime


class MailMessage(BaseModel):
    id: int
    message_id: str | None
    mail_from: str
    rcpt_to: list[str]
    subject: str
    body: str
    received_at: datetime


class SmsStore:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def send(self, key: str, request: SmsRequest) -> tuple[dict[str, Any], bool]:
        """Keep the message once per key: the row and True, or the first row with that key and False."""
        values = {"idempotency_key": key, **request.model_dump()}
        with self.engine.begin() as conn:
            new = conn.execute(insert(sms).values(values).on_conflict_do_nothing().returning(*sms.c)).mappings().first()
            if new is not None:
                return dict(new), True
            first = conn.execute(select(sms).where(sms.c.idempotency_key == key)).mappings().one()
            return dict(first), False

    def list(self, to: str | None = None, limit: int = 100) -> list[dict[str, Any]]:
        query = select(sms).order_by(sms.c.id.desc()).limit(limit)
        with self.engine.connect() as conn:
            return [dict(r) for r in conn.execute(query if to is None else query.where(sms.c.to == to)).mappings()]


def message_routes(engine: Engine, partner_call: PartnerCall) -> APIRouter:
    texts, mail = SmsStore(engine), MailStore(engine)
    router = APIRouter()

    @router.post(
        "/sms/messages",
        status_code=201,
        tags=["sms"],
        responses={422: {"description": "the Idempotency-Key was used for another message"}},
    )
    async def send_sms(
        request: SmsRequest, response: Response, idempotency_key: Annotated[str, Header(alias="Idempotency-Key")]
    ) -> SmsMessage:
        """Send a text once per key: a repeat (200) answers the message sent first and sends nothing."""

        async def work() -> SmsMessage:
            row, new = await asyncio.to_thread(texts.send, idempotency_key, request)
            if not new and (row["to"], row["body"]) != (request.to, request.body):
                raise HTTPException(422, f"Idempotency-Key {idempotency_key!r} was used for another message")
            if new:
                log.info("sms_sent", to=request.to, key=idempotency_key)
            response.status_code = 201 if new else 200
            return SmsMessage.model_validate(row)

        return await partner_call(work)

    @router.get("/sms/messages", tags=["sms"])
    async def list_sms(to: str | None = None, limit: int = 100) -> list[SmsMessage]:
        """The texts sent, latest first."""
        return [SmsMessage.model_validate(r) for r in await asyncio.to_thread(texts.list, to, limit)]

    @router.get("/mail/messages", tags=["mail"])
    async def list_mail(to: str | None = None, limit: int = 100) -> list[MailMessage]:
        """The mails the simulators' mail catcher received, latest first."""
        return [MailMessage.model_validate(r) for r in await asyncio.to_thread(mail.list, to, limit)]

    return router
