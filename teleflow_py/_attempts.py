"""The retry loop of one request, without I/O: what to send, what an outcome means.

:class:`Attempts` is driven by a transport: the sync one (``Transport.request``) sends and
sleeps with the standard library, the async one (``teleflow_py.aio``) awaits. Both ask this
module the same questions, so the headers of every attempt (one idempotency key, minted by
the caller before the loop; ``X-Teleflow-Retry-Count``), the :class:`Response`, the error
class and the wait before a retry cannot differ between them.
"""

from __future__ import annotations

import json
import logging
import platform
import socket
import time
from typing import Any, Dict, Mapping, NamedTuple, Optional, Union

from requests.structures import CaseInsensitiveDict

from ._deadline import Deadline, SharedPause
from ._retry import RetryPolicy, server_requested_wait
from ._version import __version__
from .config import ClientConfig
from .errors import (
    APIConnectionError,
    APITimeoutError,
    DailyQuotaIsReachedError,
    TeleflowError,
    error_for_status,
)
from .response import Response

logger = logging.getLogger("teleflow_py")

REDACTED = "ApiKey ***"
RETRY_COUNT_HEADER = "X-Teleflow-Retry-Count"


class RetryNote(NamedTuple):
    """What a retry log record carries for handlers (the ``teleflow_retry`` extra field)."""

    method: str
    url: str
    failure: str
    retry: int
    max_retries: int
    wait: float


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


def base_headers(config: ClientConfig) -> Dict[str, str]:
    """The headers of every Events API request of a client (the key is added by the route)."""
    headers = {
        "Accept": "application/json",
        "Content-Type": "application/json",
        "User-Agent": user_agent(config.telemetry, config.telemetry_hostname),
    }
    headers.update(config.default_headers)
    return headers


def request_headers(
    base: Mapping[str, str],
    idempotency_key: Optional[str],
    idempotency_header: str = "Idempotency-Key",
) -> Dict[str, str]:
    """The headers of one call: a fresh copy of ``base`` plus its idempotency key, if any."""
    headers = dict(base)
    if idempotency_key is not None:
        headers[idempotency_header] = idempotency_key
    return headers


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


def redacted(headers: Mapping[str, str]) -> Dict[str, str]:
    """What was sent, as shown on a Response or in a log line: the key redacted."""
    view = dict(headers)
    view["Authorization"] = REDACTED
    return view


