"""Pure retry policy: should this attempt be retried, and how long to wait first.

Nothing here sends a request or sleeps, so every rule is tested as a table. The transport
(Events API) and the analytics worker both ask this module; they differ only in which
statuses they retry and how many attempts they allow.
"""

from __future__ import annotations

import email.utils
import math
import random
import time
from dataclasses import dataclass
from typing import Callable, FrozenSet, Mapping, Optional

from .headers import CaseInsensitiveDict

#: Statuses the Events API retries: timeouts, in-flight conflicts, rate limits, gateway errors.
EVENTS_RETRYABLE_STATUSES: FrozenSet[int] = frozenset({408, 409, 429, 502, 503, 504})

#: The analytics batcher also retries a plain 500: a batch is idempotent by its key.
BATCH_RETRYABLE_STATUSES: FrozenSet[int] = frozenset(
    {408, 409, 429} | set(range(500, 600)) - {501, 505}
)

#: A ``RateLimit-Reset`` above this is an epoch timestamp, not a number of seconds.
_EPOCH_THRESHOLD = 1_000_000_000


def non_negative_number(text: str) -> Optional[float]:
    """A header's number of seconds (or milliseconds), or ``None`` when negative or not a number."""
    try:
        value = float(text.strip())
    except ValueError:
        return None
    # Infinity is kept: "wait forever" must end in "wait too long", not in a quick retry.
    if math.isnan(value) or value < 0:
        return None
    return value


def server_requested_wait(
    headers: Mapping[str, str], now: Optional[Callable[[], float]] = None
) -> Optional[float]:
    """How many seconds the server asked us to wait, or ``None`` when it did not say.

    Read in order of precision: ``X-Secondly-Retry-After`` and ``retry-after-ms``
    (milliseconds), ``Retry-After`` (seconds or an HTTP date), then ``RateLimit-Reset``
    (seconds until the window resets, or an epoch timestamp). Unparseable values are ignored.
    """
    clock = now or time.time
    if not isinstance(headers, CaseInsensitiveDict):
        headers = CaseInsensitiveDict(headers)
    for name in ("X-Secondly-Retry-After", "retry-after-ms"):
        raw = headers.get(name)
        if raw is not None:
            millis = non_negative_number(raw)
            if millis is not None:
                return millis / 1000.0
    raw = headers.get("Retry-After")
    if raw is not None:
        seconds = non_negative_number(raw)
        if seconds is not None:
            return seconds
        try:
            parsed = email.utils.parsedate_to_datetime(raw.strip())
        except (TypeError, ValueError, IndexError):
            parsed = None
        if parsed is not None:
            return max(0.0, parsed.timestamp() - clock())
    raw = headers.get("RateLimit-Reset")
    if raw is not None:
        seconds = non_negative_number(raw)
        if seconds is not None:
            return max(0.0, seconds - clock()) if seconds > _EPOCH_THRESHOLD else seconds
    return None


def backoff_delay(
    retry_number: int,
    *,
    initial: float = 0.5,
    maximum: float = 8.0,
    rand: Callable[[], float] = random.random,
) -> float:
    """Exponential backoff with jitter: about ``initial * 2**(n-1)``, capped at ``maximum``.

    The jitter takes up to a quarter off, so clients that failed together spread out.
    ``retry_number`` counts from 1 (the wait before the first retry).
    """
    exponent = max(0, retry_number - 1)
    base = min(maximum, initial * (2.0**exponent)) if exponent < 64 else maximum
    return base * (1.0 - 0.25 * rand())


@dataclass(frozen=True)
class RetryDecision:
    """What to do after a failed attempt."""

    retry: bool
    wait: float = 0.0
    #: Why not: "not_retryable", "retries_exhausted", "daily_quota", "wait_too_long".
    reason: str = ""


@dataclass(frozen=True)
class RetryPolicy:
    """Which failures are retried, how often, and how long the SDK is willing to wait."""

    max_retries: int = 5
    retryable_statuses: FrozenSet[int] = EVENTS_RETRYABLE_STATUSES
    initial_backoff: float = 0.5
    max_backoff: float = 8.0
    #: A server-requested wait above this is not slept through: the error is raised instead.
    max_server_wait: float = 60.0

    def decide(
        self,
        retries_done: int,
        *,
        status: Optional[int] = None,
        headers: Optional[Mapping[str, str]] = None,
        daily_quota: bool = False,
        rand: Callable[[], float] = random.random,
        now: Optional[Callable[[], float]] = None,
    ) -> RetryDecision:
        """Decide about the attempt that just failed.

        ``status`` is ``None`` for a connection failure or timeout (always retryable).
        ``retries_done`` is how many retries have already been made for this call.
        """
        if status is not None:
            if daily_quota and status == 429:
                return RetryDecision(False, reason="daily_quota")
            if status not in self.retryable_statuses:
                return RetryDecision(False, reason="not_retryable")
        if retries_done >= self.max_retries:
            return RetryDecision(False, reason="retries_exhausted")
        requested = server_requested_wait(headers, now) if headers else None
        if requested is not None:
            if requested > self.max_server_wait:
                return RetryDecision(False, wait=requested, reason="wait_too_long")
            return RetryDecision(True, wait=requested)
        wait = backoff_delay(
            retries_done + 1,
            initial=self.initial_backoff,
            maximum=self.max_backoff,
            rand=rand,
        )
        return RetryDecision(True, wait=wait)
