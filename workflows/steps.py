"""How the order takes a step, and what happens when one fails for good.

Every step is a local activity called by typed reference: one marker event in the history instead of a
scheduled/started/completed triple and a round trip through the server. Retries are bounded
(`STEP_RETRY`); a step that has failed for good either stops the order until an operator's retry
(`must`: the order cannot go on without it) or is set aside for that retry while the order goes on
(`attempt`: a release, a restock, a refund). Either way the order needs attention until it is done.
"""

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, TypeVar

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from activities import contracts as act
    from domain import events as ev
    from domain.errors import Refusal

A = TypeVar("A")
R = TypeVar("R")
STEP_TIMEOUT = timedelta(seconds=10)
# Bounded: about a minute and a half of retries, then the step has failed for good (the order needs a person).
STEP_RETRY = RetryPolicy(
    initial_interval=timedelta(milliseconds=200),
    maximum_interval=timedelta(seconds=30),
    maximum_attempts=10,
    non_retryable_error_types=act.NON_RETRYABLE_ERRORS,
)
StepError = (ActivityError, ApplicationError)


async def local_step(activity: Callable[[Any, A], R], arg: A, summary: str | None = None) -> R:
    """Run one activity method (`PaymentActivities.authorize`) as a local activity with the step's bounds."""
    return await workflow.execute_local_activity_method(
        activity, arg, start_to_close_timeout=STEP_TIMEOUT, retry_policy=STEP_RETRY, summary=summary
    )


@dataclass(frozen=True)
class Step:
    """A step the order may run again: a compensation (keyed or a full release, so running it twice is harmless),
    or one set aside after failing for good, which an operator's retry runs again."""

    summary: str
    run: Callable[[], Awaitable[object]]


class Steps:
    """The order's steps in flight, those set aside, and those the order waits on for an operator."""

    def __init__(self, record: Callable[[ev.OrderEvent], None], flush: Callable[[], Awaitable[None]]) -> None:
        self._record = record
        self._flush = flush
        self.failed: list[Step] = []
        self.blocked_on: set[str] = set()
        self.retries_asked = 0
        self.retries_answered = 0
        self.in_flight = 0  # a run continues as new only when no step is under way

    async def run(self, activity: Callable[[Any, A], R], arg: A, summary: str | None = None) -> R:
        self.in_flight += 1
        try:
            return await local_step(activity, arg, summary)
        finally:
            self.in_flight -= 1

    async def must(self, activity: Callable[[Any, A], R], arg: A, summary: str) -> R:
        """A step the order cannot go on without: failing for good, the order needs attention and waits for
        an operator's retry (`oms order retry`) rather than stopping or retrying without end."""
        while True:
            try:
                result = await self.run(activity, arg, summary)
            except StepError as err:
                self.needs_attention(summary, failure_reason(err))
                self.retries_answered = self.retries_asked  # a retry waiting on this attempt has its answer
                await self._flush()
                await self._wait_for_retry(summary)
                continue
            self.retries_answered = self.retries_asked
            return result

    async def _wait_for_retry(self, summary: str) -> None:
        asked = self.retries_asked
        self.blocked_on.add(summary)
        await workflow.wait_condition(lambda: self.retries_asked > asked)
        self.blocked_on.discard(summary)

    def step(self, activity: Callable[[Any, A], R], arg: A, summary: str) -> Step:
        return Step(summary, lambda: self.run(activity, arg, summary))

    async def attempt(self, activity: Callable[[Any, A], R], arg: A, summary: str) -> bool:
        """A step the order goes on without: one that fails for good waits for an operator's retry."""
        return await self.attempt_with(self.step(activity, arg, summary))

    async def attempt_with(self, step: Step) -> bool:
        try:
            await step.run()
        except StepError as err:
            self.set_aside(step, err)
            return False
        return True

    async def compensate(self, compensations: list[Step]) -> None:
        """Run each in turn; one that fails for good is set aside for an operator and the rest go on."""
        for undo in compensations:
            await self.attempt_with(undo)

    def set_aside(self, step: Step, err: BaseException) -> None:
        self.failed_for_good(step.summary, err)
        self.failed.append(step)

    def failed_for_good(self, summary: str, err: BaseException) -> None:
        reason = failure_reason(err)
        workflow.logger.error("Step failed for good; going on", extra={"step": summary, "error": reason})
        self.needs_attention(summary, reason)

    def needs_attention(self, step: str, reason: str) -> None:
        self._record(ev.AttentionNeeded(at=workflow.now(), step=step, reason=reason))

    @property
    def settled(self) -> bool:
        """Nothing set aside and nothing waiting for an operator: the run may end."""
        return not self.failed and not self.blocked_on

    async def run_again(self) -> tuple[list[str], list[str]]:
        """An operator's retry: what waited is woken, what was set aside runs again. Answers both, by summary."""
        blocked = sorted(self.blocked_on)
        failed, self.failed = self.failed, []
        self.retries_asked += 1
        asked = self.retries_asked
        for step in failed:
            await self.attempt_with(step)
        if blocked:
            await workflow.wait_condition(lambda: self.retries_answered >= asked)
        return blocked, [s.summary for s in failed]


class Followers:
    """One coroutine per thing the order follows (a fulfillment order, a return), each started once. A bug in
    one is kept for the run to raise where it waits, failing the workflow task instead of vanishing."""

    def __init__(self, process: Callable[[str], Awaitable[None]]) -> None:
        self._process = process
        self._following: dict[str, asyncio.Task[None]] = {}
        self.crashed: Exception | None = None

    def follow(self, key: str) -> None:
        if key not in self._following:
            self._following[key] = asyncio.create_task(self._guarded(key))

    async def _guarded(self, key: str) -> None:
        try:
            await self._process(key)
        except Exception as err:
            self.crashed = err
            raise


def refusal_error(refusal: Refusal) -> ApplicationError:
    """A refusal found while an update ran (a validator raises the refusal itself): the update fails with the
    refusal's name as its type and its reason as the message, and the order goes on."""
    return ApplicationError(refusal.reason, type=type(refusal).__name__, non_retryable=True)


def failure_reason(err: BaseException) -> str:
    """What a person reads of a step's failure: the partner's own message when it gave one."""
    cause = application_error(err)
    return cause.message if cause else str(err)


def application_error(err: BaseException) -> ApplicationError | None:
    """The partner's own error: local activities raise it as is, regular ones wrap it in ActivityError."""
    if isinstance(err, ActivityError):
        return err.cause if isinstance(err.cause, ApplicationError) else None
    return err if isinstance(err, ApplicationError) else None
