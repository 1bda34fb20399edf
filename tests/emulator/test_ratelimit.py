"""Rate limiting as novuhq/novu (2024-10) apps/api/src/app/rate-limiting/ does it: after auth,
API-key requests only, a token bucket per category with a cost per route, RateLimit-* headers."""

from __future__ import annotations

import requests

from teleflow_py.emulator import Emulator
from teleflow_py.emulator.ratelimit import RateLimiter

from ._support import Api, trigger_body


def test_off_on_the_forked_server_by_default(api: Api) -> None:
    response = api.post("/v1/events/trigger", trigger_body())
    assert "RateLimit-Limit" not in response.headers


def test_the_newer_server_limits_with_its_free_tier_by_default() -> None:
    # consts/rate-limiting/apiRateLimits.ts: trigger 60/s, window 5 s, burst 10 %.
    with Emulator(server_version="latest") as emu:
        response = Api(emu.url).post("/v1/events/trigger", trigger_body())
        assert response.headers["RateLimit-Limit"] == "300"
        assert response.headers["RateLimit-Remaining"] == "329"
        assert response.headers["RateLimit-Policy"] == (
            '300;w=5;burst=330;comment="token bucket";category="trigger";cost="single";'
            'serviceLevel="free"'
        )


def test_headers_count_down_then_429_with_retry_after_and_after_auth() -> None:
    # guards/throttler.guard.ts: 429 ThrottlerException('API rate limit exceeded').
    with Emulator(rate_limit=3, rate_limit_window=600) as emu:
        api = Api(emu.url)
        answers = [api.post("/v1/events/trigger", trigger_body()) for _ in range(4)]
        unauthenticated = Api(emu.url)
        del unauthenticated.session.headers["Authorization"]
        refused_401 = unauthenticated.post("/v1/events/trigger", trigger_body())

        assert [a.status_code for a in answers] == [201, 201, 201, 429]
        assert [a.headers["RateLimit-Remaining"] for a in answers] == ["2", "1", "0", "0"]
        assert {a.headers["RateLimit-Limit"] for a in answers} == {"3"}
        reset = int(answers[3].headers["RateLimit-Reset"])
        assert 1 <= reset <= 600
        assert answers[3].headers["Retry-After"] == str(reset)
        assert answers[3].json() == {"statusCode": 429, "message": "API rate limit exceeded"}
        assert refused_401.status_code == 401  # authentication comes first
        assert "RateLimit-Limit" not in refused_401.headers
        assert len(emu.triggers()) == 3
        # Control routes are not limited.
        assert requests.get(emu.url + "/emulator/stats", timeout=30).status_code == 200


def test_buckets_are_per_api_key() -> None:
    with Emulator(rate_limit=1, rate_limit_window=600) as emu:
        first, second = Api(emu.url), Api(emu.url)
        second.session.headers["Authorization"] = "ApiKey other"
        assert first.post("/v1/events/trigger", trigger_body()).status_code == 201
        assert first.post("/v1/events/trigger", trigger_body()).status_code == 429
        assert second.post("/v1/events/trigger", trigger_body()).status_code == 201


def test_bulk_and_broadcast_cost_100_tokens() -> None:
    # events.controller.ts: @ThrottlerCost(ApiRateLimitCostEnum.BULK) on bulk and broadcast.
    with Emulator(rate_limit=150, rate_limit_window=600) as emu:
        api = Api(emu.url)
        broadcast = api.post("/v1/events/trigger/broadcast", {"name": "n", "payload": {}})
        assert broadcast.headers["RateLimit-Remaining"] == "65"  # burst 165 - 100
        assert 'cost="bulk"' in broadcast.headers["RateLimit-Policy"]
        bulk = api.post("/v1/events/trigger/bulk", {"events": [trigger_body(payload={})]})
        assert bulk.status_code == 429
        assert api.post("/v1/events/trigger", trigger_body()).status_code == 201


def test_headers_on_error_answers_too() -> None:
    with Emulator(rate_limit=10, rate_limit_window=600) as emu:
        api = Api(emu.url)
        invalid = api.post("/v1/events/trigger", {})
        assert invalid.status_code == 400 and invalid.headers["RateLimit-Remaining"] == "10"


def test_refill_waits_until_the_bucket_cannot_pay() -> None:
    # evaluate-token-bucket-rate-limit.usecase.ts: refills are delayed until the bucket is empty.
    now = [100.0]
    limiter = RateLimiter(2, window=1.0, burst_allowance=0, clock=lambda: now[0])

    assert [limiter.hit("org", "trigger", "single").allowed for _ in range(3)] == [
        True,
        True,
        False,
    ]
    now[0] += 0.4
    refused = limiter.hit("org", "trigger", "single")
    assert not refused.allowed and refused.headers["Retry-After"] == "1"
    now[0] += 0.2  # 0.6 s: one token (one per 0.5 s) back
    allowed = limiter.hit("org", "trigger", "single")
    assert allowed.allowed and allowed.headers["RateLimit-Remaining"] == "0"
