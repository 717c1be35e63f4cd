"""Where customer mail goes: a named mail server, or, under `oms up` without one, the simulators' mail catcher."""

from pathlib import Path

import pytest

from events_out.notifications import notification_sink
from starter.settings import Settings
from starter.stack import Stack
from store.db import make_engine

NO_DATABASE = "postgresql://nobody@127.0.0.1:1/none"  # the sink reads it only when it delivers


def test_a_stack_without_a_mail_server_points_every_part_at_its_mail_catcher(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # given the settings of a fresh machine: no OMS_SMTP_HOST
    stack = Stack(Settings(data_dir=tmp_path))
    # when the stack makes its parts' environment
    env = stack.part_env()
    # then the simulators catch mail on a port of the stack's choosing and every part sends there
    assert env["OMS_MAIL_CATCHER_PORT"] == env["OMS_SMTP_PORT"] == str(stack.mail_port)
    assert env["OMS_SMTP_HOST"] == "127.0.0.1"
    assert "/mail/messages" in stack.banner()
    # and the sink a part builds from that environment mails through it
    for name in ("OMS_MAIL_CATCHER_PORT", "OMS_SMTP_HOST", "OMS_SMTP_PORT"):
        monkeypatch.setenv(name, env[name])
    sink = notification_sink(Settings(), make_engine(NO_DATABASE, pool_size=1))
    assert sink.mailer is not None
    assert (sink.mailer.config.host, sink.mailer.config.port) == ("127.0.0.1", stack.mail_port)


def test_a_named_mail_server_is_used_and_no_catcher_is_started(tmp_path: Path) -> None:
    # given a mail server named in the settings
    stack = Stack(Settings(data_dir=tmp_path, smtp_host="smtp.example.net", smtp_port=587))
    # when the stack makes its parts' environment, then it leaves the mail settings as they are
    env = stack.part_env()
    assert "OMS_MAIL_CATCHER_PORT" not in env
    assert "smtp.example.net:587" in stack.banner()
