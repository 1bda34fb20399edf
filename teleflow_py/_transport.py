"""The one place that sends a request: headers, timeouts, the retry loop, the Response.

How the bytes travel (a pooled connection, or the caller's session) and what happens over
``fork()`` is :mod:`teleflow_py._connection`'s business.
"""

from __future__ import annotations

import json
import logging
import os
import platform
import socket
import time
import weakref
from typing import Any, Callable, Dict, Mapping, Optional

import requests
from requests.structures import CaseInsensitiveDict

from ._connection import Answer, Connection, Limits, Timeouts
from ._deadline import Deadline, SharedPause
from ._retry import RetryPolicy, server_requested_wait
from ._version import __version__
from .config import ClientConfig
from .errors import (
    APIConnectionError,
    APIError,
    APITimeoutError,
    DailyQuotaIsReachedError,
    TeleflowError,
    UnexpectedResponseError,
    error_for_status,
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
        headers = {
            "Accept": "application/json",
            "Content-Type": "application/json",
            "User-Agent": user_agent(config.telemetry, config.telemetry_hostname),
        }
        headers.update(config.default_headers)
        self._base_headers = headers
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
        headers = dict(self._base_headers)
        if idempotency_key is not None:
            headers[idempotency_header] = idempotency_key
        return headers

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
        policy = policy or self.policy
        if pause is not None:
            # A wait for the whole bulk call, taken before this request's deadline starts.
            wait = pause.remaining()
            if wait > 0:
                self._sleep(wait)
        deadline = self.deadline()
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
                if pause is not None:
                    self._wait_out(pause, deadline, method, url)
                raw = self.send_once(method, path, body, headers, deadline)
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
                    if pause is not None and _quota_spent(answer_headers):
                        # The window's last request: the others wait for its reset.
                        reset = server_requested_wait(answer_headers) or 0.0
                        pause.hold(min(reset, policy.max_server_wait))
                    if debug:
                        logger.debug("%s %s -> %d", method, url, status)
                    return response
                error = error_for_status(
                    status, response.body, answer_headers, response=response, retry_count=retries
                )
                daily = isinstance(error, DailyQuotaIsReachedError)
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
            if not deadline.allows(decision.wait):
                logger.warning(
                    "%s %s: the next attempt would start in %.1fs, after %s; not retrying",
                    method,
                    url,
                    decision.wait,
                    deadline.describe(),
                )
                if isinstance(error, APITimeoutError):
                    error.args = (f"{error} ({deadline.describe()} leaves no time to retry)",)
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
            if pause is not None and status == 429:
                # Every request of the call waits this out, this one at the top of the loop.
                pause.hold(decision.wait)
            else:
                self._sleep(decision.wait)

    def _wait_out(self, pause: SharedPause, deadline: Deadline, method: str, url: str) -> None:
        """Sleep until ``pause`` is over, or raise when the deadline would pass first."""
        wait = pause.remaining()
        if wait <= 0:
            return
        if not deadline.allows(wait):
            raise APITimeoutError(
                f"{method} {url}: the server asked every request of this call to wait "
                f"{wait:.1f}s, past {deadline.describe()}",
                url=url,
                retryable=False,
            )
        self._sleep(wait)

    def _request_headers_view(self, headers: Dict[str, str]) -> Dict[str, str]:
        """What was sent, as shown on a Response or in a log line: the key redacted."""
        view = dict(headers)
        view["Authorization"] = REDACTED
        return view


def _quota_spent(headers: Mapping[str, str]) -> bool:
    """Whether a 2xx answer says no request is left in the rate-limit window."""
    remaining = headers.get("RateLimit-Remaining")
    return remaining is not None and remaining.strip() == "0"


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
