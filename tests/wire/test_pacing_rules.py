"""The pacer's rules, one table row at a time, on a fake clock (no sleeping anywhere).

Header formats and costs follow NxPKG/teleflow: ``apps/api/src/app/rate-limiting/guards/
throttler.guard.ts`` (the four ``RateLimit-*`` fields, ``Retry-After`` in whole seconds on a
429, the policy ``limit;w=..;burst=..;comment=..;category=..;cost=..;serviceLevel=..``),
``apps/api/src/app/events/events.controller.ts`` (category and cost of each route) and
``libs/shared/src/consts/rate-limiting/apiRateLimits.ts`` (single 1, bulk 100, burst +10 %).
"""

from __future__ import annotations

import math
import threading
from typing import Dict, List, Optional

import pytest

from teleflow_py._core.pacing import FORGET_AFTER, PROBE_PATIENCE, PROBE_POLL, Pacer, Ticket
from teleflow_py._core.ratelimit_headers import (
    Policy,
    RouteCost,
    parse_policy,
    read_fields,
    route_cost,
)

KEY = "identity-a"
SINGLE = RouteCost("trigger", "single")
BULK = RouteCost("trigger", "bulk")


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def headers(
    remaining: int, limit: int = 10, window: int = 1, burst: Optional[int] = None
) -> Dict[str, str]:
    burst = burst if burst is not None else math.floor(limit * 1.1)
    return {
        "RateLimit-Remaining": str(remaining),
        "RateLimit-Limit": str(limit),
        "RateLimit-Reset": "1",
        "RateLimit-Policy": f'{limit};w={window};burst={burst};comment="token bucket";'
        'category="trigger";cost="single";serviceLevel="free"',
    }


@pytest.mark.parametrize(
    "method, path, expected",
    [
        ("POST", "/v1/events/trigger", ("trigger", "single", 1)),
        ("post", "/v1/events/trigger/", ("trigger", "single", 1)),
        ("POST", "/v1/events/trigger?x=1", ("trigger", "single", 1)),
        ("POST", "/v1/events/trigger/bulk", ("trigger", "bulk", 100)),
        ("POST", "/v1/events/trigger/broadcast", ("trigger", "bulk", 100)),
        ("POST", "/v1/events/test/email", ("trigger", "single", 1)),
        ("DELETE", "/v1/events/trigger/txn-123", ("trigger", "single", 1)),
        ("DELETE", "/v1/events/trigger/a%2Fb", ("trigger", "single", 1)),
        # Not an events route: the guard's defaults.
        ("DELETE", "/v1/events/trigger/a/b", ("global", "single", 1)),
        ("GET", "/v1/events/trigger", ("global", "single", 1)),
        ("POST", "/v1/events/batch", ("global", "single", 1)),
        ("POST", "/v1/identify/alias", ("global", "single", 1)),
        ("GET", "/", ("global", "single", 1)),
    ],
)
def test_route_cost_follows_the_events_controller(method: str, path: str, expected: tuple) -> None:
    route = route_cost(method, path)
    assert (route.category, route.cost_name, route.cost) == expected


@pytest.mark.parametrize(
    "text, expected",
    [
        (
            '600;w=1;burst=660;comment="token bucket";category="trigger";cost="bulk";serviceLevel="business"',
            Policy(600, 1.0, 660, "trigger", "bulk"),
        ),
        # The example of the server's OpenAPI header schema (no serviceLevel).
        (
            '100;w=1;burst=110;comment="token bucket";category="trigger";cost="single"',
            Policy(100, 1.0, 110, "trigger", "single"),
        ),
        ("300;w=5;burst=330", Policy(300, 5.0, 330)),
        ("60", Policy(60, 1.0, 60)),
        (" 60 ; W = 2 ", Policy(60, 2.0, 60)),
        ("60;burst=10", Policy(60, 1.0, 60)),  # a bucket never holds less than one window
        ("10;w=1;burst=11, 100;w=60", Policy(10, 1.0, 11)),
        ("10;w=0.5", Policy(10, 0.5, 10)),
        (None, None),
        ("", None),
        ("abc", None),
        ("0;w=1", None),
        ("-5;w=1", None),
        ("10;w=0", None),
        ("10;w=abc", None),
        ("10;w=inf", None),
        ("nan", None),
        ("10;burst=x", None),
    ],
)
def test_parse_policy(text: Optional[str], expected: Optional[Policy]) -> None:
    assert parse_policy(text) == expected


