"""Rate limiting: off by default; when on, RateLimit-* headers on every /v1 answer and 429s."""

from __future__ import annotations

import requests

from teleflow_py.emulator import Emulator
from teleflow_py.emulator.ratelimit import RateLimiter

from ._support import Api, trigger_body


def test_off_by_default(api: Api) -> None:
    response = api.post("/v1/events/trigger", trigger_body())
    assert "RateLimit-Limit" not in response.headers


def test_headers_count_down_then_429_with_retry_after() -> None:
    # A long window keeps the test deterministic on a slow machine.
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
        assert answers[3].json() == {
            "statusCode": 429,
            "message": "API rate limit exceeded",
            "error": "Too Many Requests",
        }
        assert refused_401.status_code == 429  # the limit is checked before auth
        assert len(emu.triggers()) == 3
        # Control routes are not limited.
        assert requests.get(emu.url + "/emulator/stats", timeout=30).status_code == 200


def test_headers_on_error_answers_too() -> None:
    with Emulator(rate_limit=10, rate_limit_window=600) as emu:
        api = Api(emu.url)
        invalid = api.post("/v1/events/trigger", {})
        emu.fail_next(1, 500)
        faulted = api.post("/v1/events/trigger", trigger_body())
        assert invalid.status_code == 400 and invalid.headers["RateLimit-Remaining"] == "9"
        assert faulted.status_code == 500 and faulted.headers["RateLimit-Remaining"] == "8"


def test_window_rolls_over() -> None:
    now = [100.0]
    limiter = RateLimiter(2, window=1.0, clock=lambda: now[0])

    assert [limiter.hit()[0] for _ in range(3)] == [True, True, False]
    now[0] += 0.4
    allowed, headers = limiter.hit()
    assert not allowed and headers["Retry-After"] == "1"
    now[0] += 0.6
    allowed, headers = limiter.hit()
    assert allowed and headers["RateLimit-Remaining"] == "1"
