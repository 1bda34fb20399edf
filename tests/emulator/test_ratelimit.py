"""Rate limiting as NxPKG/teleflow (2066d4c74) apps/api/src/app/rate-limiting/ does it: after
auth, API-key requests only, a token bucket per category with a cost per route, RateLimit-*
headers on every answer of a limited route (guards/throttler.guard.ts), the maxima, window,
burst allowance and costs of libs/shared/src/consts/rate-limiting/apiRateLimits.ts."""

from __future__ import annotations

import re

import pytest
import requests

from teleflow_py.emulator import Emulator
from teleflow_py.emulator.ratelimit import RateLimiter

from ._support import Api, trigger_body

# throttler.guard.ts createPolicyHeader: `${limit};w=..;burst=..;comment=".."` and so on.
POLICY = re.compile(
    r'^(?P<limit>\d+);w=(?P<w>\d+);burst=(?P<burst>\d+);comment="token bucket";'
    r'category="(?P<category>\w+)";cost="(?P<cost>\w+)";serviceLevel="(?P<level>\w+)"$'
)


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_on_by_default_as_on_the_hosted_service(api: Api) -> None:
    response = api.post("/v1/events/trigger", trigger_body())
    # get-api-rate-limit-maximum.usecase.ts: an organisation without a level is "unlimited".
    assert response.headers["RateLimit-Limit"] == "6000"
    assert response.headers["RateLimit-Remaining"] == "6599"  # floor(6000 * 1.1) - 1
    assert response.headers["RateLimit-Reset"] == "1"
    policy = POLICY.match(response.headers["RateLimit-Policy"])
    assert policy is not None
    assert policy.groupdict() == {
        "limit": "6000",
        "w": "1",
        "burst": "6600",
        "category": "trigger",
        "cost": "single",
        "level": "unlimited",
    }


def test_off_like_a_self_hosted_server_as_shipped() -> None:
    # apps/api/src/.env.production: IS_API_RATE_LIMITING_ENABLED=false.
    with Emulator(rate_limiting=False) as emu:
        response = Api(emu.url).post("/v1/events/trigger", trigger_body())
        assert response.status_code == 201
        assert not [name for name in response.headers if name.lower().startswith("ratelimit")]


@pytest.mark.parametrize(
    ("tier", "trigger", "global_"),
    [("free", 60, 30), ("business", 600, 300), ("enterprise", 6000, 3000)],
)
def test_each_tier_has_the_servers_maxima(tier: str, trigger: int, global_: int) -> None:
    with Emulator(rate_limit_tier=tier) as emu:
        api = Api(emu.url)
        triggered = api.post("/v1/events/trigger", trigger_body())
        batch = api.post("/v1/events/batch", {"events": []})
        assert triggered.headers["RateLimit-Limit"] == str(trigger)
        assert batch.headers["RateLimit-Limit"] == str(global_)
        assert f'serviceLevel="{tier}"' in triggered.headers["RateLimit-Policy"]
        assert 'category="global"' in batch.headers["RateLimit-Policy"]


def test_the_free_tier_refuses_every_bulk_call() -> None:
    # Bulk costs 100 tokens; a free bucket holds floor(60 * 1.1) = 66: never enough.
    with Emulator(rate_limit_tier="free") as emu:
        api = Api(emu.url)
        bulk = api.post("/v1/events/trigger/bulk", {"events": [trigger_body(payload={})]})
        assert bulk.status_code == 429
        assert bulk.headers["RateLimit-Remaining"] == "0"
        assert 'cost="bulk"' in bulk.headers["RateLimit-Policy"]


def test_a_refused_bulk_on_a_new_bucket_leaves_it_in_debt() -> None:
    # The Lua script stores "maxTokens - cost" when it creates a bucket, even below zero: a
    # first bulk call on the free tier leaves -34 tokens, so single triggers wait for 35
    # refills (one per 1000 / 60 ms).
    clock = FakeClock()
    limiter = RateLimiter("free", clock=clock)
    assert not limiter.hit("k", "trigger", "bulk").allowed
    assert not limiter.hit("k", "trigger", "single").allowed
    clock.now += 35 / 60 + 0.001
    assert limiter.hit("k", "trigger", "single").allowed


