"""The newer server's API rate limiter: a token bucket per API key and category, with a cost.

Follows novuhq/novu (2024-10) ``apps/api/src/app/rate-limiting/``:
``guards/throttler.guard.ts`` (API-key requests only, after authentication; headers
``RateLimit-Remaining``, ``RateLimit-Limit``, ``RateLimit-Reset``, ``RateLimit-Policy``, and
``Retry-After`` on a 429), ``usecases/evaluate-api-rate-limit`` (limit per window, burst
allowance 10 %, refill of the whole limit per window) and
``usecases/evaluate-token-bucket-rate-limit`` (the bucket itself, ported from its Lua script:
refills are delayed until the bucket cannot pay for a request). The events routes are in the
``trigger`` category; bulk and broadcast cost 100 tokens, everything else 1.
"""

from __future__ import annotations

import math
import threading
import time
from dataclasses import dataclass
from typing import Callable, Optional

# packages/shared/src/consts/rate-limiting/apiRateLimits.ts (free tier, per second).
DEFAULT_PER_SECOND = {"trigger": 60, "global": 30}
WINDOW_SECONDS = 5
BURST_ALLOWANCE = 0.1
COSTS = {"single": 1, "bulk": 100}


@dataclass
class _Bucket:
    last_refill: float  # ms
    tokens: int
    expires: float  # ms


@dataclass(frozen=True)
class Decision:
    """The limiter's answer for one request."""

    allowed: bool
    headers: dict[str, str]


class RateLimiter:
    """Token buckets keyed by (API key scope, category).

    Args:
        limit: tokens per window for every category (None: the server's free tier,
            60/s for triggers and 30/s for the rest, times the window).
        window: the window in seconds (5 on the server).
        burst_allowance: the share of ``limit`` a full bucket holds on top (0.1 on the server).
        clock: seconds, monotonic (tests pass a fake one).

    Raises:
        ValueError: for a limit below 1, a window not above 0 or a negative allowance.
    """

    def __init__(
        self,
        limit: Optional[int] = None,
        window: float = WINDOW_SECONDS,
        burst_allowance: float = BURST_ALLOWANCE,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if limit is not None and (
            isinstance(limit, bool) or not isinstance(limit, int) or limit < 1
        ):
            raise ValueError(f"rate_limit must be an integer >= 1 or None, got {limit!r}")
        if isinstance(window, bool) or not isinstance(window, (int, float)) or not window > 0:
            raise ValueError(f"rate_limit_window must be > 0 seconds, got {window!r}")
        if not math.isfinite(window):
            raise ValueError(f"rate_limit_window must be finite, got {window!r}")
        if not burst_allowance >= 0:
            raise ValueError(f"burst_allowance must be >= 0, got {burst_allowance!r}")
        self._limit = limit
        self._window = float(window)
        self._burst = burst_allowance
        self._clock = clock
        self._lock = threading.Lock()
        self._buckets: dict[tuple[str, str], _Bucket] = {}

    def _limit_for(self, category: str) -> int:
        if self._limit is not None:
            return self._limit
        return int(DEFAULT_PER_SECOND.get(category, DEFAULT_PER_SECOND["global"]) * self._window)

    def hit(self, scope: str, category: str, cost_name: str) -> Decision:
        """Take ``cost_name``'s tokens from the bucket of (``scope``, ``category``)."""
        limit = self._limit_for(category)
        max_tokens = math.floor(limit * (1 + self._burst))
        cost = COSTS[cost_name]
        interval = self._window * 1000.0
        fill_interval = interval / limit
        with self._lock:
            now = self._clock() * 1000.0
            bucket = self._buckets.get((scope, category))
            if bucket is None or bucket.expires <= now:
                remaining = max_tokens - cost
                bucket = _Bucket(now, remaining, now + interval * 2)
                self._buckets[(scope, category)] = bucket
                reset_cost = cost - remaining if remaining < cost else cost
            elif bucket.tokens >= cost:
                # The server delays refills until the bucket cannot pay.
                remaining = bucket.tokens - cost
                bucket.tokens = remaining
                reset_cost = cost - remaining if remaining < cost else cost
            else:
                added = math.floor((now - bucket.last_refill) / fill_interval)
                remaining = min(max_tokens, bucket.tokens + added) - cost
                if remaining >= 0:
                    bucket.last_refill += added * fill_interval
                    bucket.tokens = remaining
                    bucket.expires = now + interval * 2
                    reset_cost = cost - remaining if remaining < cost else cost
                else:
                    reset_cost = cost - bucket.tokens
            reset = bucket.last_refill + reset_cost * fill_interval
        seconds_to_reset = max(math.ceil((reset - now) / 1000.0), 0)
        window = int(self._window) if self._window.is_integer() else self._window
        headers = {
            "RateLimit-Remaining": str(max(0, remaining)),
            "RateLimit-Limit": str(limit),
            "RateLimit-Reset": str(seconds_to_reset),
            "RateLimit-Policy": (
                f'{limit};w={window};burst={max_tokens};comment="token bucket";'
                f'category="{category}";cost="{cost_name}";serviceLevel="free"'
            ),
        }
        allowed = remaining >= 0
        if not allowed:
            headers["Retry-After"] = str(seconds_to_reset)
        return Decision(allowed, headers)

    def reset(self) -> None:
        """Forget every bucket (full buckets on the next request)."""
        with self._lock:
            self._buckets.clear()
