"""The attempt's one timer: each phase bounded, an early check re-armed, outer cancels kept."""

from __future__ import annotations

import asyncio
from typing import Optional

import pytest

from teleflow_py.aio._timer import AttemptTimer


async def _within(deadline: Optional[float], first_check: float, *phases: float) -> str:
    loop = asyncio.get_running_loop()
    end = None if deadline is None else loop.time() + deadline
    with AttemptTimer(loop, end, first_check) as timer:
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
