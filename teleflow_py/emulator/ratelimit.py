"""The server's API rate limiter: a token bucket per API key and category, with a cost.

Follows NxPKG/teleflow (2066d4c74) ``apps/api/src/app/rate-limiting/``, the same in
novuhq/novu 2024-10:

- ``guards/throttler.guard.ts``: runs after authentication, on API-key requests only, behind
  ``IS_API_RATE_LIMITING_ENABLED``. Every answer of a limited route carries
  ``RateLimit-Remaining``, ``RateLimit-Limit``, ``RateLimit-Reset`` (seconds, rounded up) and
  ``RateLimit-Policy`` (``createPolicyHeader``); a refused request also ``Retry-After`` (the
  same seconds) and the body of ``ThrottlerException('API rate limit exceeded')``.
- ``usecases/evaluate-api-rate-limit``: limit = per-second maximum x window; the bucket holds
  ``floor(limit * (1 + burst allowance))``; it refills the whole limit per window.
- ``usecases/evaluate-token-bucket-rate-limit``: the bucket, ported from its Lua script
  (refills are delayed until the bucket cannot pay), and its in-process "ephemeral cache" that
  keeps refusing a blocked (key, cost) until its reset.
- ``libs/shared/src/consts/rate-limiting/apiRateLimits.ts``: per-second maxima per service
  level and category, window 1 s, burst allowance 0.1, costs single 1 / bulk 100.
"""

from __future__ import annotations

import math
import threading
import time
from dataclasses import dataclass
from typing import Callable, Union

# apiRateLimits.ts DEFAULT_API_RATE_LIMIT_SERVICE_MAXIMUM_CONFIG (requests per second).
TIERS: dict[str, dict[str, int]] = {
    "free": {"trigger": 60, "configuration": 15, "global": 30},
    "business": {"trigger": 600, "configuration": 150, "global": 300},
    "enterprise": {"trigger": 6000, "configuration": 1500, "global": 3000},
    # The level of an organisation that has none (get-api-rate-limit-maximum.usecase.ts).
    "unlimited": {"trigger": 6000, "configuration": 1500, "global": 3000},
}
# An environment's own limits are shown as this service level (get-api-rate-limit-maximum.dto.ts).
CUSTOM_LEVEL = "custom"
WINDOW_SECONDS = 1
BURST_ALLOWANCE = 0.1
COSTS = {"single": 1, "bulk": 100}
ALGORITHM = "token bucket"


def js_number(value: float) -> str:
    """``value`` as JavaScript prints a number into a header (``60``, not ``60.0``)."""
    return str(int(value)) if float(value).is_integer() else repr(float(value))


def check_tier(tier: Union[str, int]) -> Union[str, int]:
    """Return ``tier`` if it is a service level name or a limit >= 1.

    Raises:
        ValueError: for anything else.
    """
    if isinstance(tier, str) and tier in TIERS:
        return tier
    if isinstance(tier, int) and not isinstance(tier, bool) and tier >= 1:
        return tier
    levels = ", ".join(TIERS)
    raise ValueError(f"rate_limit_tier must be one of {levels} or an integer >= 1, got {tier!r}")


@dataclass
class _Bucket:
    last_refill: float  # ms
    tokens: int
    expires: float  # ms


@dataclass(frozen=True)
class Decision:
    """The limiter's answer for one request: allowed or not, and the headers to send."""

    allowed: bool
    headers: dict[str, str]


class RateLimiter:
    """Token buckets keyed by (API key scope, category).

    Args:
        tier: a service level (``free``, ``business``, ``enterprise``, ``unlimited``: the
            server's per-second maxima times the window) or a number: the limit per window in
            every category, shown as service level ``custom``.
        window: the window in seconds (1 on the server).
        burst_allowance: the share of the limit a full bucket holds on top (0.1 on the server).
        clock: seconds, monotonic (tests pass a fake one).

    Raises:
        ValueError: for an unknown tier, a window not above 0 or a negative allowance.
    """

    def __init__(
        self,
        tier: Union[str, int] = "free",
        window: float = WINDOW_SECONDS,
        burst_allowance: float = BURST_ALLOWANCE,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.tier = check_tier(tier)
        if isinstance(window, bool) or not isinstance(window, (int, float)) or not window > 0:
            raise ValueError(f"rate_limit_window must be > 0 seconds, got {window!r}")
        if not math.isfinite(window) or window > 86400:
            raise ValueError(f"rate_limit_window must be at most 86400 s, got {window!r}")
        if not burst_allowance >= 0:
            raise ValueError(f"burst_allowance must be >= 0, got {burst_allowance!r}")
        self._window = float(window)
        self._burst = burst_allowance
        self._clock = clock
        self._lock = threading.Lock()
        self._buckets: dict[tuple[str, str], _Bucket] = {}
        self._blocked: dict[tuple[str, str, int], float] = {}  # the ephemeral cache

    @property
    def service_level(self) -> str:
        """The ``serviceLevel`` of the policy header."""
        return self.tier if isinstance(self.tier, str) else CUSTOM_LEVEL

    def limit_for(self, category: str) -> float:
        """Tokens per window in ``category`` (the ``RateLimit-Limit`` header)."""
        if isinstance(self.tier, str):
            return TIERS[self.tier][category] * self._window
        return float(self.tier)

    def hit(self, scope: str, category: str, cost_name: str) -> Decision:
        """Take ``cost_name``'s tokens from the bucket of (``scope``, ``category``)."""
        limit = self.limit_for(category)
        max_tokens = math.floor(limit * (1 + self._burst))
        cost = COSTS[cost_name]
        interval = self._window * 1000.0
        fill_interval = interval / limit
        with self._lock:
            now = self._clock() * 1000.0
            blocked_until = self._blocked.get((scope, category, cost))
            if blocked_until is not None and now < blocked_until:
                remaining, reset = -1, blocked_until
            else:
                remaining, reset = self._take(
                    (scope, category), now, max_tokens, cost, interval, fill_interval
                )
                if remaining < 0:
                    self._blocked[(scope, category, cost)] = reset
        seconds_to_reset = max(math.ceil((reset - now) / 1000.0), 0)
        policy = (
            f"{js_number(limit)};w={js_number(self._window)};burst={max_tokens};"
            f'comment="{ALGORITHM}";category="{category}";cost="{cost_name}";'
            f'serviceLevel="{self.service_level}"'
        )
        headers = {
            "RateLimit-Remaining": str(max(0, remaining)),
            "RateLimit-Limit": js_number(limit),
            "RateLimit-Reset": str(seconds_to_reset),
            "RateLimit-Policy": policy,
        }
        allowed = remaining >= 0
        if not allowed:
            headers["Retry-After"] = str(seconds_to_reset)
        return Decision(allowed, headers)

    def _take(
        self,
        key: tuple[str, str],
        now: float,
        max_tokens: int,
        cost: int,
        interval: float,
        fill_interval: float,
    ) -> tuple[int, float]:
        """The Lua script: (remaining tokens, negative when refused; reset time in ms)."""
        bucket = self._buckets.get(key)
        if bucket is None or bucket.expires <= now:
            remaining = max_tokens - cost
            bucket = _Bucket(now, remaining, now + interval * 2)
            self._buckets[key] = bucket
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
        return remaining, bucket.last_refill + reset_cost * fill_interval

    def reset(self) -> None:
        """Forget every bucket (full buckets on the next request)."""
        with self._lock:
            self._buckets.clear()
            self._blocked.clear()
