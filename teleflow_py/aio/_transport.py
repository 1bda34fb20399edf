"""The async client's one place that sends: httpx, awaited, driven by the shared retry loop.

Everything but the I/O comes from the sync side: the headers (:func:`base_headers`), the
retry loop (:class:`~teleflow_py._attempts.Attempts`: one idempotency key for every attempt,
``X-Teleflow-Retry-Count``, the same :class:`~teleflow_py.response.Response`, the same error
classes from the same mapping, the same waits), and the policy (:mod:`teleflow_py._retry`).
What differs: the bytes go through ``httpx.AsyncClient`` and a wait is ``asyncio.sleep``.

httpx honours ``HTTP(S)_PROXY``/``NO_PROXY`` and ``SSL_CERT_FILE``/``SSL_CERT_DIR``
(certifi's bundle otherwise); ``REQUESTS_CA_BUNDLE`` is a requests setting and does not
apply here.
"""

from __future__ import annotations

import asyncio
import ssl
from typing import Any, Awaitable, Callable, Generator, Mapping, Optional, Union

import httpx

from .._attempts import Attempts, base_headers, request_headers
from .._connection import POOL_SIZE, Answer, _reason
from .._retry import RetryPolicy
from ..config import ClientConfig
from ..errors import APIConnectionError, APITimeoutError, TeleflowError
from ..response import Response

#: Connections one async client opens at most; more concurrent calls wait for one.
MAX_CONNECTIONS = 100


class _ApiKeyAuth(httpx.Auth):
    """Sets ``Authorization: ApiKey ...`` on each request; its repr never shows the key."""

    def __init__(self, api_key: str) -> None:
        self._value = f"ApiKey {api_key}"

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        request.headers["Authorization"] = self._value
        yield request

    def __repr__(self) -> str:
        return "_ApiKeyAuth(***)"


def _ssl_cause(exc: BaseException) -> Optional[ssl.SSLError]:
    seen = exc.__cause__ or exc.__context__
    while seen is not None:
        if isinstance(seen, ssl.SSLError):
            return seen
        seen = seen.__cause__ or seen.__context__
    return None


def connection_error(method: str, url: str, exc: Exception) -> APIConnectionError:
    """The error the sync client raises for the same failure, built from an httpx one."""
    if isinstance(exc, httpx.TimeoutException):
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
        # Our request is at fault (a header httpx will not send, a bad URL): a repeat fails too.
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
    ) -> None:
        self._config = config
        self._base_url = config.base_url
        self._base_headers = base_headers(config)
        self._auth = _ApiKeyAuth(config.api_key)
        self._sleep = sleep
        self.policy = RetryPolicy(
            max_retries=config.max_retries, max_server_wait=config.max_retry_wait
        )
        self._http: Optional[httpx.AsyncClient] = None
        self._loop: Optional[asyncio.AbstractEventLoop] = None
        self._closed = False

    def __repr__(self) -> str:
        return f"AsyncTransport(base_url={self._base_url!r})"

    def _client(self) -> httpx.AsyncClient:
        """The httpx client of the running event loop.

        Connections belong to the loop that opened them; a client used from a new loop
        (``asyncio.run`` called twice) starts new ones instead of failing on the old.
        """
        loop = asyncio.get_running_loop()
        if self._http is None or self._loop is not loop:
            config = self._config
            self._http = httpx.AsyncClient(
                base_url=self._base_url,
                timeout=httpx.Timeout(
                    connect=config.open_timeout,
                    read=config.timeout,
                    write=config.write_timeout,
                    pool=None,
                ),
                limits=httpx.Limits(
                    max_connections=MAX_CONNECTIONS, max_keepalive_connections=POOL_SIZE
                ),
                follow_redirects=False,
            )
            self._loop = loop
        return self._http

    async def close(self) -> None:
        """Close the connections of this transport. Idempotent."""
        self._closed = True
        http, self._http = self._http, None
        if http is not None:
            await http.aclose()

    async def send_once(
        self, method: str, path: str, body: Optional[bytes], headers: Mapping[str, str]
    ) -> Answer:
        """One attempt, no retry.

        Raises:
            TeleflowError: the client was closed.
            APITimeoutError: the connect, write or read timeout expired.
            APIConnectionError: no answer; ``retryable`` is false for failures a repeat
                cannot fix (an invalid header, a TLS certificate that fails to verify).
        """
        if self._closed:
            raise TeleflowError("the client is closed")
        try:
            answer = await self._client().request(
                method, path, content=body, headers=headers, auth=self._auth
            )
        except (httpx.HTTPError, httpx.InvalidURL, ValueError) as exc:
            raise connection_error(method, self._base_url + path, exc) from exc
        return Answer(answer.status_code, answer.headers, answer.content)

    async def request(
        self,
        method: str,
        path: str,
        *,
        body: Optional[bytes] = None,
        idempotency_key: Optional[str] = None,
    ) -> Response:
        """Send with retries and return the 2xx :class:`Response` (as the sync transport).

        Raises:
            APIError: the server answered an error status (after retries, where retryable).
            APIConnectionError: no answer after retries (``APITimeoutError`` for timeouts).
        """
        attempts = Attempts(
            method,
            self._base_url + path,
            body,
            request_headers(self._base_headers, idempotency_key),
            self.policy,
        )
        while True:
            outcome: Union[Response, float]
            try:
                raw = await self.send_once(method, path, body, attempts.headers)
            except APIConnectionError as exc:
                outcome = attempts.failed(exc)
            else:
                outcome = attempts.answered(raw.status_code, raw.headers, raw.content)
            if isinstance(outcome, Response):
                return outcome
            await self._sleep(outcome)
