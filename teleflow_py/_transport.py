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

from ._connection import Answer, Connection, Timeouts
from ._retry import RetryPolicy
from ._version import __version__
from .config import ClientConfig
from .errors import (
    APIConnectionError,
    APIError,
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
    ) -> None:
        self._config = config
        self._base_url = config.base_url
        timeouts = Timeouts(
            connect=config.open_timeout, read=config.timeout, write=config.write_timeout
        )
        self._connection = Connection(config.base_url, config.api_key, timeouts, session)
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
        self, method: str, path: str, body: Optional[bytes], headers: Mapping[str, str]
    ) -> Answer:
        """One attempt, no retry (see :meth:`Connection.send` for what it raises)."""
        return self._connection.send(method, path, body, headers)

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
