"""Pacing by the server's rate-limit headers, through the clients, against the emulator.

The emulator's token bucket follows the server's (NxPKG/teleflow
``apps/api/src/app/rate-limiting/guards/throttler.guard.ts`` and
``evaluate-token-bucket-rate-limit.usecase.ts``): ``RateLimit-*`` headers on every answer of
an Events route, a 429 with ``Retry-After`` when the bucket cannot pay, bulk costing 100
tokens. A numeric tier keeps each test a few seconds long; the issue's full-size workloads
(40,000 events, 4,000 triggers) and their times are ``benchmarks/bench_ratelimit.py``'s.
"""

from __future__ import annotations

import asyncio
import threading
from typing import Any, Dict, List

import pytest

from teleflow_py import APITimeoutError, AsyncClient, Client, ValidationError
from teleflow_py.emulator import Emulator

API_KEY = "sk_test_0123456789abcdef"
BULK = "/v1/events/trigger/bulk"
TRIGGER = "/v1/events/trigger"
#: The issue's bound: at most 0.2 % of the requests meet a 429.
MAX_REFUSED = 0.002


def refused(emulator: Emulator, path: str) -> int:
    return sum(1 for r in emulator.requests(path=path) if r["status"] == 429)


def events(count: int) -> List[Dict[str, Any]]:
    return [{"name": "welcome", "to": f"s-{i}", "payload": {"i": i}} for i in range(count)]


def each_once(emulator: Emulator, count: int) -> bool:
    received = sorted(t["payload"]["i"] for t in emulator.triggers())
    return received == list(range(count))


def trigger_from_threads(client: Client, calls: int, threads: int = 8) -> None:
    numbers = iter(range(calls))
    lock = threading.Lock()
    errors: List[BaseException] = []

    def work() -> None:
        while True:
            with lock:
                i = next(numbers, None)
            if i is None:
                return
            try:
                client.trigger_event("welcome", f"s-{i}", payload={"i": i})
            except BaseException as exc:  # reported below
                errors.append(exc)
                return

    workers = [threading.Thread(target=work) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    assert errors == []


def test_a_bulk_trigger_at_the_default_concurrency_meets_no_429_and_sends_each_event_once() -> None:
    # 1,000 tokens a second, a bucket of 1,100: 30 bulk requests of 100 take about 2 s.
    with Emulator(rate_limit_tier=1000) as emulator:
        with Client(api_key=API_KEY, base_url=emulator.url, register_atexit=False) as client:
            result = client.trigger_bulk_event(events(3000))  # concurrency 8 by default
            budget = client.rate_limit["trigger"]
        assert result.ok and len(result) == 3000
        sent = len(emulator.requests(path=BULK))
        assert refused(emulator, BULK) <= MAX_REFUSED * sent
        assert each_once(emulator, 3000)
    assert budget.limit == 1000 and budget.policy is not None and "burst=1100" in budget.policy


def test_triggers_from_8_threads_meet_at_most_0_2_percent_429s_and_unpaced_ones_meet_more() -> None:
    calls = 900  # 300 tokens a second, a bucket of 330: about 2 s
    with Emulator(rate_limit_tier=300) as emulator:
        with Client(api_key=API_KEY, base_url=emulator.url, register_atexit=False) as client:
            trigger_from_threads(client, calls)
            assert refused(emulator, TRIGGER) <= MAX_REFUSED * calls
            assert each_once(emulator, calls)
    # The control: the same threads unpaced (a with_options copy) do meet the limit, and every
    # event still arrives once through the 429 retries. Its bucket is small and slow (22
    # tokens, 20 a second) so that any machine outruns it: 60 calls meet a 429 as soon as the
    # threads make more than about 40 calls a second. (At 300 a second, a slow machine
    # running the emulator in the same process could stay under the limit unpaced.)
    calls = 60
    with Emulator(rate_limit_tier=20) as emulator:
        with Client(api_key=API_KEY, base_url=emulator.url, register_atexit=False) as client:
            trigger_from_threads(client.with_options(pace_by_rate_limit=False), calls)
            assert refused(emulator, TRIGGER) > MAX_REFUSED * calls
            assert each_once(emulator, calls)


def test_async_tasks_share_the_budget_and_meet_at_most_0_2_percent_429s() -> None:
    calls = 600

    async def run(url: str) -> None:
        async with AsyncClient(api_key=API_KEY, base_url=url, register_atexit=False) as client:
            numbers = iter(range(calls))

            async def work() -> None:
                for i in numbers:
                    await client.trigger_event("welcome", f"s-{i}", payload={"i": i})

            await asyncio.gather(*(work() for _ in range(8)))
            result = await client.trigger_bulk_event(events(1000))
            assert result.ok

    with Emulator(rate_limit_tier=300) as emulator:
        asyncio.run(run(emulator.url))
        sent = len(emulator.requests())
        assert refused(emulator, TRIGGER) + refused(emulator, BULK) <= MAX_REFUSED * sent
        assert len(emulator.triggers()) == calls + 1000


def test_without_rate_limit_headers_nothing_is_paced_and_no_budget_is_shown(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with Emulator(rate_limiting=False) as emulator:
        with Client(api_key=API_KEY, base_url=emulator.url, register_atexit=False) as client:
            # The first answer tells (only concurrent first requests wait for it).
            assert client.trigger_event("welcome", "s-0").ok
            with caplog.at_level("DEBUG", logger="teleflow_py"):
                trigger_from_threads(client, 39)
                client.trigger_bulk_event(events(500))
            assert client.rate_limit == {}
        assert "rate limit" not in caplog.text
        assert len(emulator.triggers()) == 540


def test_a_pacing_wait_past_the_deadline_fails_at_once_and_sends_nothing() -> None:
    # One token every 10 s: the second call would wait about 10 s, past a 2 s deadline.
    with Emulator(rate_limit_tier=1, rate_limit_window=10) as emulator:
        with Client(
            api_key=API_KEY, base_url=emulator.url, deadline=2, register_atexit=False
        ) as client:
            assert client.trigger_event("welcome", "s-1").ok
            with pytest.raises(APITimeoutError, match=r"\(pacing\)") as caught:
                client.trigger_event("welcome", "s-2")
        assert not caught.value.retryable
        assert len(emulator.requests(path=TRIGGER)) == 1


def test_a_429_still_waits_and_retries_with_the_same_key_when_pacing_is_on() -> None:
    with Emulator(rate_limit_tier=100) as emulator:
        emulator.fail_next(1, 429, headers={"Retry-After": "0"}, path=TRIGGER)
        with Client(api_key=API_KEY, base_url=emulator.url, register_atexit=False) as client:
            assert client.trigger_event("welcome", "s-1", idempotency_key="k-1").ok
        keys = [r["idempotency_key"] for r in emulator.requests(path=TRIGGER)]
        assert keys == ["k-1", "k-1"]


def test_the_setting_is_checked_and_copies_share_the_budget() -> None:
    with pytest.raises(ValidationError, match="pace_by_rate_limit"):
        Client(api_key=API_KEY, pace_by_rate_limit="no", register_atexit=False)  # type: ignore[arg-type]
    with Emulator(rate_limit_tier=50) as emulator:
        with Client(api_key=API_KEY, base_url=emulator.url, register_atexit=False) as client:
            copy = client.with_options(deadline=5)
            assert client.config.pace_by_rate_limit and copy.config.pace_by_rate_limit
            assert client.rate_limit == {}
            copy.trigger_event("welcome", "s-1")
            assert client.rate_limit == copy.rate_limit
            assert client.rate_limit["trigger"].remaining == 54  # burst 55, one spent