class Attempts:
    """The state of one call: its headers, retries so far, and what each outcome means.

    Per attempt the transport first sleeps :meth:`pause_before_attempt` seconds, sends
    :attr:`headers` within ``deadline``, then reports what happened with :meth:`answered`
    or :meth:`failed`; each returns the :class:`Response` (done), or the seconds to wait
    before the next attempt, or raises the error that ends the call. A wait that
    ``deadline`` cannot fit ends the call at once with the last error. ``pause``, shared by
    the requests of one bulk call, makes every one of them wait out a 429's
    ``Retry-After`` (and a spent rate-limit window).
    """

    def __init__(
        self,
        method: str,
        url: str,
        body: Optional[bytes],
        headers: Dict[str, str],
        policy: RetryPolicy,
        deadline: Deadline,
        pause: Optional[SharedPause] = None,
    ) -> None:
        self.method = method
        self.url = url
        self._body_text = body.decode("utf-8") if body is not None else None
        self._policy = policy
        self._deadline = deadline
        self._pause = pause
        self.retries = 0
        self._started = time.monotonic()
        self._debug = logger.isEnabledFor(logging.DEBUG)
        self.headers = headers
        self._next_attempt()

    def _next_attempt(self) -> None:
        self.headers[RETRY_COUNT_HEADER] = str(self.retries)
        if self._debug:
            logger.debug(
                "%s %s attempt %d headers=%s",
                self.method,
                self.url,
                self.retries + 1,
                redacted(self.headers),
            )

    def pause_before_attempt(self) -> float:
        """Seconds to sleep before the next attempt because of the call's shared pause.

        Raises:
            APITimeoutError: the pause ends after the deadline (not retryable).
        """
        if self._pause is None:
            return 0.0
        wait = self._pause.remaining()
        if wait > 0 and not self._deadline.allows(wait):
            raise APITimeoutError(
                f"{self.method} {self.url}: the server asked every request of this call to "
                f"wait {wait:.1f}s, past {self._deadline.describe()}",
                url=self.url,
                retryable=False,
            )
        return wait

    def answered(
        self, status: int, headers: Mapping[str, str], content: bytes
    ) -> Union[Response, float]:
        """The server answered: the 2xx :class:`Response`, or the wait before a retry.

        Raises:
            APIError: the error status ends the call (not retryable, or retries spent).
        """
        answer_headers: Mapping[str, str] = CaseInsensitiveDict(headers)
        response = Response(
            status=status,
            headers=answer_headers,
            body=parse_body(content),
            url=self.url,
            method=self.method,
            request_headers=redacted(self.headers),
            request_body=self._body_text,
            retry_count=self.retries,
            time_spent_in_ms=(time.monotonic() - self._started) * 1000.0,
        )
        if 200 <= status < 300:
            if self._pause is not None and _quota_spent(answer_headers):
                # The window's last request: the others wait for its reset.
                reset = server_requested_wait(answer_headers) or 0.0
                self._pause.hold(min(reset, self._policy.max_server_wait))
            if self._debug:
                logger.debug("%s %s -> %d", self.method, self.url, status)
            return response
        error = error_for_status(
            status, response.body, answer_headers, response=response, retry_count=self.retries
        )
        return self._after(
            error, status, answer_headers, daily=isinstance(error, DailyQuotaIsReachedError)
        )

    def failed(self, error: APIConnectionError) -> float:
        """No answer: the wait before a retry.

        Raises:
            APIConnectionError: ``error`` itself, when it is not retryable or retries are spent.
        """
        error.retry_count = self.retries
        if not error.retryable:
            raise error
        return self._after(error, None, {}, daily=False)

    def _after(
        self,
        error: TeleflowError,
        status: Optional[int],
        headers: Mapping[str, str],
        *,
        daily: bool,
    ) -> float:
        policy = self._policy
        decision = policy.decide(self.retries, status=status, headers=headers, daily_quota=daily)
        if not decision.retry:
            if decision.reason == "wait_too_long":
                logger.warning(
                    "%s %s: server asked to wait %.0fs (cap %.0fs); not retrying",
                    self.method,
                    self.url,
                    decision.wait,
                    policy.max_server_wait,
                )
            raise error
        if not self._deadline.allows(decision.wait):
            logger.warning(
                "%s %s: the next attempt would start in %.1fs, after %s; not retrying",
                self.method,
                self.url,
                decision.wait,
                self._deadline.describe(),
            )
            if isinstance(error, APITimeoutError):
                error.args = (f"{error} ({self._deadline.describe()} leaves no time to retry)",)
            raise error
        self.retries += 1
        logger.debug(
            "%s %s failed (%s); retry %d of %d in %.3fs with the same idempotency key",
            self.method,
            self.url,
            status if status is not None else type(error).__name__,
            self.retries,
            policy.max_retries,
            decision.wait,
            # Read by the CLI's retry line: the log filter formats the message and drops args.
            extra={
                "teleflow_retry": RetryNote(
                    self.method,
                    self.url,
                    str(status) if status is not None else type(error).__name__,
                    self.retries,
                    policy.max_retries,
                    decision.wait,
                )
            },
        )
        self._next_attempt()
        if self._pause is not None and status == 429:
            # Every request of the call waits this out, this one before its next attempt.
            self._pause.hold(decision.wait)
            return 0.0
        return decision.wait


def _quota_spent(headers: Mapping[str, str]) -> bool:
    """Whether a 2xx answer says no request is left in the rate-limit window."""
    remaining = headers.get("RateLimit-Remaining")
    return remaining is not None and remaining.strip() == "0"
