"""The one place that sends a request: sessions, headers, timeouts, the retry loop.

Thread safety: each thread gets its own ``requests.Session`` (and so its own keep-alive
pool), created on first use; a session passed in by the caller is shared by every thread,
as requests' connection pool allows. After ``fork()`` the child drops the parent's sessions
(their sockets belong to the parent) and opens its own.
"""

from __future__ import annotations

import json
import logging
import os
import platform
import socket
import threading
import time
import weakref
from typing import Any, Callable, Dict, Mapping, Optional

import requests
from requests.structures import CaseInsensitiveDict

from ._retry import RetryPolicy, server_requested_wait
from ._version import __version__
from .config import ClientConfig
from .errors import (
    APIConnectionError,
    APIError,
    APITimeoutError,
    TeleflowError,
    UnexpectedResponseError,
    error_for_status,
    is_daily_quota,
)
from .response import Response

logger = logging.getLogger("teleflow_py")

REDACTED = "ApiKey ***"
RETRY_COUNT_HEADER = "X-Teleflow-Retry-Count"


def user_agent(telemetry: bool, include_hostname: bool = False) -> str:
    """The ``User-Agent`` value: SDK version, plus Python and OS unless telemetry is off.

    Never raises: a platform call that fails only shortens the string.
    """
    agent = f"teleflow-py/{__version__}"
    if not telemetry:
        return agent
    try:
        details = [
            f"Python {platform.python_version()}",
            f"{platform.system()} {platform.release()}".strip(),
        ]
        if include_hostname:
            details.append(f"host {socket.gethostname()}")
        agent += " (" + "; ".join(d for d in details if d) + ")"
    except Exception:
        pass
    return agent


def parse_body(content: bytes) -> Any:
    """Parsed JSON, the raw text when it is not JSON, or ``None`` when empty.

    JSON is UTF-8 by definition, so no charset guessing (which is slow) is done.
    """
    if not content.strip():
        return None
    try:
        return json.loads(content)
    except (ValueError, RecursionError):
        return content.decode("utf-8", errors="replace")


#: Transport failures that no retry can fix.
_PERMANENT_FAILURES = (
    requests.exceptions.InvalidHeader,
    requests.exceptions.InvalidURL,
    requests.exceptions.InvalidSchema,
    requests.exceptions.MissingSchema,
    requests.exceptions.SSLError,
)


def _reason(exc: BaseException) -> str:
    """A short, key-free description of a transport failure (the key is never in a URL)."""
    text = str(exc) or type(exc).__name__
    return f"{type(exc).__name__}: {text[:300]}"


class _ApiKeyAuth(requests.auth.AuthBase):
    """Sets ``Authorization: ApiKey ...`` on each request.

    Passed as ``auth=``, it wins over ``session.auth`` and ``~/.netrc``, which requests would
    otherwise apply on top of a plain header. Its repr never shows the key.
    """

    def __init__(self, api_key: str) -> None:
        self._value = f"ApiKey {api_key}"

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        request.headers["Authorization"] = self._value
        return request

    def __repr__(self) -> str:
        return "_ApiKeyAuth(***)"


_live_transports: weakref.WeakSet[Transport] = weakref.WeakSet()


def _reset_all_after_fork() -> None:
    for transport in list(_live_transports):
        transport._after_fork()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_reset_all_after_fork)


