"""The relay as `oms relay` runs it: its internal sinks and retry bounds from the settings."""

import asyncio
import signal

import structlog
from sqlalchemy import Engine

from events_out.contracts import Sink
from events_out.nats_sink import NatsSink
from events_out.notifications import notification_sink
from events_out.relay import Relay, RetryPolicy
from starter.settings import Settings, parse_duration
from store.db import make_engine

log = structlog.get_logger()


def build_sinks(settings: Settings, engine: Engine) -> list[Sink]:
    """The destinations inside the OMS, beside the webhook subscriptions the relay reads from the database. Each
    keeps its progress in the outbox tables under its `name`, as a subscription does."""
    sinks: list[Sink] = []
    if settings.nats_url:
        sinks.append(NatsSink(settings.nats_url, stream=settings.nats_stream, prefix=settings.nats_subject_prefix))
    sinks.append(notification_sink(settings, engine))  # mail and texts to customers (events_out/notifications/)
    return sinks


def retry_policy(settings: Settings) -> RetryPolicy:
    return RetryPolicy(
        first_delay=settings.relay_first_retry_delay,
        max_delay=settings.relay_max_retry_delay,
        max_attempts=settings.relay_max_attempts,
        max_age=parse_duration(settings.relay_give_up_after).total_seconds(),
    )


def build_relay(settings: Settings, engine: Engine) -> Relay:
    return Relay(
        engine,
        build_sinks(settings, engine),
        policy=retry_policy(settings),
        poll_interval=settings.relay_poll_interval,
        webhook_timeout=settings.relay_webhook_timeout,
        retention=parse_duration(settings.outbox_retention),
    )


async def run_relay(settings: Settings) -> None:
    """Relay until SIGTERM or SIGINT; what is in flight then is sent again by the next relay."""
    engine = make_engine(settings.require_database_url(), pool_size=4)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    relay = build_relay(settings, engine)
    log.info("relay started", nats=settings.nats_url or "off", poll_interval=settings.relay_poll_interval)
    try:
        await relay.run(stop)
    finally:
        engine.dispose()
        log.info("relay stopped")
