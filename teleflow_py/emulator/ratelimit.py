"""A fixed-window rate limiter producing the IETF ``RateLimit-*`` headers the service sends."""

from __future__ import annotations

import math
import threading
import time
from typing import Callable


class RateLimiter:
    """Allow ``limit`` requests per ``window`` seconds; the window starts at its first request."""

    def __init__(
        self, limit: int, window: float = 1.0, clock: Callable[[], float] = time.monotonic
    ) -> None:
        if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
            raise ValueError(f"rate_limit must be an integer >= 1 or None, got {limit!r}")
        if window <= 0:
            raise ValueError(f"rate_limit_window must be > 0 seconds, got {window!r}")
        self._limit = limit
        self._window = window
        self._clock = clock
        self._lock = threading.Lock()
        self._started = -math.inf
        self._used = 0

    def hit(self) -> tuple[bool, dict[str, str]]:
        """Count one request; return (allowed, headers to send, incl. Retry-After when refused)."""
        with self._lock:
            now = self._clock()
            if now >= self._started + self._window:
                self._started, self._used = now, 0
            allowed = self._used < self._limit
            if allowed:
                self._used += 1
            reset = max(1, math.ceil(self._started + self._window - now))
            headers = {
                "RateLimit-Limit": str(self._limit),
                "RateLimit-Remaining": str(self._limit - self._used),
                "RateLimit-Reset": str(reset),
            }
        if not allowed:
            headers["Retry-After"] = str(reset)
        return allowed, headers

    def reset(self) -> None:
        """Start a fresh window on the next request."""
        with self._lock:
            self._started, self._used = -math.inf, 0