def test_policy_rate_is_limit_per_window() -> None:
    assert Policy(300, 5.0, 330).rate == 60.0


@pytest.mark.parametrize(
    "given, limit, remaining, reset, retry_after, present",
    [
        ({}, None, None, None, None, False),
        (headers(7), 10, 7, 1.0, None, True),
        ({"ratelimit-remaining": "3"}, None, 3, None, None, True),
        ({"RATELIMIT-LIMIT": "60", "retry-after": "2"}, 60, None, None, 2.0, True),
        ({"Retry-After": "3"}, None, None, None, 3.0, False),
        ({"Retry-After": "Wed, 21 Oct 2015 07:28:00 GMT"}, None, None, None, None, False),
        ({"RateLimit-Remaining": "-1", "RateLimit-Reset": "x"}, None, None, None, None, False),
    ],
)
def test_read_fields(
    given: Dict[str, str],
    limit: Optional[int],
    remaining: Optional[int],
    reset: Optional[float],
    retry_after: Optional[float],
    present: bool,
) -> None:
    fields = read_fields(given)
    assert (fields.limit, fields.remaining, fields.reset, fields.retry_after) == (
        limit,
        remaining,
        reset,
        retry_after,
    )
    assert fields.present is present


def learnt(pacer: Pacer, clock: Clock, remaining: int = 10, **policy: int) -> None:
    """Send a first request and answer it with the headers (the pacer learns the policy)."""
    first = pacer.reserve(KEY, SINGLE, math.inf)
    assert first.wait == 0 and not first.recheck
    pacer.answered(first, 201, headers(remaining, **policy))


def test_without_headers_nothing_waits_after_the_first_answer() -> None:
    clock = Clock()
    pacer = Pacer(clock)
    first = pacer.reserve(KEY, SINGLE, math.inf)
    pacer.answered(first, 201, {"Content-Type": "application/json"})
    tickets = [pacer.reserve(KEY, BULK, math.inf) for _ in range(50)]
    assert all(t.wait == 0 and t.fits and not t.recheck for t in tickets)
    assert pacer.snapshot(KEY) == {}


def test_first_request_of_a_bucket_goes_and_the_others_wait_for_its_answer() -> None:
    clock = Clock()
    pacer = Pacer(clock)
    probe = pacer.reserve(KEY, BULK, math.inf)
    assert (probe.wait, probe.recheck) == (0.0, False)
    second = pacer.reserve(KEY, BULK, math.inf)
    assert second.recheck and second.wait == PROBE_POLL
    # Another category or another key is another bucket: its own first request goes.
    assert not pacer.reserve(KEY, RouteCost("global", "single"), math.inf).recheck
    assert not pacer.reserve("identity-b", BULK, math.inf).recheck
    # A call with less time left than one poll does not wait for the probe.
    assert not pacer.reserve(KEY, BULK, PROBE_POLL / 2).recheck
    pacer.answered(probe, 201, headers(1000, limit=1000))
    assert not pacer.reserve(KEY, BULK, math.inf).recheck


def test_the_others_stop_waiting_for_a_first_request_that_takes_too_long() -> None:
    clock = Clock()
    pacer = Pacer(clock)
    pacer.reserve(KEY, SINGLE, math.inf)
    clock.now += PROBE_PATIENCE - PROBE_POLL / 2
    assert pacer.reserve(KEY, SINGLE, math.inf).wait == pytest.approx(PROBE_POLL / 2)
    clock.now += PROBE_POLL
    assert not pacer.reserve(KEY, SINGLE, math.inf).recheck


@pytest.mark.parametrize("end", ["failed", "release"])
def test_a_first_request_that_ends_unanswered_hands_the_probe_to_the_next(end: str) -> None:
    pacer = Pacer(Clock())
    probe = pacer.reserve(KEY, SINGLE, math.inf)
    assert pacer.reserve(KEY, SINGLE, math.inf).recheck
    getattr(pacer, end)(probe)
    assert not pacer.reserve(KEY, SINGLE, math.inf).recheck
    assert pacer.reserve(KEY, SINGLE, math.inf).recheck


