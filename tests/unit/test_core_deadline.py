"""The pure deadline arithmetic, table-tested on a fake clock (no sleeping, no sockets)."""

from __future__ import annotations

import math
import threading
import time
from typing import Optional

import pytest

from teleflow_py._core.deadline import (
    LONGEST_WAIT,
    Deadline,
    SharedPause,
    check_seconds,
    clamp_wait,
)
from teleflow_py.errors import ValidationError


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.mark.parametrize(
    "seconds, elapsed, remaining, expired",
    [
        (30.0, 0.0, 30.0, False),
        (30.0, 29.5, 0.5, False),
        (30.0, 30.0, 0.0, True),
        (30.0, 45.0, 0.0, True),
        (None, 1e6, LONGEST_WAIT, False),
        (math.inf, 1e6, LONGEST_WAIT, False),
    ],
)
def test_remaining_and_expired(
    seconds: Optional[float], elapsed: float, remaining: float, expired: bool
) -> None:
    clock = FakeClock()
    deadline = Deadline(seconds, clock)
    clock.now += elapsed
    assert deadline.remaining() == pytest.approx(remaining)
    assert deadline.expired() is expired
    assert deadline.unlimited is (seconds is None or math.isinf(seconds))


@pytest.mark.parametrize(
    "seconds, elapsed, wait, allowed",
    [
        (30.0, 0.0, 29.0, True),  # leaves a second for the attempt
        (30.0, 0.0, 30.0, False),  # would start the attempt exactly at the deadline
        (30.0, 0.0, 120.0, False),  # a Retry-After longer than the time left
        (30.0, 29.0, 0.5, True),
        (30.0, 29.0, 1.5, False),
        (None, 0.0, 600.0, True),
        (None, 0.0, math.inf, False),  # "wait forever" is never slept through
        (30.0, 0.0, math.nan, False),
    ],
)
def test_allows(seconds: Optional[float], elapsed: float, wait: float, allowed: bool) -> None:
    clock = FakeClock()
    deadline = Deadline(seconds, clock)
    clock.now += elapsed
    assert deadline.allows(wait) is allowed


@pytest.mark.parametrize(
    "seconds, elapsed, timeout, bounded",
    [
        (30.0, 0.0, 10.0, 10.0),  # the socket timeout is shorter: kept
        (30.0, 25.0, 10.0, 5.0),  # the deadline is nearer: cut
        (30.0, 31.0, 10.0, 0.0),  # passed: nothing left
        (None, 0.0, math.inf, LONGEST_WAIT),  # never infinity (OverflowError in stdlib)
    ],
)
def test_bound(seconds: Optional[float], elapsed: float, timeout: float, bounded: float) -> None:
    clock = FakeClock()
    deadline = Deadline(seconds, clock)
    clock.now += elapsed
    assert deadline.bound(timeout) == pytest.approx(bounded)


def test_clamped_infinity_is_accepted_by_every_stdlib_wait() -> None:
    # The reason for LONGEST_WAIT: each of these raises OverflowError with math.inf.
    forever = clamp_wait(math.inf)
    assert forever == LONGEST_WAIT
    assert not threading.Event().wait(0)
    lock = threading.Lock()
    assert lock.acquire(timeout=forever)
    lock.release()
    with pytest.raises(OverflowError):
        threading.Lock().acquire(timeout=math.inf)
    assert time.monotonic() + forever < math.inf


@pytest.mark.parametrize(
    "value, expected",
    [(1, 1.0), (0.25, 0.25), (math.inf, math.inf), (None, None)],
)
def test_check_seconds_accepts(value: object, expected: Optional[float]) -> None:
    assert check_seconds("deadline", value, allow_none=True) == expected


@pytest.mark.parametrize("value", [True, "5", math.nan, -1.0, [1]])
def test_check_seconds_refuses_naming_the_argument(value: object) -> None:
    with pytest.raises(ValidationError, match=r"^deadline: "):
        check_seconds("deadline", value)


def test_a_shared_pause_only_grows_and_runs_out() -> None:
    clock = FakeClock()
    pause = SharedPause(clock)
    assert pause.remaining() == 0.0
    pause.hold(2.0)
    pause.hold(0.5)  # a shorter wait asked later never shortens the pause
    assert pause.remaining() == pytest.approx(2.0)
    clock.now += 1.5
    assert pause.remaining() == pytest.approx(0.5)
    clock.now += 1.0
    assert pause.remaining() == 0.0
    pause.hold(math.inf)
    assert pause.remaining() == pytest.approx(LONGEST_WAIT)
