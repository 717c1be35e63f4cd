"""The relay: every outbox event to every destination, at least once, in order per order.

Each destination (a webhook subscription, or an internal sink: NATS, notifications) runs its own loop, so a slow
subscriber holds back nobody else. A round reads the outbox rows the destination has not read yet into its
deliveries, then claims the first pending event of each order that is due and delivers those at once. An event
that fails is tried again after an exponential backoff; the order's later events wait for it. Past
`RetryPolicy.max_attempts` or `max_age` it is recorded as a failure (listed, replayable) and the order's stream
goes on. Progress is in PostgreSQL: a relay that stops resends at most what it had in flight (its claims lapse
after `lease` seconds), and several relays share the work without sending an event twice at once.
"""

import asyncio
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta

import httpx
import structlog
from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError

from events_out.contracts import Sink
from events_out.outbox import Claimed, Outbox
from events_out.subscriptions import Subscriptions, destination_of, event_filter
from events_out.webhook import WebhookSink

log = structlog.get_logger()
# How often the relay looks for subscriptions made or removed, in seconds.
DESTINATIONS_REFRESH_S = 1.0
# The longest an idle destination waits, in poll intervals, for news before it looks for what has come due.
IDLE_ROUNDS_CAP = 8
# How often the relay deletes outbox rows past their retention, in seconds.
PRUNE_EVERY_S = 3600.0


@dataclass(frozen=True)
class RetryPolicy:
    first_delay: float = 1.0  # seconds before the second attempt; doubled for each attempt after it
    max_delay: float = 300.0
    max_attempts: int = 12
    max_age: float = 86_400.0  # seconds since the first attempt after which an event gives up

    def delay(self, attempt: int) -> float:
        """How long to wait after failed attempt number `attempt` (1 for the first)."""
        return float(min(self.first_delay * 2 ** (attempt - 1), self.max_delay))


