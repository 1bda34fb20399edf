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
from typing import Any, Callable, Dict, List, Mapping, Optional

import requests

from ._retry import RetryPolicy, server_requested_wait
from ._version import __version__
from .config import ClientConfig
from .errors import (
    APIConnectionError,
    APIError,
    APITimeoutError,
    TeleflowError,
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


def redact(headers: Mapping[str, str]) -> Dict[str, str]:
    """A copy of ``headers`` with the Authorization value replaced."""
    return {
        name: (REDACTED if name.lower() == "authorization" else value)
        for name, value in headers.items()
    }


def parse_body(content: bytes) -> Any:
    """Parsed JSON, the raw text when it is not JSON, or ``None`` when empty.

    JSON is UTF-8 by definition, so no charset guessing (which is slow) is done.
    """
    if not content.strip():
        return None
    try:
        return json.loads(content)
    except ValueError:
        return content.decode("utf-8", errors="replace")


_live_transports: weakref.WeakSet[Transport] = weakref.WeakSet()


def _reset_all_after_fork() -> None:
    for transport in list(_live_transports):
        transport._forget_sessions()


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
        self._sessions: List[requests.Session] = []
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
        headers["Authorization"] = f"ApiKey {config.api_key}"
        self._base_headers = headers
        self._redacted_base = redact(headers)
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
            self._forget_sessions()
        session: Optional[requests.Session] = getattr(self._local, "session", None)
        if session is None:
            session = requests.Session()
            self._local.session = session
            with self._sessions_lock:
                self._sessions.append(session)
        return session

    def _forget_sessions(self) -> None:
        """Drop sessions inherited over fork without closing the parent's sockets."""
        self._local = threading.local()
        self._sessions = []
        self._sessions_lock = threading.Lock()
        self._pid = os.getpid()

    def close(self) -> None:
        """Close the sessions this transport opened (never the caller's own session)."""
        self._closed = True
        with self._sessions_lock:
            sessions, self._sessions = self._sessions, []
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
        """One attempt, no retry. Transport failures become :class:`APIConnectionError`."""
        url = self._base_url + path
        try:
            return self.session().request(
                method,
                url,
                data=body,
                headers=headers,
                timeout=self._timeout,
                allow_redirects=False,
            )
        except requests.Timeout as exc:
            raise APITimeoutError(
                f"{method} {url} timed out: {type(exc).__name__}", url=url
            ) from exc
        except requests.RequestException as exc:
            raise APIConnectionError(
                f"{method} {url} failed: {type(exc).__name__}", url=url
            ) from exc

    def request(
        self,
        method: str,
        path: str,
        *,
        body: Optional[str] = None,
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
        payload = body.encode("utf-8") if body is not None else None
        url = self._base_url + path
        started = time.monotonic()
        retries = 0
        debug = logger.isEnabledFor(logging.DEBUG)
        while True:
            headers[RETRY_COUNT_HEADER] = str(retries)
            if debug:
                logger.debug(
                    "%s %s attempt %d headers=%s", method, url, retries + 1, redact(headers)
                )
            status: Optional[int] = None
            error: TeleflowError
            answer_headers: Dict[str, str] = {}
            daily = False
            try:
                raw = self.send_once(method, path, payload, headers)
            except APIConnectionError as exc:
                exc.retry_count = retries
                error = exc
            else:
                status = raw.status_code
                answer_headers = dict(raw.headers)
                response = Response(
                    status=status,
                    headers=answer_headers,
                    body=parse_body(raw.content),
                    url=url,
                    method=method,
                    request_headers=self._request_headers_view(headers),
                    request_body=body,
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
        view = dict(self._redacted_base)
        for name, value in headers.items():
            if name not in view:
                view[name] = value
        view[RETRY_COUNT_HEADER] = headers[RETRY_COUNT_HEADER]
        return view


def raise_for_body_shape(response: Response, expected: str) -> None:
    """Raise :class:`~teleflow_py.errors.UnexpectedResponseError` for a malformed 2xx."""
    from .errors import UnexpectedResponseError

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
