"""The telemetry hooks the drivers call: one interface, which does nothing by default.

The drivers (sync, async, analytics worker) call these hooks at fixed points; they never know
whether anyone listens. The classes here are the interface and the no-op implementation in
one: every method does nothing, so a driver calls them unconditionally and the cost without
OpenTelemetry is a few method calls per request. ``teleflow_py.integrations.otel`` provides
the OpenTelemetry implementation (spans, metrics, ``traceparent``) when ``opentelemetry-api``
is installed and an SDK is configured.

Who calls what, and when (one Events call)::

    call = telemetry.call(CallInfo("trigger_bulk", workflow=..., events=100, idempotency_key=...))
    for each attempt:
        call.waited(seconds, WAIT_RATE_LIMIT)      # before sleeping for pacing
        attempt = call.attempt("POST", url, resend_count, headers, template)  # may add traceparent
        ... send ...
        attempt.answered(status)  or  attempt.failed(error)
        call.waited(seconds, WAIT_RETRY_AFTER or WAIT_BACKOFF)   # before sleeping for a retry
    call.succeeded(transaction_id)  or  call.failed(error)

The analytics worker calls :meth:`Telemetry.delivery` per delivery attempt (a span of its
own, parented to nothing the caller holds) and the counters :meth:`Telemetry.queued`,
:meth:`Telemetry.delivered`, :meth:`Telemetry.dropped`; the client registers its queue's size
with :meth:`Telemetry.watch_queue`. Nothing here may receive the API key: the drivers pass
the request headers only for :meth:`CallSpan.attempt` to *add* a header to.
"""

from __future__ import annotations

from typing import Callable, Mapping, MutableMapping, NamedTuple, Optional, Tuple
from urllib.parse import urlsplit, urlunsplit

#: The span name of each Events call.
CALL_SPAN_NAMES: Mapping[str, str] = {
    "trigger": "teleflow.trigger",
    "trigger_bulk": "teleflow.trigger_bulk",
    "broadcast": "teleflow.broadcast",
    "cancel": "teleflow.cancel",
}

#: Why a call waits before an attempt (the ``teleflow.wait.reason`` of its span event).
WAIT_RATE_LIMIT = "rate_limit"  # pacing by the server's rate-limit headers
WAIT_RETRY_AFTER = "retry_after"  # a 429 (or 503) that said how long
WAIT_BACKOFF = "backoff"  # a retry after a failure that did not say


class CallInfo(NamedTuple):
    """What is known of an Events call before it starts.

    ``operation`` is a key of :data:`CALL_SPAN_NAMES`; ``events`` the number of events it
    carries (1 for a trigger or broadcast, the list's length for a bulk trigger);
    ``transaction_id`` the one a cancel names.
    """

    operation: str
    workflow: Optional[str] = None
    idempotency_key: Optional[str] = None
    events: Optional[int] = None
    transaction_id: Optional[str] = None


class AttemptSpan:
    """One HTTP attempt. This base class records nothing."""

    __slots__ = ()

    def answered(self, status: int) -> None:
        """The server answered ``status`` (any status, a 2xx included)."""

    def failed(self, error: BaseException) -> None:
        """No answer: the connection failed or timed out with ``error``."""


class CallSpan:
    """One Events call. This base class records nothing."""

    __slots__ = ()

    def attempt(
        self,
        method: str,
        url: str,
        resend_count: int,
        headers: MutableMapping[str, str],
        template: Optional[str] = None,
    ) -> AttemptSpan:
        """An attempt starts: ``resend_count`` 0 for the first, 1 for the first retry.

        ``headers`` are the attempt's request headers, to which a ``traceparent`` may be
        added; ``template`` the route with placeholders (``/v1/events/trigger/{transactionId}``).
        """
        return NOOP_ATTEMPT

    def waited(self, seconds: float, reason: str) -> None:
        """The call is about to sleep ``seconds`` before its next attempt, because of ``reason``."""

    def succeeded(self, transaction_id: Optional[str] = None) -> None:
        """The call is over and succeeded (``transaction_id``: the one the server confirmed)."""

    def failed(self, error: BaseException) -> None:
        """The call is over and raises ``error``."""


class Telemetry:
    """The hooks of one process. This base class records nothing (``enabled`` is False)."""

    enabled = False

    def recording(self) -> bool:
        """Whether anything records now (an SDK is configured); cheap, asked per call."""
        return False

    def call(self, info: CallInfo) -> CallSpan:
        """An Events call starts."""
        return NOOP_CALL

    def delivery(
        self,
        method: str,
        url: str,
        resend_count: int,
        batch_size: int,
        headers: MutableMapping[str, str],
        template: Optional[str] = None,
    ) -> AttemptSpan:
        """An analytics delivery attempt of ``batch_size`` events starts."""
        return NOOP_ATTEMPT

    def queued(self, count: int) -> None:
        """``count`` analytics events entered the queue."""

    def delivered(self, count: int) -> None:
        """``count`` analytics events were confirmed by the server."""

    def dropped(self, count: int, reason: str) -> None:
        """``count`` analytics events never reached the server, for ``reason``.

        ``reason`` is the key of ``analytics_stats.dropped_by_reason`` (``"queue_full"``,
        ``"shutdown"``, ...).
        """

    def watch_queue(self, size: Callable[[], int]) -> Callable[[], None]:
        """Report ``size()`` as the queue size; returns the function that stops it."""
        return _nothing


def _nothing() -> None:
    return None


NOOP_ATTEMPT = AttemptSpan()
NOOP_CALL = CallSpan()
NOOP = Telemetry()


def url_without_credentials(url: str) -> str:
    """``url`` with any user and password removed (``url.full`` must not carry them)."""
    parts = urlsplit(url)
    if "@" not in parts.netloc:
        return url
    host = parts.netloc.rsplit("@", 1)[1]
    return urlunsplit((parts.scheme, host, parts.path, parts.query, parts.fragment))


def server_of(url: str) -> Tuple[str, int]:
    """``server.address`` and ``server.port`` of ``url`` (the scheme's port when absent)."""
    parts = urlsplit(url)
    try:
        port = parts.port
    except ValueError:
        port = None
    if port is None:
        port = 443 if parts.scheme == "https" else 80
    return parts.hostname or "", port


def error_type(error: BaseException) -> str:
    """``error.type`` of a failure: the exception's fully qualified class name."""
    cls = type(error)
    module = cls.__module__
    return cls.__qualname__ if module == "builtins" else f"{module}.{cls.__qualname__}"
