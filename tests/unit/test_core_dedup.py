"""What an answer teaches about deduplication, and which failures prove nothing was sent.

The rules follow NxPKG/teleflow ``apps/api/src/app/shared/framework/
idempotency.interceptor.ts`` (the echo of ``Idempotency-Key``) and the guards that answer
before it (401, 402, 429: no echo whatever the flag); see ``tests/aio/test_dedup_detection.py``
for the same against the emulator.
"""

from __future__ import annotations

import logging
import socket
import threading
from typing import List

import aiohttp
import pytest
import requests
import urllib3

from teleflow_py._connection import SYNC_FAILURES
from teleflow_py._core.dedup import Fixed, ServerDedup, dedup_for
from teleflow_py._core.failures import ConnectTimedOut, never_sent
from teleflow_py.aio._session import AIO_FAILURES
from teleflow_py.config import DEFAULT_BASE_URL, ClientConfig


def _warnings(caplog: pytest.LogCaptureFixture) -> List[logging.LogRecord]:
    return [r for r in caplog.records if r.levelno == logging.WARNING]


@pytest.mark.parametrize(
    ("assumed", "answers", "deduplicates", "known"),
    [
        (False, [], False, False),
        (True, [], True, False),
        # An error answer without the echo (401, 402, 429, 5xx) teaches nothing.
        (True, [(False, False)], True, False),
        (False, [(True, False)], True, True),  # a 409 or 422 echoing the key
        (True, [(False, True)], False, True),  # an accepted 2xx without the echo
        (False, [(False, True), (True, True)], True, True),  # the flag was turned on
        (True, [(True, True), (False, True)], False, True),  # ... and off
    ],
)
def test_what_the_answers_teach(
    assumed: bool, answers: List[tuple], deduplicates: bool, known: bool
) -> None:
    server = ServerDedup("http://self-hosted.example", assumed)
    for echoed, accepted in answers:
        server.saw(echoed, accepted)
    assert (server.deduplicates, server.known) == (deduplicates, known)


def test_one_warning_per_base_url_however_many_threads_learn_it(
    caplog: pytest.LogCaptureFixture,
) -> None:
    server = ServerDedup("http://warn-once.example", True)
    start = threading.Barrier(8)

    def answer() -> None:
        start.wait()
        for _ in range(200):
            server.saw(False, True)

    with caplog.at_level(logging.WARNING, logger="teleflow_py"):
        threads = [threading.Thread(target=answer) for _ in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        server.saw(True, True)
        server.saw(False, True)  # off again: still the one warning
    (warning,) = _warnings(caplog)
    assert "http://warn-once.example" in warning.getMessage()
    assert "does not deduplicate" in warning.getMessage()


def test_the_hosted_service_is_assumed_to_deduplicate_and_others_not() -> None:
    hosted = ClientConfig.build("sk_test_0123456789abcdef")
    assert hosted.base_url == DEFAULT_BASE_URL and hosted.hosted
    assert dedup_for(hosted.base_url, hosted.hosted, None).deduplicates is True
    other = dedup_for("http://unknown-host.example:4000", False, None)
    assert other.deduplicates is False
    # One state per base URL, shared.
    assert dedup_for("http://unknown-host.example:4000", False, None) is other


def test_the_setting_replaces_the_detection() -> None:
    fixed = dedup_for(DEFAULT_BASE_URL, True, False)
    assert isinstance(fixed, Fixed) and fixed.deduplicates is False
    fixed.saw(True, True)
    assert fixed.deduplicates is False


def test_the_setting_is_checked() -> None:
    with pytest.raises(ValueError, match="server_deduplicates"):
        ClientConfig.build("sk_test_0123456789abcdef", server_deduplicates="yes")


def _chained(outer: BaseException, inner: BaseException) -> BaseException:
    try:
        try:
            raise inner
        except BaseException as exc:
            raise outer from exc
    except BaseException as caught:
        return caught


@pytest.mark.parametrize(
    ("failure", "unsent"),
    [
        (ConnectionRefusedError(111, "refused"), True),
        (socket.gaierror(-2, "Name or service not known"), True),
        (ConnectTimedOut("connecting timed out"), True),
        (ConnectionResetError(104, "reset"), False),
        (TimeoutError("timed out"), False),  # a read timeout: maybe processed
        (BrokenPipeError(32, "broken pipe"), False),
    ],
)
def test_stdlib_failures_that_prove_nothing_was_sent(failure: BaseException, unsent: bool) -> None:
    assert never_sent(failure) is unsent


def test_requests_failures_are_read_through_their_causes() -> None:
    refused = _chained(
        requests.ConnectionError("Max retries exceeded"),
        urllib3.exceptions.NewConnectionError(None, "refused"),  # type: ignore[arg-type]
    )
    assert never_sent(refused, SYNC_FAILURES)
    assert never_sent(requests.ConnectTimeout("connect timed out"), SYNC_FAILURES)
    read = _chained(
        requests.ConnectionError("Connection aborted"),
        urllib3.exceptions.ProtocolError("Connection aborted", ConnectionResetError()),
    )
    assert not never_sent(read, SYNC_FAILURES)
    assert not never_sent(requests.ReadTimeout("read timed out"), SYNC_FAILURES)


def test_aiohttp_connect_failures_prove_nothing_was_sent() -> None:
    assert never_sent(aiohttp.ServerDisconnectedError(), AIO_FAILURES) is False
    timeout = getattr(aiohttp, "ConnectionTimeoutError", None)
    if timeout is not None:
        assert never_sent(timeout("connect timed out"), AIO_FAILURES)
    assert not never_sent(aiohttp.SocketTimeoutError("read"), AIO_FAILURES)
