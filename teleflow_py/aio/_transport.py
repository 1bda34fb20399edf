"""The async client's one place that sends: awaited I/O, driven by the shared retry loop.

Everything but the I/O comes from the sync side: the headers (:func:`base_headers`), the
retry loop with its deadline and shared pause (:class:`~teleflow_py._attempts.Attempts`:
one idempotency key for every attempt, ``X-Teleflow-Retry-Count``, the same
:class:`~teleflow_py.response.Response`, the same error classes from the same mapping, the
same waits), the policy (:mod:`teleflow_py._retry`), the per-attempt limits and the read
budget. What differs: the bytes go through :mod:`teleflow_py.aio._routes` and a wait is
``asyncio.sleep``.
"""

from __future__ import annotations

import asyncio
import socket
import ssl
from typing import Any, Awaitable, Callable, Dict, Optional, Union

import httpx

from .._attempts import Attempts, base_headers, request_headers
from .._connection import Answer, Limits, Timeouts, _reason, environment_route
from .._deadline import Deadline, SharedPause
from .._retry import RetryPolicy
from ..config import ClientConfig
from ..errors import APIConnectionError, APITimeoutError, ResponseTooLargeError, TeleflowError
from ..response import Response
from ._routes import DirectRoute, ProtocolError, ProxyRoute, Route

#: Before Python 3.11 asyncio's TimeoutError is not the built-in one (an OSError).
_TIMEOUTS = (asyncio.TimeoutError, socket.timeout, httpx.TimeoutException)


def _ssl_cause(exc: BaseException) -> Optional[ssl.SSLError]:
    seen: Optional[BaseException] = exc
    while seen is not None:
        if isinstance(seen, ssl.SSLError):
            return seen
        seen = seen.__cause__ or seen.__context__
    return None


def connection_error(method: str, url: str, exc: BaseException) -> APIConnectionError:
    """The error the sync client raises for the same failure.

    Timeouts (of an operation, or the deadline) are :class:`APITimeoutError`; a TLS
    failure other than an abrupt end, or a request we cannot send, is not retryable.
    """
    if isinstance(exc, _TIMEOUTS):
        return APITimeoutError(f"{method} {url} timed out: {_reason(exc)}", url=url)
    tls = _ssl_cause(exc)
    if tls is not None:
        return APIConnectionError(
            f"{method} {url} failed in TLS: {_reason(tls)}",
            url=url,
            retryable=isinstance(tls, (ssl.SSLEOFError, ssl.SSLZeroReturnError)),
        )
    if isinstance(
        exc, (httpx.UnsupportedProtocol, httpx.LocalProtocolError, httpx.InvalidURL, ValueError)
    ):
        # A request that cannot be sent as it is (a header value that will not encode).
        return APIConnectionError(
            f"{method} {url} cannot succeed: {_reason(exc)}", url=url, retryable=False
        )
    return APIConnectionError(f"{method} {url} failed: {_reason(exc)}", url=url)


class AsyncTransport:
    """Sends the async client's Events API requests and applies the retry policy."""

    def __init__(
        self,
        config: ClientConfig,
        sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep,
        *,
        route: Optional[Route] = None,
    ) -> None:
        self._config = config
        self._base_url = config.base_url
        self._base_headers = base_headers(config)
        self._timeouts = Timeouts(
            connect=config.open_timeout, read=config.timeout, write=config.write_timeout
        )
        self._sleep = sleep
        self.policy = RetryPolicy(
            max_retries=config.max_retries, max_server_wait=config.max_retry_wait
        )
        self._route = route
        self._closed = False

    def with_config(self, config: ClientConfig) -> AsyncTransport:
        """A transport with other settings on the same connections (``with_options``)."""
        return AsyncTransport(config, self._sleep, route=self._open())

    def __repr__(self) -> str:
        return f"AsyncTransport(base_url={self._base_url!r})"

    def _open(self) -> Route:
        if self._route is None:
            try:
                proxied, tls = environment_route(self._base_url)
            except Exception as exc:
                # For example REQUESTS_CA_BUNDLE naming a missing or broken file.
                raise APIConnectionError(
                    f"cannot connect to {self._base_url}: {_reason(exc)}",
                    url=self._base_url,
                    retryable=False,
                ) from exc
            credential = self._config.credential
            if proxied:
                self._route = ProxyRoute(self._base_url, credential)
            else:
                self._route = DirectRoute(self._base_url, credential, tls)
        return self._route

    async def close(self) -> None:
        """Close the connections of this transport. Idempotent."""
        self._closed = True
        if self._route is not None:
            await self._route.close()

    async def send_once(
        self,
        method: str,
        path: str,
        body: Optional[bytes],
        headers: Dict[str, str],
        deadline: Deadline,
    ) -> Answer:
        """One attempt, no retry, before ``deadline``.

        Raises:
            TeleflowError: the client was closed.
            APITimeoutError: the connect, write or read timeout, or the deadline, expired.
            ResponseTooLargeError: the answer is longer than ``max_response_bytes``.
            APIConnectionError: no answer; ``retryable`` is false for failures a repeat
                cannot fix (a TLS certificate that fails to verify, a request httpx refuses).
        """
        route = self._open()
        if self._closed or route.closed:
            raise TeleflowError("the client is closed")
        limits = Limits(self._timeouts, deadline, self._config.max_response_bytes)
        try:
            return await route.send(method, path, body, headers, limits)
        except ResponseTooLargeError as exc:
            exc.url = self._base_url + path
            raise
        except (
            *_TIMEOUTS,
            OSError,
            ProtocolError,
            httpx.HTTPError,
            httpx.InvalidURL,
            ValueError,
        ) as exc:
            raise connection_error(method, self._base_url + path, exc) from exc

    async def request(
        self,
        method: str,
        path: str,
        *,
        body: Optional[bytes] = None,
        idempotency_key: Optional[str] = None,
        pause: Optional[SharedPause] = None,
    ) -> Response:
        """Send with retries within the call's deadline; the 2xx :class:`Response`.

        Raises:
            APIError: the server answered an error status (after retries, where retryable).
            APIConnectionError: no answer after retries (``APITimeoutError`` for timeouts
                and for the deadline).
        """
        if pause is not None:
            # A wait for the whole bulk call, taken before this request's deadline starts.
            wait = pause.remaining()
            if wait > 0:
                await self._sleep(wait)
        deadline = Deadline(self._config.deadline)
        attempts = Attempts(
            method,
            self._base_url + path,
            body,
            request_headers(self._base_headers, idempotency_key),
            self.policy,
            deadline,
            pause,
        )
        while True:
            outcome: Union[Response, float]
            try:
                wait = attempts.pause_before_attempt()
                if wait > 0:
                    await self._sleep(wait)
                raw = await self.send_once(method, path, body, attempts.headers, deadline)
            except APIConnectionError as exc:
                outcome = attempts.failed(exc)
            else:
                outcome = attempts.answered(raw.status_code, raw.headers, raw.content)
            if isinstance(outcome, Response):
                return outcome
            if outcome > 0:
                await self._sleep(outcome)