class Transport:
    """Sends requests for one client and applies the retry policy."""

    def __init__(
        self,
        config: ClientConfig,
        session: Optional[requests.Session] = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._config = config
        self._base_url = config.base_url
        self._timeout = (config.open_timeout, config.timeout)
        self._user_session = session
        self._sleep = sleep
        self._local = threading.local()
        # Weak: a session dies with its thread (the thread-local holds the only strong
        # reference), so a server that starts a thread per request does not pile them up.
        self._sessions: weakref.WeakSet[requests.Session] = weakref.WeakSet()
        self._sessions_lock = threading.Lock()
        self._pid = os.getpid()
        self._closed = False
        self.policy = RetryPolicy(
            max_retries=config.max_retries, max_server_wait=config.max_retry_wait
        )
        headers = {
            "Accept": "application/json",
            "Content-Type": "application/json",
            "User-Agent": user_agent(config.telemetry, config.telemetry_hostname),
        }
        headers.update(config.default_headers)
        self._base_headers = headers
        self._auth = _ApiKeyAuth(config.api_key)
        _live_transports.add(self)

    def __repr__(self) -> str:
        return f"Transport(base_url={self._base_url!r})"

    @property
    def base_url(self) -> str:
        """The API root every path is joined to."""
        return self._base_url

    # -- sessions ---------------------------------------------------------------------

    def session(self) -> requests.Session:
        """The session for the calling thread (or the caller's own session).

        Raises:
            TeleflowError: the client was closed.
        """
        if self._closed:
            raise TeleflowError("the client is closed")
        if self._user_session is not None:
            return self._user_session
        if self._pid != os.getpid():  # fallback when register_at_fork did not run
            self._after_fork()
        session: Optional[requests.Session] = getattr(self._local, "session", None)
        if session is None:
            session = requests.Session()
            with self._sessions_lock:
                if self._closed:
                    session.close()
                    raise TeleflowError("the client is closed")
                self._sessions.add(session)
            self._local.session = session
        return session

    def _after_fork(self) -> None:
        """In a forked child: never use a connection that belongs to the parent.

        The SDK's own sessions are dropped; a caller's session has its pools emptied (closing
        the child's copies of the sockets leaves the parent's connections intact).
        """
        self._local = threading.local()
        self._sessions = weakref.WeakSet()
        self._sessions_lock = threading.Lock()
        self._pid = os.getpid()
        if self._user_session is not None:
            for adapter in self._user_session.adapters.values():
                adapter.close()

    def close(self) -> None:
        """Close the sessions this transport opened (never the caller's own session)."""
        with self._sessions_lock:
            self._closed = True
            sessions = list(self._sessions)
            self._sessions = weakref.WeakSet()
        for session in sessions:
            session.close()
        self._local = threading.local()

    # -- sending ----------------------------------------------------------------------

    def headers_for(
        self, idempotency_key: Optional[str], idempotency_header: str = "Idempotency-Key"
    ) -> Dict[str, str]:
        """The request headers of one call (a fresh dict the caller may extend)."""
        headers = dict(self._base_headers)
        if idempotency_key is not None:
            headers[idempotency_header] = idempotency_key
        return headers

    def send_once(
        self, method: str, path: str, body: Optional[bytes], headers: Mapping[str, str]
    ) -> requests.Response:
        """One attempt, no retry.

        Raises:
            APITimeoutError: the connect or read timeout expired.
            APIConnectionError: no answer; ``retryable`` is false for failures a repeat
                cannot fix (an invalid URL or header, a TLS certificate that fails to verify).
        """
        url = self._base_url + path
        try:
            return self.session().request(
                method,
                url,
                data=body,
                headers=headers,
                auth=self._auth,
                timeout=self._timeout,
                allow_redirects=False,
            )
        except requests.Timeout as exc:
            raise APITimeoutError(f"{method} {url} timed out: {_reason(exc)}", url=url) from exc
        except _PERMANENT_FAILURES as exc:
            raise APIConnectionError(
                f"{method} {url} cannot succeed: {_reason(exc)}", url=url, retryable=False
            ) from exc
        except requests.RequestException as exc:
            raise APIConnectionError(f"{method} {url} failed: {_reason(exc)}", url=url) from exc

    def request(
        self,
        method: str,
        path: str,
        *,
        body: Optional[bytes] = None,
        idempotency_key: Optional[str] = None,
        policy: Optional[RetryPolicy] = None,
    ) -> Response:
        """Send with retries and return the 2xx :class:`Response`.

        The same headers, idempotency key included, go out on every attempt.

        Raises:
            APIError: the server answered an error status (after retries, where retryable).
            APIConnectionError: no answer after retries (``APITimeoutError`` for timeouts).
        """
        policy = policy or self.policy
        headers = self.headers_for(idempotency_key)
        body_text = body.decode("utf-8") if body is not None else None
        url = self._base_url + path
        started = time.monotonic()
        retries = 0
        debug = logger.isEnabledFor(logging.DEBUG)
        while True:
            headers[RETRY_COUNT_HEADER] = str(retries)
            if debug:
                logger.debug(
                    "%s %s attempt %d headers=%s",
                    method,
                    url,
                    retries + 1,
                    self._request_headers_view(headers),
                )
            status: Optional[int] = None
            error: TeleflowError
            answer_headers: Mapping[str, str] = {}
            daily = False
            try:
                raw = self.send_once(method, path, body, headers)
            except APIConnectionError as exc:
                exc.retry_count = retries
                if not exc.retryable:
                    raise
                error = exc
            else:
                status = raw.status_code
                answer_headers = CaseInsensitiveDict(raw.headers)
                response = Response(
                    status=status,
                    headers=answer_headers,
                    body=parse_body(raw.content),
                    url=url,
                    method=method,
                    request_headers=self._request_headers_view(headers),
                    request_body=body_text,
                    retry_count=retries,
                    time_spent_in_ms=(time.monotonic() - started) * 1000.0,
                )
                if 200 <= status < 300:
                    if debug:
                        logger.debug("%s %s -> %d", method, url, status)
                    return response
                daily = status == 429 and is_daily_quota(response.body)
                error = error_for_status(
                    status,
                    response.body,
                    answer_headers,
                    response=response,
                    retry_count=retries,
                    retry_after=server_requested_wait(answer_headers),
                )
            decision = policy.decide(
                retries, status=status, headers=answer_headers, daily_quota=daily
            )
            if not decision.retry:
                if decision.reason == "wait_too_long":
                    logger.warning(
                        "%s %s: server asked to wait %.0fs (cap %.0fs); not retrying",
                        method,
                        url,
                        decision.wait,
                        policy.max_server_wait,
                    )
                raise error
            retries += 1
            logger.debug(
                "%s %s failed (%s); retry %d of %d in %.3fs with the same idempotency key",
                method,
                url,
                status if status is not None else type(error).__name__,
                retries,
                policy.max_retries,
                decision.wait,
            )
            self._sleep(decision.wait)

    def _request_headers_view(self, headers: Dict[str, str]) -> Dict[str, str]:
        """What was sent, as shown on a Response or in a log line: the key redacted."""
        view = dict(headers)
        view["Authorization"] = REDACTED
        return view


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
