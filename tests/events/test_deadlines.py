"""The deadline of one call holds whatever the server does (issue 8).

Servers: one that never answers, one that trickles its answer (body or headers), one that
asks for a long Retry-After, one that refuses connections. No test measures time: each
deadline is far shorter than the timeouts that would otherwise end the call, the error
says which limit ended it, and ``pytest.mark.timeout`` fails a call that hangs.
"""

from __future__ import annotations

import logging
import math
from typing import Any, Dict, List

import pytest
import requests
from rawserver import RawServer

from teleflow_py import (
    APIConnectionError,
    APITimeoutError,
    Client,
    RateLimitError,
    ServiceUnavailableError,
)
from teleflow_py._core.calls import Call
from teleflow_py._transport import Transport
from teleflow_py.config import ClientConfig
from teleflow_py.emulator import Emulator

# Far longer than each deadline below: a call that ignored its deadline would hit the
# hang guard instead of raising the deadline's error.
SLOW = {"timeout": 60.0, "open_timeout": 60.0, "write_timeout": 60.0}
pytestmark = pytest.mark.timeout(40)


def _client(api_key: str, url: str, **settings: Any) -> Client:
    return Client(api_key=api_key, base_url=url, **{**SLOW, **settings})


@pytest.mark.parametrize(
    ("behaviour", "route"),
    [
        ("silent", "direct"),
        ("trickle_body", "direct"),
        ("trickle_headers", "direct"),
        ("silent", "session"),
        ("trickle_body", "session"),
        # Not ("trickle_headers", "session"): requests reads the status line and headers
        # itself, each read bounded by `timeout` only (documented in docs/retries.rst).
    ],
)
def test_the_deadline_ends_a_call_to_a_server_that_never_finishes(
    api_key: str, behaviour: str, route: str
) -> None:
    session = requests.Session() if route == "session" else None
    with (
        RawServer(behaviour) as server,
        _client(api_key, server.url, deadline=1.0, max_retries=5, session=session) as client,
    ):
        with pytest.raises(APITimeoutError, match=r"deadline") as caught:
            client.trigger_event("welcome", "s-1")
    # The deadline passed during the first attempt: no retry could fit after it.
    assert caught.value.retry_count == 0
    assert server.requests == 1


@pytest.mark.timeout(90)
def test_with_the_defaults_a_silent_server_ends_the_call_at_the_deadline(api_key: str) -> None:
    # As a new user calls it: 10 s reads, 5 retries, and the 30 s deadline (this test
    # waits those 30 s). Without the deadline the call took about 3 minutes (hang guard).
    # One setting is not the default: a silent server never shows it deduplicates, and
    # against one that may not, a timeout after sending is not retried at all.
    with (
        RawServer("silent") as server,
        Client(api_key=api_key, base_url=server.url, server_deduplicates=True) as client,
    ):
        with pytest.raises(APITimeoutError, match="deadline"):
            client.trigger_event("welcome", "s-1")
    # Reads of 10 s with backoff between: the third attempt is cut short by the deadline.
    assert 2 <= server.requests <= 3


def test_a_retry_after_longer_than_the_time_left_ends_the_call_at_once(
    emulator: Emulator, api_key: str, caplog: pytest.LogCaptureFixture
) -> None:
    emulator.fail_next(1, 429, headers={"Retry-After": "20"})
    with _client(api_key, emulator.url, deadline=5.0, max_retry_wait=60.0) as client:
        with caplog.at_level(logging.WARNING, logger="teleflow_py"):
            with pytest.raises(RateLimitError) as caught:
                client.trigger_event("welcome", "s-1")
    assert caught.value.retry_after == 20.0  # the server's own error, not a timeout
    assert len(emulator.requests()) == 1
    assert "deadline" in caplog.text


def test_a_wait_that_fits_is_slept_and_one_that_does_not_is_raised(
    emulator: Emulator, api_key: str
) -> None:
    # The sleep is recorded, not taken, but the deadline runs on the real clock from the
    # call's start: a wait of 1 s leaves 9 s for the first attempt (9 s left only 1 s, which
    # a loaded machine can spend on it); 11 s never fits in 10.
    waits: List[float] = []
    config = ClientConfig.build(api_key, base_url=emulator.url, deadline=10.0)
    transport = Transport(config, sleep=waits.append)
    emulator.fail_next(1, 503, headers={"Retry-After": "1"})
    transport.send(Call("POST", "/v1/events/trigger", b'{"name":"w","to":"s"}', None))
    assert waits == [1.0]
    emulator.fail_next(1, 503, headers={"Retry-After": "11"})
    with pytest.raises(ServiceUnavailableError):
        transport.send(Call("POST", "/v1/events/trigger", b'{"name":"w","to":"s"}', None))
    assert waits == [1.0]


def test_refused_connections_stop_retrying_when_the_deadline_cannot_fit_a_backoff(
    emulator: Emulator, api_key: str
) -> None:
    emulator.go_down()
    with _client(api_key, emulator.url, deadline=1.0, max_retries=10) as client:
        with pytest.raises(APIConnectionError) as caught:
            client.trigger_event("welcome", "s-1")
    # Backoffs of 0.5 s, 1 s, 2 s...: at most the first fits in one second.
    assert caught.value.retry_count <= 1


def test_no_deadline_means_retries_decide(emulator: Emulator, api_key: str) -> None:
    waits: List[float] = []
    config = ClientConfig.build(api_key, base_url=emulator.url, deadline=None, max_retries=2)
    transport = Transport(config, sleep=waits.append)
    emulator.fail_next(2, 503, headers={"Retry-After": "50"})
    transport.send(Call("POST", "/v1/events/trigger", b'{"name":"w","to":"s"}', None))
    assert waits == [50.0, 50.0]


@pytest.mark.parametrize("value", [None, math.inf])
def test_deadline_none_or_infinity_means_no_limit_and_works(
    client: Client, emulator: Emulator, value: Any
) -> None:
    assert client.with_options(deadline=value).trigger_event("welcome", "s-1").ok


@pytest.mark.parametrize(
    "settings",
    [
        {"deadline": 0},
        {"deadline": -1},
        {"deadline": math.nan},
        {"deadline": "30"},
        {"timeout": math.inf},
        {"open_timeout": math.inf},
        {"write_timeout": math.nan},
        {"max_response_bytes": 10},
    ],
)
def test_values_no_wait_can_take_are_refused_naming_the_setting(
    api_key: str, settings: Dict[str, Any]
) -> None:
    (name,) = settings
    with pytest.raises(ValueError, match=rf"^{name}: "):
        Client(api_key=api_key, base_url="http://127.0.0.1:1", **settings)


def test_flush_and_shutdown_take_an_infinite_timeout(emulator: Emulator, api_key: str) -> None:
    # flush(timeout=math.inf) used to raise OverflowError; shutdown(math.inf) to never end.
    with Client(api_key=api_key, base_url=emulator.url) as client:
        client.track("signed_up", user_id="u-1")
        assert client.flush(timeout=math.inf).accepted == 1
        client.track("signed_up", user_id="u-2")
        assert client.shutdown(timeout=math.inf).accepted == 1