def test_concurrent_reservations_get_successive_send_times() -> None:
    clock = Clock()
    pacer = Pacer(clock)
    learnt(pacer, clock, remaining=10, limit=10)  # 10 tokens a second
    waits = [pacer.reserve(KEY, SINGLE, math.inf).wait for _ in range(12)]
    # Level 10 pays 9 at once (one token of margin), then one every 0.1 s.
    assert waits[:9] == [0.0] * 9
    assert waits[9:] == pytest.approx([0.1, 0.2, 0.3])


def test_the_model_refills_at_limit_per_window_up_to_the_burst() -> None:
    clock = Clock()
    pacer = Pacer(clock)
    learnt(pacer, clock, remaining=0, limit=300, window=5)  # 60 tokens a second, burst 330
    assert pacer.reserve(KEY, SINGLE, math.inf).wait == pytest.approx(2 / 60)
    clock.now += 100.0  # long idle: the bucket is full, not 6,000 tokens deep
    waits = [pacer.reserve(KEY, BULK, math.inf).wait for _ in range(4)]
    assert waits[:3] == [0.0, 0.0, 0.0]
    assert waits[3] == pytest.approx((101 - (330 - 300)) / 60)


@pytest.mark.parametrize(
    "time_left, fits", [(math.inf, True), (0.21, True), (0.19, False), (0.0, False)]
)
def test_a_wait_must_fit_in_the_time_left(time_left: float, fits: bool) -> None:
    clock = Clock()
    pacer = Pacer(clock)
    learnt(pacer, clock, remaining=0, limit=10)
    ticket = pacer.reserve(KEY, RouteCost("trigger", "single"), time_left)
    assert ticket.wait == pytest.approx(0.2)
    assert ticket.fits is fits
    # A ticket that does not fit reserves nothing: the next one sees the same wait.
    assert pacer.reserve(KEY, SINGLE, math.inf).wait == pytest.approx(0.2 if not fits else 0.3)


def test_release_gives_the_tokens_back_and_failed_does_not() -> None:
    clock = Clock()
    pacer = Pacer(clock)
    learnt(pacer, clock, remaining=0, limit=10)
    released = pacer.reserve(KEY, SINGLE, math.inf)
    pacer.release(released)
    assert pacer.reserve(KEY, SINGLE, math.inf).wait == pytest.approx(released.wait)
    failed = pacer.reserve(KEY, SINGLE, math.inf)
    pacer.failed(failed)
    assert pacer.reserve(KEY, SINGLE, math.inf).wait == pytest.approx(failed.wait + 0.1)


def test_an_answer_with_less_left_than_the_model_lowers_it() -> None:
    # Another process spends the same key's budget: the server says so, the pacer follows.
    clock = Clock()
    pacer = Pacer(clock)
    learnt(pacer, clock, remaining=10, limit=10)
    ticket = pacer.reserve(KEY, SINGLE, math.inf)
    pacer.answered(ticket, 201, headers(0, limit=10))
    assert pacer.reserve(KEY, SINGLE, math.inf).wait == pytest.approx(0.2)


def test_an_answer_never_raises_the_model_above_what_it_reserved() -> None:
    # A late answer with an old, higher remaining must not undo later reservations.
    clock = Clock()
    pacer = Pacer(clock)
    learnt(pacer, clock, remaining=10, limit=10)
    tickets = [pacer.reserve(KEY, SINGLE, math.inf) for _ in range(9)]
    pacer.answered(tickets[0], 201, headers(9, limit=10))
    assert pacer.reserve(KEY, SINGLE, math.inf).wait == pytest.approx(0.1)


def test_requests_scheduled_after_the_answered_one_are_subtracted() -> None:
    clock = Clock()
    pacer = Pacer(clock)
    learnt(pacer, clock, remaining=10, limit=10)
    first, *_on_their_way = [pacer.reserve(KEY, SINGLE, math.inf) for _ in range(3)]
    # The server counted `first` only; another process took 5: 4 left minus 2 on their way.
    pacer.answered(first, 201, headers(4, limit=10))
    waits = [pacer.reserve(KEY, SINGLE, math.inf).wait for _ in range(2)]
    assert waits == pytest.approx([0.0, 0.1])