def test_headers_count_down_then_429_with_retry_after_and_after_auth() -> None:
    # guards/throttler.guard.ts: 429 ThrottlerException('API rate limit exceeded').
    with Emulator(rate_limit_tier=3, rate_limit_window=600) as emu:
        api = Api(emu.url)
        answers = [api.post("/v1/events/trigger", trigger_body()) for _ in range(4)]
        unauthenticated = Api(emu.url)
        del unauthenticated.session.headers["Authorization"]
        refused_401 = unauthenticated.post("/v1/events/trigger", trigger_body())

        assert [a.status_code for a in answers] == [201, 201, 201, 429]
        assert [a.headers["RateLimit-Remaining"] for a in answers] == ["2", "1", "0", "0"]
        assert {a.headers["RateLimit-Limit"] for a in answers} == {"3"}
        assert 'serviceLevel="custom"' in answers[0].headers["RateLimit-Policy"]
        reset = int(answers[3].headers["RateLimit-Reset"])
        assert 1 <= reset <= 600
        assert answers[3].headers["Retry-After"] == str(reset)
        assert "Retry-After" not in answers[0].headers
        # The body of a string HttpException: statusCode, then message, no error field.
        assert answers[3].text == '{"statusCode":429,"message":"API rate limit exceeded"}'
        assert refused_401.status_code == 401  # authentication comes first
        assert "RateLimit-Limit" not in refused_401.headers
        assert len(emu.triggers()) == 3
        # Control routes are not limited.
        assert requests.get(emu.url + "/emulator/stats", timeout=30).status_code == 200


def test_buckets_are_per_api_key() -> None:
    with Emulator(rate_limit_tier=1, rate_limit_window=600) as emu:
        first, second = Api(emu.url), Api(emu.url)
        second.session.headers["Authorization"] = "ApiKey other"
        assert first.post("/v1/events/trigger", trigger_body()).status_code == 201
        assert first.post("/v1/events/trigger", trigger_body()).status_code == 429
        assert second.post("/v1/events/trigger", trigger_body()).status_code == 201


def test_bulk_and_broadcast_cost_100_tokens() -> None:
    # events.controller.ts: @ThrottlerCost(ApiRateLimitCostEnum.BULK) on bulk and broadcast.
    with Emulator(rate_limit_tier=150, rate_limit_window=600) as emu:
        api = Api(emu.url)
        broadcast = api.post("/v1/events/trigger/broadcast", {"name": "n", "payload": {}})
        assert broadcast.headers["RateLimit-Remaining"] == "65"  # burst 165 - 100
        assert 'cost="bulk"' in broadcast.headers["RateLimit-Policy"]
        bulk = api.post("/v1/events/trigger/bulk", {"events": [trigger_body(payload={})]})
        assert bulk.status_code == 429
        assert api.post("/v1/events/trigger", trigger_body()).status_code == 201


def test_headers_on_error_answers_too() -> None:
    with Emulator(rate_limit_tier=10, rate_limit_window=600) as emu:
        api = Api(emu.url)
        invalid = api.post("/v1/events/trigger", {})
        assert invalid.status_code == 400 and invalid.headers["RateLimit-Remaining"] == "10"


def test_the_bucket_refills_only_when_it_cannot_pay() -> None:
    # evaluate-token-bucket-rate-limit.usecase.ts, its Lua script: a 1 s window, 10 tokens
    # per window, a bucket of 11; refills wait until a request finds the bucket short.
    clock = FakeClock()
    limiter = RateLimiter(10, 1, clock=clock)
    remaining = [limiter.hit("k", "trigger", "single").headers["RateLimit-Remaining"]]
    for _ in range(10):
        remaining.append(limiter.hit("k", "trigger", "single").headers["RateLimit-Remaining"])
    assert remaining == [str(n) for n in range(10, -1, -1)]
    refused = limiter.hit("k", "trigger", "single")
    assert not refused.allowed and refused.headers["Retry-After"] == "1"
    clock.now += 0.35  # three refills of 100 ms each are due
    again = limiter.hit("k", "trigger", "single")
    assert again.allowed and again.headers["RateLimit-Remaining"] == "2"


def test_a_refused_cost_stays_refused_until_its_reset_but_cheaper_requests_pass() -> None:
    # The "ephemeral cache" of evaluate-token-bucket-rate-limit.usecase.ts is keyed by cost.
    clock = FakeClock()
    limiter = RateLimiter(150, 1, clock=clock)
    assert limiter.hit("k", "trigger", "bulk").allowed  # 165 - 100 = 65 left
    refused = limiter.hit("k", "trigger", "bulk")
    assert not refused.allowed
    assert limiter.hit("k", "trigger", "single").allowed
    assert not limiter.hit("k", "trigger", "bulk").allowed
