"""Mail over SMTP (stdlib smtplib, in a thread), telling apart a mail surely not sent from one that may have been.

SMTP has no idempotency: a mail handed over twice arrives twice. So the one moment that matters is after the
message's final dot: a reply of 250 means sent, any other reply means the server refused it, and no reply at
all (the connection lost, a timeout) means nobody knows. Everything before that moment fails as `NotSent`,
safe to try again; that moment fails as `MaybeSent`, which the sink does not send again by itself.
"""

import asyncio
import re
import smtplib
import ssl
import threading
import time
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import formatdate, parseaddr


@dataclass(frozen=True)
class Mail:
    to: str
    subject: str
    body: str
    message_id: str  # made from the event, the same on every attempt: a receiver can tell a repeat


@dataclass(frozen=True)
class SmtpConfig:
    host: str
    port: int
    sender: str  # the From header, `Name <address>` or an address
    starttls: bool = False
    username: str | None = None
    password: str | None = field(default=None, repr=False)  # kept out of logs
    timeout_s: float = 10.0

    @property
    def domain(self) -> str:
        return parseaddr(self.sender)[1].rpartition("@")[2] or "localhost"


class NotSent(Exception):
    """The server surely did not take the mail; `permanent` when it refused it (5xx) and a retry would too."""

    def __init__(self, reason: str, permanent: bool = False) -> None:
        super().__init__(reason)
        self.permanent = permanent


class MaybeSent(Exception):
    """The message went out and no answer came back: it may have been delivered."""


class SmtpMailer:
    """Sends over connections it keeps open between mails (a provider counts connections, and a handshake per
    mail costs both ends more than the mail): up to `keep_open`, each for at most `idle_s` unused."""

    def __init__(self, config: SmtpConfig, *, keep_open: int = 4, idle_s: float = 30.0) -> None:
        self.config = config
        self._keep_open, self._idle_s = keep_open, idle_s
        self._idle: list[tuple[smtplib.SMTP, float]] = []  # (connection, when it was last used)
        self._lock = threading.Lock()

    def message_id(self, event_id: int) -> str:
        return f"<oms.event-{event_id}@{self.config.domain}>"

    async def send(self, mail: Mail) -> None:
        await asyncio.to_thread(self._send, mail)

    def close(self) -> None:
        """Quit every connection kept open."""
        with self._lock:
            idle, self._idle = self._idle, []
        for smtp, _ in idle:
            _quit(smtp)

    def _send(self, mail: Mail) -> None:
        smtp = self._kept()
        if smtp is not None:
            try:
                self._hand_over(smtp, mail)
            except NotSent as err:
                _quit(smtp)
                if err.permanent:
                    raise
                # the server may have closed a connection it found idle: surely not sent, so once more afresh
            except BaseException:
                _quit(smtp)
                raise
            else:
                self._keep(smtp)
                return
        smtp = self._connect()
        try:
            self._hand_over(smtp, mail)
        except BaseException:
            _quit(smtp)
            raise
        self._keep(smtp)

    def _kept(self) -> smtplib.SMTP | None:
        now = time.monotonic()
        with self._lock:
            stale = [smtp for smtp, at in self._idle if now - at > self._idle_s]
            self._idle = [(smtp, at) for smtp, at in self._idle if now - at <= self._idle_s]
            kept = self._idle.pop()[0] if self._idle else None
        for smtp in stale:
            _quit(smtp)
        return kept

    def _keep(self, smtp: smtplib.SMTP) -> None:
        with self._lock:
            if len(self._idle) < self._keep_open:
                self._idle.append((smtp, time.monotonic()))
                return
        _quit(smtp)

    def _connect(self) -> smtplib.SMTP:
        """A connection greeted, secured and logged in as configured, ready for a mail."""
        c = self.config
        try:
            smtp = smtplib.SMTP(c.host, c.port, timeout=c.timeout_s)
        except (OSError, smtplib.SMTPException) as err:
            raise NotSent(f"no SMTP server at {c.host}:{c.port}: {err!r}") from err
        try:
            smtp.ehlo_or_helo_if_needed()
            if c.starttls:
                smtp.starttls(context=ssl.create_default_context())
                smtp.ehlo()
            if c.username:
                smtp.login(c.username, c.password or "")
        except smtplib.SMTPResponseException as err:
            _quit(smtp)
            raise NotSent(f"{err.smtp_code} {err.smtp_error!r}", permanent=err.smtp_code >= 500) from err
        except (OSError, smtplib.SMTPException) as err:
            _quit(smtp)
            raise NotSent(repr(err)) from err
        return smtp

    def _hand_over(self, smtp: smtplib.SMTP, mail: Mail) -> None:
        sender = parseaddr(self.config.sender)[1]
        try:
            _expect(smtp.mail(sender), 250)
            _expect(smtp.rcpt(mail.to), 250, 251)
            _expect(smtp.docmd("DATA"), 354)
        except smtplib.SMTPResponseException as err:
            raise NotSent(f"{err.smtp_code} {err.smtp_error!r}", permanent=err.smtp_code >= 500) from err
        except (OSError, smtplib.SMTPException) as err:
            raise NotSent(repr(err)) from err
        try:
            smtp.send(_dot_terminated(self._message(mail).as_bytes()))
            code, reply = smtp.getreply()
        except (OSError, smtplib.SMTPException) as err:
            raise MaybeSent(f"no answer after the message: {err!r}") from err
        if code != 250:
            raise NotSent(f"{code} {reply!r}", permanent=code >= 500)

    def _message(self, mail: Mail) -> EmailMessage:
        message = EmailMessage(policy=SMTP)
        message["From"] = self.config.sender
        message["To"] = mail.to
        message["Subject"] = mail.subject
        message["Message-ID"] = mail.message_id
        message["Date"] = formatdate(usegmt=True)
        message.set_content(mail.body, charset="utf-8")
        return message


def _quit(smtp: smtplib.SMTP) -> None:
    try:
        smtp.quit()
    except (OSError, smtplib.SMTPException):
        smtp.close()  # whatever the server says now, the mail's outcome is decided already


def _expect(answer: tuple[int, bytes], *codes: int) -> None:
    code, reply = answer
    if code not in codes:
        raise smtplib.SMTPResponseException(code, reply)


def _dot_terminated(content: bytes) -> bytes:
    """The message as DATA carries it: a leading dot doubled, CRLF line ends, a line of one dot at the end."""
    content = re.sub(rb"(?m)^\.", b"..", re.sub(rb"\r?\n", b"\r\n", content))
    return content + (b"" if content.endswith(b"\r\n") else b"\r\n") + b".\r\n"