def test_a_429_with_a_policy_empties_the_model_without_waiting_for_the_whole_seconds() -> None:
    clock = Clock()
    pacer = Pacer(clock)
    learnt(pacer, clock, remaining=5, limit=600)
    ticket = pacer.reserve(KEY, BULK, math.inf)
    refused = dict(headers(0, limit=600), **{"Retry-After": "1"})
    pacer.answered(ticket, 429, refused)
    assert pacer.reserve(KEY, BULK, math.inf).wait == pytest.approx(101 / 600)


def test_a_429_without_headers_holds_the_bucket_for_its_retry_after() -> None:
    clock = Clock()
    pacer = Pacer(clock)
    first = pacer.reserve(KEY, SINGLE, math.inf)
    pacer.answered(first, 429, {"Retry-After": "2"})
    clock.now += 0.5
    assert pacer.reserve(KEY, SINGLE, math.inf).wait == pytest.approx(1.5)
    assert pacer.reserve(KEY, SINGLE, 1.0).fits is False
    assert pacer.reserve(KEY, RouteCost("global", "single"), math.inf).wait == 0.0
    clock.now += 1.5
    assert pacer.reserve(KEY, SINGLE, math.inf).wait == 0.0


def test_a_request_dearer_than_the_bucket_is_left_to_the_server() -> None:
    # Free tier, 1 s window: burst 66 < 100, so no wait can make a bulk request pass.
    clock = Clock()
    pacer = Pacer(clock)
    learnt(pacer, clock, remaining=0, limit=60)
    assert [pacer.reserve(KEY, BULK, 1.0).wait for _ in range(3)] == [0.0, 0.0, 0.0]
    assert pacer.reserve(KEY, SINGLE, math.inf).wait == pytest.approx(2 / 60)


def test_disabled_pacer_never_waits_but_still_keeps_the_budget() -> None:
    clock = Clock()
    pacer = Pacer(clock, enabled=False)
    tickets: List[Ticket] = [pacer.reserve(KEY, BULK, 0.0) for _ in range(20)]
    assert all(t.wait == 0 and t.fits and not t.recheck for t in tickets)
    pacer.answered(tickets[0], 429, headers(0))
    assert pacer.reserve(KEY, BULK, 0.0).wait == 0.0
    assert pacer.snapshot(KEY)["trigger"].remaining == 0


def test_snapshot_shows_the_last_answer_per_category_as_sent() -> None:
    clock = Clock()
    pacer = Pacer(clock)
    assert pacer.snapshot(KEY) == {}
    learnt(pacer, clock, remaining=7, limit=10)
    budget = pacer.snapshot(KEY)["trigger"]
    assert (budget.limit, budget.remaining, budget.reset) == (10, 7, 1.0)
    assert budget.policy is not None and budget.policy.startswith("10;w=1;burst=11")
    assert budget.observed_at == clock.now
    assert pacer.snapshot("identity-b") == {}
    # An answer without the fields (a proxy's 502) keeps the last known budget.
    ticket = pacer.reserve(KEY, SINGLE, math.inf)
    pacer.answered(ticket, 502, {})
    assert pacer.snapshot(KEY)["trigger"] == budget


def test_threads_reserving_together_never_get_the_same_slot() -> None:
    clock = Clock()  # frozen: every reservation is made at the same instant
    pacer = Pacer(clock)
    learnt(pacer, clock, remaining=0, limit=100)
    waits: List[float] = []
    lock = threading.Lock()

    def worker() -> None:
        mine = [pacer.reserve(KEY, SINGLE, math.inf).wait for _ in range(200)]
        with lock:
            waits.extend(mine)

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    slots = sorted(round(w * 100) for w in waits)
    assert slots == list(range(2, 2 + 1600))


def test_reservations_never_reported_are_forgotten_after_a_while() -> None:
    clock = Clock()
    pacer = Pacer(clock)
    learnt(pacer, clock, remaining=100, limit=100)
    for _ in range(5):
        for _ in range(100):
            pacer.reserve(KEY, SINGLE, math.inf)  # never reported: a driver bug
        clock.now += FORGET_AFTER + 1000
        pacer.answered(pacer.reserve(KEY, SINGLE, math.inf), 201, headers(100, limit=100))
    assert len(pacer._buckets[(KEY, "trigger")].outstanding) <= 100
