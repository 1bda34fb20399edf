"""One ladder from a low-level failure to the SDK's error, whichever library raised it."""

from __future__ import annotations

import http.client
import socket
import ssl
from typing import Optional

import aiohttp
import pytest
import requests

from teleflow_py import APIConnectionError, APITimeoutError, ResponseTooLargeError, TeleflowError
from teleflow_py._connection import SYNC_FAILURES
from teleflow_py._core.failures import FailureKinds, api_error
from teleflow_py.aio._session import AIO_FAILURES

URL = "http://127.0.0.1:9/v1/events/trigger"


def _caused(exc: BaseException, cause: BaseException) -> BaseException:
    exc.__cause__ = cause
    return exc


@pytest.mark.parametrize(
    ("kinds", "failure", "error", "retryable"),
    [
        (SYNC_FAILURES, socket.timeout("read"), APITimeoutError, True),
        (SYNC_FAILURES, requests.ReadTimeout("read"), APITimeoutError, True),
        (SYNC_FAILURES, ConnectionRefusedError("refused"), APIConnectionError, True),
        (SYNC_FAILURES, http.client.RemoteDisconnected("gone"), APIConnectionError, True),
        (SYNC_FAILURES, requests.ConnectionError("dns"), APIConnectionError, True),
        (SYNC_FAILURES, requests.exceptions.SSLError("cert"), APIConnectionError, False),
        (SYNC_FAILURES, requests.exceptions.InvalidHeader("h"), APIConnectionError, False),
        (SYNC_FAILURES, ssl.SSLCertVerificationError("cert"), APIConnectionError, False),
        (SYNC_FAILURES, ssl.SSLEOFError("eof"), APIConnectionError, True),
        (SYNC_FAILURES, ValueError("header value"), APIConnectionError, False),
        (AIO_FAILURES, TimeoutError(), APITimeoutError, True),
        (AIO_FAILURES, aiohttp.ServerTimeoutError("read"), APITimeoutError, True),
        (AIO_FAILURES, aiohttp.ServerDisconnectedError(), APIConnectionError, True),
        (AIO_FAILURES, aiohttp.ClientPayloadError("cut"), APIConnectionError, True),
        (AIO_FAILURES, ConnectionResetError("reset"), APIConnectionError, True),
        (AIO_FAILURES, aiohttp.InvalidURL("x"), APIConnectionError, False),
        (
            AIO_FAILURES,
            _caused(aiohttp.ClientError("tls"), ssl.SSLCertVerificationError("cert")),
            APIConnectionError,
            False,
        ),
        (
            AIO_FAILURES,
            _caused(aiohttp.ClientError("tls"), ssl.SSLEOFError("eof")),
            APIConnectionError,
            True,
        ),
    ],
)
def test_each_failure_becomes_one_error_class(
    kinds: FailureKinds, failure: BaseException, error: type, retryable: bool
) -> None:
    mapped: Optional[TeleflowError] = api_error("POST", URL, failure, kinds)
    assert type(mapped) is error
    assert isinstance(mapped, APIConnectionError)
    assert mapped.retryable is retryable and mapped.url == URL
    assert str(mapped).startswith(f"POST {URL}")


def test_our_own_errors_are_kept_and_anything_else_is_not_a_transport_failure() -> None:
    too_large = ResponseTooLargeError(100)
    assert api_error("POST", URL, too_large) is too_large
    assert too_large.url == URL and str(too_large).startswith(f"POST {URL}")
    closed = TeleflowError("the client is closed")
    assert api_error("POST", URL, closed) is closed
    assert api_error("POST", URL, KeyError("bug")) is None
