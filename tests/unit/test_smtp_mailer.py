"""The mailer against a real SMTP server (aiosmtpd): connections kept open between mails, and a kept connection
the server has dropped meanwhile costs no mail and sends none twice."""

import asyncio
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session

from events_out.notifications.mailer import Mail, SmtpConfig, SmtpMailer
from starter.ports import free_port


@dataclass
class Server:
    """Each message taken, with the client's address and port: one port per connection."""

    port: int
    taken: list[tuple[str, object]] = field(default_factory=list)  # (recipient, the peer: host and port)
    controller: Controller | None = None

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        self.taken.append((envelope.rcpt_tos[0], session.peer))
        return "250 OK"

    def start(self) -> None:
        self.controller = Controller(self, hostname="127.0.0.1", port=self.port)
        self.controller.start()

    def stop(self) -> None:
        """Stops listening and drops every connection open."""
        if self.controller is not None:
            self.controller.stop()
            self.controller = None

    def connections(self) -> int:
        return len({peer for _, peer in self.taken})

    def mailer(self, keep_open: int = 4, idle_s: float = 30.0) -> SmtpMailer:
        config = SmtpConfig("127.0.0.1", self.port, "shop@oms.example", timeout_s=5)
        return SmtpMailer(config, keep_open=keep_open, idle_s=idle_s)


@pytest.fixture
def server() -> Iterator[Server]:
    server = Server(free_port())
    server.start()
    try:
        yield server
    finally:
        server.stop()


def mail(n: int) -> Mail:
    return Mail(f"customer-{n}@example.com", "Your order", "Thank you.", f"<oms.event-{n}@oms.example>")


def test_mails_one_after_another_share_one_connection(server: Server) -> None:
    # given a mailer
    mailer = server.mailer()
    # when it sends three mails one after the other
    for n in range(3):
        asyncio.run(mailer.send(mail(n)))
    mailer.close()
    # then each arrived once, all over one connection
    assert [to for to, _ in server.taken] == [f"customer-{n}@example.com" for n in range(3)]
    assert server.connections() == 1


def test_mails_sent_at_once_open_no_more_connections_than_are_kept(server: Server) -> None:
    # given a mailer that keeps two connections
    mailer = server.mailer(keep_open=2)

    async def burst() -> None:
        await asyncio.gather(*(mailer.send(mail(n)) for n in range(6)))

    # when six mails go out at once, twice
    asyncio.run(burst())
    asyncio.run(burst())
    mailer.close()
    # then all twelve arrived, and the second burst reused what the first kept
    assert len(server.taken) == 12
    assert server.connections() < 12


def test_a_kept_connection_the_server_dropped_costs_no_mail_and_doubles_none(server: Server) -> None:
    # given a mailer that has sent a mail and kept its connection
    mailer = server.mailer()
    asyncio.run(mailer.send(mail(1)))
    # when the server restarts (dropping that connection) and the next mail is sent
    server.stop()
    server.start()
    asyncio.run(mailer.send(mail(2)))
    mailer.close()
    # then each mail arrived once, the second on a new connection
    assert [to for to, _ in server.taken] == ["customer-1@example.com", "customer-2@example.com"]
    assert server.connections() == 2


def test_a_connection_idle_past_its_time_is_not_used_again(server: Server) -> None:
    # given a mailer that keeps a connection for no time at all
    mailer = server.mailer(idle_s=0.0)
    # when it sends two mails
    asyncio.run(mailer.send(mail(1)))
    asyncio.run(mailer.send(mail(2)))
    mailer.close()
    # then the second went over a connection of its own
    assert server.connections() == 2
