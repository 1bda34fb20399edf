"""Deadline arithmetic for one call: how much time is left, and may we wait this long.

Pure: it reads a clock (``time.monotonic`` unless another is given) and never sleeps,
sends or reads, so the sync client, the async client and the analytics worker share it.
The I/O side asks it two questions: "how long may this socket operation (or this sleep)
take?" (:meth:`Deadline.bound`) and "does a wait of ``s`` seconds still leave time for
another attempt?" (:meth:`Deadline.allows`).
"""

from __future__ import annotations

import math
import threading
import time
from typing import Any, Callable, Optional

from ..errors import ValidationError

#: "No limit" as a number every standard-library wait accepts (``time.sleep``,
#: ``Condition.wait``, ``Thread.join``, ``socket.settimeout``): about three years.
#: ``math.inf`` itself makes several of them raise ``OverflowError``.
LONGEST_WAIT = 1e8


def clamp_wait(seconds: float) -> float:
    """``seconds`` made safe to pass to a standard-library wait (infinity becomes "no limit")."""
    return min(seconds, LONGEST_WAIT)


def check_seconds(
    argument: str, value: Any, *, minimum: float = 0.0, allow_none: bool = False
) -> Optional[float]:
    """A number of seconds given by the caller, as a float (``None`` when allowed).

    ``math.inf`` is accepted and means "no limit" (see :data:`LONGEST_WAIT`).

    Raises:
        ValidationError: not a number (a bool is not one), NaN, or below ``minimum``.
    """
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValidationError(argument, f"must be a number of seconds, not {type(value).__name__}")
    if math.isnan(value) or value < minimum:
        raise ValidationError(argument, f"must be a number >= {minimum}, got {value!r}")
    return float(value)


class Deadline:
    """The moment one call must be over by, ``seconds`` after it was created.

    ``seconds`` of ``None`` or ``math.inf`` means no deadline; then every question is
    answered as if :data:`LONGEST_WAIT` were left.
    """

    __slots__ = ("_clock", "_end", "seconds")

    def __init__(
        self, seconds: Optional[float], clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.seconds = seconds
        self._clock = clock
        # (Comparisons rather than math.isinf and max: one of these is made for every call.)
        if seconds is None or seconds == math.inf:
            self._end: Optional[float] = None
        else:
            self._end = clock() + (seconds if seconds > 0.0 else 0.0)

    @property
    def unlimited(self) -> bool:
        """Whether there is no deadline at all."""
        return self._end is None

    def remaining(self) -> float:
        """Seconds left (0 once passed; :data:`LONGEST_WAIT` when unlimited)."""
        if self._end is None:
            return LONGEST_WAIT
        return max(0.0, self._end - self._clock())

    def expired(self) -> bool:
        """Whether no time is left."""
        return self._end is not None and self._clock() >= self._end

    def allows(self, wait: float) -> bool:
        """Whether waiting ``wait`` seconds still leaves time for another attempt."""
        if math.isnan(wait):
            return False
        if self._end is None:
            return wait <= LONGEST_WAIT
        return wait < self.remaining()

    def bound(self, timeout: float) -> float:
        """``timeout`` cut to the time left (and to :data:`LONGEST_WAIT`); 0 once expired."""
        return min(clamp_wait(timeout), self.remaining())

    def describe(self) -> str:
        """The deadline for an error message, for example ``"the 30 s deadline"``."""
        if self.seconds is None or math.isinf(self.seconds):
            return "no deadline"
        return f"the {self.seconds:g} s deadline"

    def __repr__(self) -> str:
        return f"Deadline(seconds={self.seconds!r}, remaining={self.remaining():.3f})"


class SharedPause:
    """A pause that every request of one call obeys (a bulk trigger's workers).

    When one request is told to wait (a 429 with ``Retry-After``, or a rate-limit window
    spent), :meth:`hold` moves the shared "not before" moment; every request asks
    :meth:`remaining` before it starts. Thread-safe; it never sleeps itself.
    """

    __slots__ = ("_clock", "_lock", "_until")

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._until = 0.0

    def hold(self, seconds: float) -> None:
        """Make every request wait at least ``seconds`` from now (never shortens a pause)."""
        until = self._clock() + clamp_wait(max(0.0, seconds))
        with self._lock:
            self._until = max(self._until, until)

    def remaining(self) -> float:
        """Seconds until requests may go again (0 when not paused)."""
        with self._lock:
            until = self._until
        return max(0.0, until - self._clock())
