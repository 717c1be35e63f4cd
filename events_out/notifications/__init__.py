"""Customer notifications: a destination of the outbox that mails and texts customers about their orders."""

import structlog
from sqlalchemy import Engine

from events_out.notifications.mailer import SmtpConfig, SmtpMailer
from events_out.notifications.sink import NotificationSink
from events_out.notifications.sms import HttpSmsProvider
from starter.settings import Settings

__all__ = ["NotificationSink", "notification_sink"]


def notification_sink(settings: Settings, engine: Engine) -> NotificationSink:
    """The sink as the settings configure it: mail through OMS_SMTP_HOST (none when unset), texts through
    OMS_SMS_URL (the simulator unless set)."""
    mailer = None
    if not settings.smtp_host:
        structlog.get_logger(__name__).warning("notifications_mail_off", reason="OMS_SMTP_HOST is not set")
    else:
        config = SmtpConfig(
            host=settings.smtp_host,
            port=settings.smtp_port,
            sender=settings.smtp_from,
            starttls=settings.smtp_starttls,
            username=settings.smtp_username,
            password=settings.smtp_password,
        )
        mailer = SmtpMailer(config)
    sms = HttpSmsProvider(settings.sms_target, sender=settings.sms_sender)
    return NotificationSink(engine, mailer, sms)
