"""The one place that sends a request: headers, timeouts, the retry loop, the Response.

How the bytes travel (a pooled connection, or the caller's session) and what happens over
``fork()`` is :mod:`teleflow_py._connection`'s business.
"""

from __future__ import annotations

import os
import time
import weakref
from typing import Any, Callable, Dict, Mapping, Optional, Union

import requests

from ._attempts import Attempts, base_headers, request_headers
from ._connection import Answer, Connection, Limits, Timeouts
from ._deadline import Deadline, SharedPause
from ._retry import RetryPolicy
from .config import ClientConfig
from .errors import APIConnectionError, APIError, UnexpectedResponseError
from .response import Response

_live_transports: weakref.WeakSet[Transport] = weakref.WeakSet()


def _reset_all_after_fork() -> None:
    for transport in list(_live_transports):
        transport._connection.after_fork()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_reset_all_after_fork)


class Transport:
    """Sends requests for one client and applies the retry policy."""

    def __init__(
        self,
        config: ClientConfig,
        session: Optional[requests.Session] = None,
        sleep: Callable[[float], None] = time.sleep,
        *,
        connection: Optional[Connection] = None,
    ) -> None:
        self._config = config
        self._base_url = config.base_url
        self._timeouts = Timeouts(
            connect=config.open_timeout, read=config.timeout, write=config.write_timeout
        )
        self._connection = connection or Connection(config.base_url, config.credential, session)
        self._sleep = sleep
        self.policy = RetryPolicy(
            max_retries=config.max_retries, max_server_wait=config.max_retry_wait
        )
        self._base_headers = base_headers(config)
        _live_transports.add(self)

    def with_config(self, config: ClientConfig) -> Transport:
        """A transport with other settings on the same connections (``with_options``)."""
        return Transport(config, sleep=self._sleep, connection=self._connection)

    @property
    def config(self) -> ClientConfig:
        """The settings this transport sends with."""
        return self._config

    def deadline(self) -> Deadline:
        """A deadline for one call, starting now (``deadline`` of the settings)."""
        return Deadline(self._config.deadline)

    def limits(self, deadline: Deadline) -> Limits:
        """The limits of one attempt made before ``deadline``."""
        return Limits(self._timeouts, deadline, self._config.max_response_bytes)

    def __repr__(self) -> str:
        return f"Transport(base_url={self._base_url!r})"

    @property
    def base_url(self) -> str:
        """The API root every path is joined to."""
        return self._base_url

    def close(self) -> None:
        """Close the connections this transport opened (never the caller's own session)."""
        self._connection.close()

    # -- sending ----------------------------------------------------------------------

    def headers_for(
        self, idempotency_key: Optional[str], idempotency_header: str = "Idempotency-Key"
    ) -> Dict[str, str]:
        """The request headers of one call (a fresh dict the caller may extend)."""
        return request_headers(self._base_headers, idempotency_key, idempotency_header)

    def send_once(
        self,
        method: str,
        path: str,
        body: Optional[bytes],
        headers: Mapping[str, str],
        deadline: Optional[Deadline] = None,
    ) -> Answer:
        """One attempt, no retry, before ``deadline`` (default: a fresh one of the settings).

        See :meth:`Connection.send` for what it raises.
        """
        limits = self.limits(deadline or self.deadline())
        return self._connection.send(method, path, body, headers, limits)

    def request(
        self,
        method: str,
        path: str,
        *,
        body: Optional[bytes] = None,
        idempotency_key: Optional[str] = None,
        policy: Optional[RetryPolicy] = None,
        pause: Optional[SharedPause] = None,
    ) -> Response:
        """Send with retries within the call's deadline and return the 2xx :class:`Response`.

        The same headers, idempotency key included, go out on every attempt. A wait
        (backoff or the server's ``Retry-After``) that the deadline cannot fit ends the call
        at once with the last error. ``pause``, shared by the requests of one bulk call,
        makes every one of them wait out a 429's ``Retry-After`` (or a spent rate-limit
        window, up to ``max_retry_wait``); a request waits out a pause set before it
        starts, then gets its own deadline.

        Args:
            method: the HTTP method.
            path: the path under the base URL.
            body: the encoded JSON body, if any.
            idempotency_key: sent as ``Idempotency-Key`` on every attempt.
            policy: the retry policy (default: the client's).
            pause: a pause shared by the requests of one bulk call.

        Raises:
            APIError: the server answered an error status (after retries, where retryable).
            APIConnectionError: no answer after retries (``APITimeoutError`` for timeouts
                and for the deadline).
        """
        if pause is not None:
            # A wait for the whole bulk call, taken before this request's deadline starts.
            wait = pause.remaining()
            if wait > 0:
                self._sleep(wait)
        deadline = self.deadline()
        attempts = Attempts(
            method,
            self._base_url + path,
            body,
            self.headers_for(idempotency_key),
            policy or self.policy,
            deadline,
            pause,
        )
        while True:
            outcome: Union[Response, float]
            try:
                wait = attempts.pause_before_attempt()
                if wait > 0:
                    self._sleep(wait)
                raw = self.send_once(method, path, body, attempts.headers, deadline)
            except APIConnectionError as exc:
                outcome = attempts.failed(exc)
            else:
                outcome = attempts.answered(raw.status_code, raw.headers, raw.content)
            if isinstance(outcome, Response):
                return outcome
            if outcome > 0:
                self._sleep(outcome)


def raise_for_body_shape(response: Response, expected: str) -> None:
    """Raise :class:`~teleflow_py.errors.UnexpectedResponseError` for a malformed 2xx."""
    error: APIError = UnexpectedResponseError(
        response.status,
        response.body,
        response.headers,
        response=response,
        retry_count=response.retry_count,
    )
    error.args = (f"HTTP {response.status}: expected {expected}, got {_shape(response.body)}",)
    raise error


def _shape(body: Any) -> str:
    if body is None:
        return "an empty body"
    if isinstance(body, str):
        return "a non-JSON body"
    return f"JSON {type(body).__name__}"
