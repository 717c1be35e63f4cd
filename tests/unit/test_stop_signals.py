"""A stop signal always stops a run of `oms up` or `oms bench`, even when the exception it raises is swallowed."""

import asyncio
import contextlib
import os
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest

from starter.settings import Settings
from starter.stack import Stack


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[Stack]:
    handlers = {signum: signal.getsignal(signum) for signum in (signal.SIGTERM, signal.SIGINT)}
    yield Stack(Settings(data_dir=tmp_path))
    for signum, handler in handlers.items():
        signal.signal(signum, handler)


def _swallowing_everything() -> None:
    """What a weakref callback run by the garbage collector does with an exception raised inside it."""
    with contextlib.suppress(BaseException):
        os.kill(os.getpid(), signal.SIGTERM)


def test_a_sigterm_whose_interrupt_is_swallowed_still_stops_the_run(stack: Stack) -> None:
    # given a stack that handles the stop signals
    stack.handle_stop_signals()
    # when SIGTERM arrives inside code that swallows the KeyboardInterrupt its handler raises
    _swallowing_everything()
    # then the request is kept, and the next place the run can stop raises it again
    assert stack.stop_requested
    with pytest.raises(KeyboardInterrupt):
        stack.raise_if_stop_requested()


def test_watching_the_parts_ends_at_a_kept_stop_request(stack: Stack) -> None:
    # given a stack whose stop signal was swallowed before it began watching its parts
    stack.handle_stop_signals()
    _swallowing_everything()
    # when it waits on its parts (supervisord never started here: only a kept request can end it with 0)
    # then it returns 0, as Ctrl-C makes it
    assert stack.wait() == 0


def test_asynchronous_work_is_cancelled_by_a_sigterm_taken_by_the_event_loop(stack: Stack) -> None:
    # given a stack running work that would go on for an hour
    stack.handle_stop_signals()
    cancelled = []

    async def an_hour() -> None:
        try:
            await asyncio.sleep(3600)
        except asyncio.CancelledError:
            cancelled.append(True)
            raise

    async def main() -> None:
        asyncio.get_running_loop().call_later(0.05, os.kill, os.getpid(), signal.SIGTERM)
        await stack.until_stopped(an_hour())

    # when SIGTERM arrives while it runs
    # then the work is cancelled and the run ends as a Ctrl-C ends it
    with pytest.raises(KeyboardInterrupt):
        asyncio.run(main())
    assert cancelled == [True] and stack.stop_requested
    # and the stack's own handler is back for the synchronous stop that follows
    assert signal.getsignal(signal.SIGTERM) not in (signal.SIG_DFL, signal.SIG_IGN)


def test_work_that_finishes_keeps_its_result_and_no_stop_is_requested(stack: Stack) -> None:
    # given a stack and work that ends on its own
    stack.handle_stop_signals()

    async def quick() -> int:
        return 7

    # when it is awaited until stopped
    # then its result comes back and nothing asks the run to stop
    assert asyncio.run(stack.until_stopped(quick())) == 7
    assert not stack.stop_requested