class Relay:
    def __init__(
        self,
        engine: Engine,
        sinks: Sequence[Sink] = (),
        *,
        policy: RetryPolicy | None = None,
        poll_interval: float = 1.0,
        batch: int = 500,
        concurrency: int = 16,
        lease: float = 60.0,
        webhook_timeout: float = 10.0,
        retention: timedelta | None = None,
    ) -> None:
        """`retention`: how long outbox rows stay after every destination has taken them (None: for ever), so an
        operator can send them again (`oms relay --replay NAME --from-event-id N`) within it."""
        self._outbox = Outbox(engine)
        self._subscriptions = Subscriptions(engine)
        self._internal = list(sinks)
        self._policy = policy or RetryPolicy()
        self._poll = poll_interval
        self._batch = batch
        # at most this many events in flight at once to one destination (each of another order): a subscriber is
        # not flooded by a backlog
        self._concurrency = concurrency
        self._lease = lease
        # a delivery stops well within its lease, so no other relay takes the event while it is under way
        self._deliver_timeout = min(webhook_timeout, lease / 2)
        self._http = httpx.AsyncClient(timeout=webhook_timeout)
        self._started = False
        self._retention = retention
        # set (and replaced) when the outbox has new events: wakes the idle destinations
        self._news = asyncio.Event()

    async def destinations(self) -> list[Sink]:
        """The internal sinks and every webhook subscription, as the database has them now."""
        if not self._started:
            for sink in self._internal:
                await asyncio.to_thread(self._outbox.ensure_destination, sink.name)
            self._started = True
        found: list[Sink] = list(self._internal)
        for sub in await asyncio.to_thread(self._subscriptions.all):
            found.append(WebhookSink(destination_of(sub.id), sub.url, sub.secret, self._http, event_filter(sub.events)))
        return found

    async def run_once(self) -> int:
        """One round for every destination: how many outbox rows were read and events tried."""
        done = await asyncio.gather(*(self.serve(d) for d in await self.destinations()))
        return sum(done)

    async def serve(self, sink: Sink) -> int:
        read = await asyncio.to_thread(self._outbox.fan_out, sink.name, sink.types, self._batch)
        # no more claimed than are sent at once: each is sent as soon as its lease starts
        claimed = await asyncio.to_thread(self._outbox.claim, sink.name, self._concurrency, self._lease)
        # every delivery runs to its end before a failure to record one is raised (it is sent again after its lease)
        outcomes = await asyncio.gather(*(self._deliver(sink, c) for c in claimed), return_exceptions=True)
        delivered = [c.event.event_id for c, outcome in zip(claimed, outcomes, strict=True) if outcome is True]
        if delivered:
            # one transaction for the round's deliveries: an event sent but not yet recorded is sent again after
            # its lease, as one would be after a crash mid-send
            await asyncio.to_thread(self._outbox.delivered, sink.name, delivered)
        for outcome in outcomes:
            if isinstance(outcome, BaseException):
                raise outcome
        return read + len(claimed)

    async def _deliver(self, sink: Sink, claimed: Claimed) -> bool:
        """True when the event was delivered; a failed attempt is recorded here."""
        event = claimed.event
        try:
            await asyncio.wait_for(sink.deliver(event), self._deliver_timeout)
        except Exception as err:
            error = f"{type(err).__name__}: {err}" if str(err) else type(err).__name__
            policy = self._policy
            gave_up = await asyncio.to_thread(
                self._outbox.not_delivered,
                sink.name,
                event.event_id,
                error,
                delay=policy.delay(claimed.attempt),
                max_attempts=policy.max_attempts,
                max_age=policy.max_age,
            )
            bound = log.bind(destination=sink.name, event_id=event.event_id, order_id=event.order_id)
            if gave_up:
                bound.error("event gave up: listed as a failure", attempts=claimed.attempt, error=error)
            else:
                bound.warning("event not delivered: tried again later", attempt=claimed.attempt, error=error)
            return False
        return True

    async def run(self, stop: asyncio.Event | None = None) -> None:
        """Serve every destination, each in its own loop, until `stop` is set (or the task is cancelled).

        The outbox's newest event id is looked at every poll interval and wakes the loops when it moves; a loop
        with nothing to do otherwise waits longer each idle round (up to IDLE_ROUNDS_CAP poll intervals) before it
        looks for retries and replays that have come due: many idle subscriptions cost the database little."""
        stop = stop or asyncio.Event()
        loops: dict[str, asyncio.Task[None]] = {}
        head, listed_at, pruned_at = -1, float("-inf"), float("-inf")
        try:
            while not stop.is_set():
                if self._retention is not None and time.monotonic() - pruned_at >= PRUNE_EVERY_S:
                    pruned_at = time.monotonic()
                    await self.prune(self._retention)
                try:
                    if time.monotonic() - listed_at >= DESTINATIONS_REFRESH_S:
                        self._keep_loops(loops, await self.destinations(), stop)
                        listed_at = time.monotonic()
                    newest = await asyncio.to_thread(self._outbox.newest)
                except SQLAlchemyError as err:
                    # the loops already running go on; a new subscription is picked up once the database answers
                    log.error("relay cannot read the outbox; trying again", error=str(err))
                    newest = head
                if newest != head:
                    head = newest
                    self._news.set()
                    self._news = asyncio.Event()
                await _wait(self._poll, stop)
        finally:
            for task in loops.values():
                task.cancel()
            await asyncio.gather(*loops.values(), return_exceptions=True)
            await self.close()

    async def prune(self, retention: timedelta) -> int:
        """Delete the outbox rows past `retention` that no destination can be owed any more: how many."""
        try:
            pruned = await asyncio.to_thread(self._outbox.prune, retention)
        except SQLAlchemyError as err:
            log.error("relay cannot prune the outbox; trying again later", error=str(err))
            return 0
        if pruned:
            log.info("outbox pruned", rows=pruned, retention_s=retention.total_seconds())
        return pruned

    def _keep_loops(
        self, loops: dict[str, "asyncio.Task[None]"], destinations: list[Sink], stop: asyncio.Event
    ) -> None:
        current = {d.name: d for d in destinations}
        for name in loops.keys() - current.keys():
            loops.pop(name).cancel()  # a subscription that is gone
        for name, destination in current.items():
            if name not in loops or loops[name].done():
                loops[name] = asyncio.create_task(self._loop(destination, stop), name=f"relay {name}")

    async def _loop(self, destination: Sink, stop: asyncio.Event) -> None:
        idle = self._poll
        while not stop.is_set():
            news = self._news  # taken before the round: news during it wakes the wait below at once
            try:
                busy = await self.serve(destination)
            except Exception as err:  # the database away, most likely: this destination's loop goes on
                log.error("relay round failed; trying again", destination=destination.name, error=repr(err))
                busy = 0
            if busy:
                idle = self._poll
                continue
            await _wait(idle, stop, news)
            idle = min(idle * 2, self._poll * IDLE_ROUNDS_CAP)

    async def close(self) -> None:
        await self._http.aclose()
        for sink in self._internal:
            close = getattr(sink, "close", None)
            if close is not None:
                await close()


async def _wait(seconds: float, *events: asyncio.Event) -> None:
    """Until one of `events` is set, or `seconds` have passed."""
    waiters = [asyncio.ensure_future(event.wait()) for event in events]
    try:
        await asyncio.wait(waiters, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiter in waiters:
            waiter.cancel()
