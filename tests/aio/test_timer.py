"""The attempts' timers: each phase bounded, an early check re-armed, outer cancels kept, one
watchdog shared by a loop's attempts without one bounding another."""

from __future__ import annotations

import asyncio
import gc
import warnings
import weakref
from typing import Optional

import pytest

from teleflow_py.aio._timer import AttemptTimer, Watchdog


async def _within(
    deadline: Optional[float],
    first_check: float,
    *phases: float,
    watchdog: Optional[Watchdog] = None,
) -> str:
    loop = asyncio.get_running_loop()
    end = None if deadline is None else loop.time() + deadline
    with AttemptTimer(watchdog or Watchdog(loop), end, first_check) as timer:
        await asyncio.sleep(0.05)  # "waiting for a connection": bounded by the deadline only
        for seconds in phases:
            timer.phase(seconds)
            await asyncio.sleep(0.3)  # a phase that outlasts its bound when it is short
    return "done"


def test_waiting_for_a_connection_is_bounded_by_the_deadline_only() -> None:
    # The first check comes early (0.01 s) and finds no phase begun: it re-arms, no expiry.
    assert asyncio.run(_within(None, 0.01, 5.0)) == "done"


def test_a_phase_that_outlasts_its_bound_ends_the_attempt() -> None:
    with pytest.raises(asyncio.TimeoutError):
        asyncio.run(_within(None, 0.01, 5.0, 0.01))


def test_the_deadline_ends_the_attempt_whatever_the_phase_allows() -> None:
    with pytest.raises(asyncio.TimeoutError):
        asyncio.run(_within(0.1, 10.0, 5.0, 5.0))


def test_a_cancel_from_outside_stays_a_cancel() -> None:
    async def main() -> None:
        task = asyncio.ensure_future(_within(None, 10.0, 5.0))
        await asyncio.sleep(0.01)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(main())


def test_attempts_sharing_a_watchdog_each_keep_their_own_bounds() -> None:
    async def main() -> list:
        watchdog = Watchdog(asyncio.get_running_loop())
        # A long attempt arms the shared handle 10 s out; a later one with a 0.1 s deadline
        # must still end at its own deadline, and its end must not touch the others.
        attempts = [
            _within(None, 10.0, 5.0, watchdog=watchdog),
            _within(0.1, 10.0, 5.0, 5.0, watchdog=watchdog),
            _within(None, 10.0, 5.0, 0.01, watchdog=watchdog),
            _within(None, 10.0, 5.0, watchdog=watchdog),
        ]
        return await asyncio.gather(*attempts, return_exceptions=True)

    outcomes = asyncio.run(main())
    assert outcomes[0] == outcomes[3] == "done"
    assert isinstance(outcomes[1], asyncio.TimeoutError)
    assert isinstance(outcomes[2], asyncio.TimeoutError)


def test_a_watchdog_serves_attempt_after_attempt() -> None:
    async def main() -> None:
        watchdog = Watchdog(asyncio.get_running_loop())
        for _ in range(3):
            assert await _within(None, 10.0, 5.0, watchdog=watchdog) == "done"
        # After calls that went well, a short phase is still bounded on time.
        with pytest.raises(asyncio.TimeoutError):
            await _within(None, 10.0, 5.0, 0.01, watchdog=watchdog)

    asyncio.run(main())


def test_an_attempt_is_found_by_its_task_only_while_it_runs() -> None:
    # aiohttp's request class finds the attempt's timer through its task
    # (Watchdog.current); an attempt that ends in any way (done, timed out, cancelled from
    # outside) must leave no entry behind, or the watchdog would keep its task alive.
    async def main() -> Watchdog:
        watchdog = Watchdog(asyncio.get_running_loop())

        async def seen() -> Optional[AttemptTimer]:
            with AttemptTimer(watchdog, None, 10.0) as timer:
                await asyncio.sleep(0)
                assert watchdog.current() is timer
            return watchdog.current()

        assert watchdog.current() is None
        assert await seen() is None
        with pytest.raises(asyncio.TimeoutError):
            await _within(None, 0.01, 5.0, 0.01, watchdog=watchdog)
        cancelled = asyncio.ensure_future(_within(None, 10.0, 5.0, watchdog=watchdog))
        await asyncio.sleep(0.01)
        cancelled.cancel()
        with pytest.raises(asyncio.CancelledError):
            await cancelled
        # Other tasks' attempts are not this task's.
        others = [asyncio.ensure_future(_within(None, 10.0, watchdog=watchdog)) for _ in range(3)]
        await asyncio.sleep(0)
        assert len(watchdog.running) == 3 and watchdog.current() is None
        await asyncio.gather(*others)
        return watchdog

    assert asyncio.run(main()).running == {}


def test_a_loop_closed_with_an_attempt_pending_is_let_go() -> None:
    # A thread's own loop closed while a call waits (never resumed): nothing of the SDK's
    # keeps its task or the loop alive once the watchdog of that loop is let go (a client
    # does so when it is used from another loop, closed or collected).
    async def attempt(watchdog: Watchdog, never: asyncio.Future[None]) -> None:
        with AttemptTimer(watchdog, None, 100.0):
            await never

    loop = asyncio.new_event_loop()
    watchdog = Watchdog(loop)
    task = loop.create_task(attempt(watchdog, loop.create_future()))
    loop.run_until_complete(asyncio.sleep(0.01))
    assert list(watchdog.running) == [task]
    loop.close()
    loop_ref, task_ref = weakref.ref(loop), weakref.ref(task)
    del loop, task, watchdog
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "Task was destroyed but it is pending"
        gc.collect()
    assert task_ref() is None and loop_ref() is None
