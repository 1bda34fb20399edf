"""The retry policy as tables: which failures are retried, and how long to wait."""

from __future__ import annotations

import email.utils
from typing import Dict, Optional

import pytest

from teleflow_py._core.retry import (
    BATCH_RETRYABLE_STATUSES,
    EVENTS_RETRYABLE_STATUSES,
    RetryPolicy,
    backoff_delay,
    server_requested_wait,
)

NOW = 1_800_000_000.0


def fixed_now() -> float:
    return NOW


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({}, None),
        ({"Retry-After": "3"}, 3.0),
        ({"retry-after": "0.5"}, 0.5),
        ({"Retry-After": "0"}, 0.0),
        ({"Retry-After": email.utils.formatdate(NOW + 7, usegmt=True)}, 7.0),
        ({"Retry-After": email.utils.formatdate(NOW - 30, usegmt=True)}, 0.0),
        ({"Retry-After": "soon"}, None),
        ({"Retry-After": "-4"}, None),
        ({"Retry-After": "nan"}, None),
        ({"Retry-After": "1e400"}, float("inf")),
        ({"X-Secondly-Retry-After": "250"}, 0.25),
        ({"x-secondly-retry-after": "1500"}, 1.5),
        ({"retry-after-ms": "40"}, 0.04),
        # Milliseconds are more precise and win over seconds.
        ({"Retry-After": "9", "X-Secondly-Retry-After": "100"}, 0.1),
        ({"RateLimit-Reset": "12"}, 12.0),
        ({"RateLimit-Reset": str(int(NOW + 20))}, 20.0),
        ({"Retry-After": "2", "RateLimit-Reset": "30"}, 2.0),
        ({"X-Secondly-Retry-After": "bogus", "Retry-After": "4"}, 4.0),
    ],
)
def test_server_requested_wait(headers: Dict[str, str], expected: Optional[float]) -> None:
    wait = server_requested_wait(headers, now=fixed_now)
    if expected is None:
        assert wait is None
    else:
        # HTTP dates have whole seconds; every other form is exact.
        is_date = any(" GMT" in value for value in headers.values())
        assert wait == pytest.approx(expected, abs=1.0 if is_date else 1e-9)


@pytest.mark.parametrize(
    ("retry_number", "low", "high"),
    [(1, 0.375, 0.5), (2, 0.75, 1.0), (3, 1.5, 2.0), (4, 3.0, 4.0), (5, 6.0, 8.0), (9, 6.0, 8.0)],
)
def test_backoff_doubles_from_half_a_second_and_caps_near_eight(
    retry_number: int, low: float, high: float
) -> None:
    assert backoff_delay(retry_number, rand=lambda: 0.0) == pytest.approx(high)
    assert backoff_delay(retry_number, rand=lambda: 0.999999) == pytest.approx(low, rel=1e-4)
    assert low <= backoff_delay(retry_number) <= high


def test_backoff_survives_huge_retry_numbers() -> None:
    assert backoff_delay(10_000, rand=lambda: 0.0) == 8.0


@pytest.mark.parametrize(
    ("status", "retried"),
    [
        (None, True),  # connection failure or timeout
        (408, True),
        (409, True),
        (429, True),
        (502, True),
        (503, True),
        (504, True),
        (400, False),
        (401, False),
        (403, False),
        (404, False),
        (413, False),
        (422, False),
        (500, False),
        (501, False),
    ],
)
def test_events_policy_retries_only_the_documented_statuses(
    status: Optional[int], retried: bool
) -> None:
    decision = RetryPolicy().decide(0, status=status, headers={}, rand=lambda: 0.0)
    assert decision.retry is retried
    if not retried:
        assert decision.reason == "not_retryable"


def test_batch_policy_also_retries_plain_5xx() -> None:
    assert 500 in BATCH_RETRYABLE_STATUSES and 599 in BATCH_RETRYABLE_STATUSES
    assert 500 not in EVENTS_RETRYABLE_STATUSES
    assert not {400, 401, 403, 404, 413, 422} & BATCH_RETRYABLE_STATUSES


def test_daily_quota_is_never_retried() -> None:
    decision = RetryPolicy().decide(0, status=429, headers={"Retry-After": "1"}, daily_quota=True)
    assert (decision.retry, decision.reason) == (False, "daily_quota")


def test_retries_stop_at_max_retries() -> None:
    policy = RetryPolicy(max_retries=2)
    assert policy.decide(1, status=503, headers={}).retry
    decision = policy.decide(2, status=503, headers={})
    assert (decision.retry, decision.reason) == (False, "retries_exhausted")
    assert not RetryPolicy(max_retries=0).decide(0, status=None).retry


def test_server_wait_is_honoured_up_to_the_cap() -> None:
    policy = RetryPolicy(max_server_wait=10.0)
    assert policy.decide(0, status=429, headers={"Retry-After": "10"}).wait == 10.0
    decision = policy.decide(0, status=429, headers={"Retry-After": "600"})
    assert (decision.retry, decision.reason, decision.wait) == (False, "wait_too_long", 600.0)


def test_backoff_is_used_when_the_server_says_nothing() -> None:
    policy = RetryPolicy()
    assert policy.decide(0, status=503, headers={}, rand=lambda: 0.0).wait == 0.5
    assert policy.decide(3, status=None, rand=lambda: 0.0).wait == 4.0
