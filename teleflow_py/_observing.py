"""One client's observer of its calls: pacing by the rate-limit headers, spans, wait logs.

:class:`ClientObserver` is the :class:`~teleflow_py._core.hooks.AttemptObserver` a client
gives its drivers (the sync transport, the async transport and, through the sync one, the
analytics worker), so pacing and telemetry are written once for all three:

- pacing: before an Events attempt it reserves the request's cost from the client's
  :class:`~teleflow_py._core.pacing.Pacer` and returns the wait; each answer (or failure)
  reports back to the pacer. The pacer is shared by the client's threads, its async tasks
  and its ``with_options`` copies (they share this observer).
- telemetry: one call span per Events call (a bulk trigger's requests share the span its
  method opened, :attr:`Call.scope <teleflow_py._core.calls.Call.scope>`), one attempt span
  per attempt with ``traceparent`` injected, waits as span events; a delivery span per
  analytics batch attempt.

Cheap when there is nothing to do: without telemetry (no ``opentelemetry-api``, or no SDK)
no span state is kept, and once an answer without any ``RateLimit-*`` header has come (and
none with one), the pacer and its lock are no longer asked: a server that does not send the
headers is not paced. State per call lives in a dict keyed by the call's ``id`` from
``call_started`` (or the first reservation) to ``call_ended``, which the loop always reaches.
"""

from __future__ import annotations

import logging
from contextlib import contextmanager
from typing import Any, Dict, Hashable, Iterator, List, Mapping, MutableMapping, Optional
from urllib.parse import unquote

from ._bodies import Chunk
from ._core.calls import Call
from ._core.deadline import Deadline
from ._core.pacing import Budget, Pacer, Ticket
from ._core.ratelimit_headers import route_cost
from ._core.tracing import (
    NOOP_CALL,
    WAIT_BACKOFF,
    WAIT_RATE_LIMIT,
    WAIT_RETRY_AFTER,
    AttemptSpan,
    CallInfo,
    CallSpan,
    Telemetry,
)
from .errors import TeleflowError
from .response import Response

logger = logging.getLogger("teleflow_py.events")

#: The route of a cancel, as ``url.template`` (the transaction id is not part of the route).
CANCEL_TEMPLATE = "/v1/events/trigger/{transactionId}"


class _State:
    """What one call in flight needs between hooks."""

    __slots__ = ("attempt", "owned", "retry_after", "sent", "span", "ticket")

    def __init__(self, span: Optional[CallSpan], owned: bool) -> None:
        self.span = span
        self.owned = owned  # the call span is this call's own (not its bulk call's)
        self.attempt: Optional[AttemptSpan] = None
        self.ticket: Optional[Ticket] = None
        self.sent = False  # whether the reserved attempt went out
        self.retry_after = False  # whether the last answer named its wait


class ClientObserver:
    """Pacing and telemetry of one client, shared by its drivers, threads and tasks.

    Args:
        identity: who the server counts the requests against (the client's credential;
            hashed, never printed).
        base_url: the client's API root (for ``url.full``).
        telemetry: the process's telemetry hooks (:func:`teleflow_py.integrations.otel.telemetry`).
        pacer: the client's pacer (default: a new one).
    """

    def __init__(
        self,
        identity: Hashable,
        base_url: str,
        telemetry: Telemetry,
        pacer: Optional[Pacer] = None,
    ) -> None:
        self.pacer = pacer or Pacer()
        self._identity = identity
        self._base_url = base_url
        self._telemetry = telemetry
        self._traced = telemetry.enabled
        self._calls: Dict[int, _State] = {}
        # True once an Events answer came without the headers while none ever had them.
        self._unpaced = False
        self._seen_headers = False

    def rate_limit(self) -> Dict[str, Budget]:
        """The last budget each rate-limit category announced (see ``Client.rate_limit``)."""
        return self.pacer.snapshot(self._identity)

    # -- the hooks ------------------------------------------------------------------------

    def call_started(self, call: Call) -> bool:
        """Open the call's span (or take its bulk call's); nothing without telemetry.

        Watches the call when it is traced, or when pacing may apply to it: until an answer
        has shown that the server sends no ``RateLimit-*`` headers. Decided here, for the
        whole call.
        """
        if not self._traced or not self._telemetry.recording():
            return not self._unpaced and call.kind != "batch"
        if call.kind == "batch":
            self._calls[id(call)] = _State(None, False)
            return True
        if call.scope is not None:
            span, owned = call.scope, False
        else:
            span, owned = self._telemetry.call(_info(call)), True
        if span is not NOOP_CALL:
            self._calls[id(call)] = _State(span, owned)
        return True

    def delay_before_send(self, call: Call, attempt: int, deadline: Deadline) -> float:
        """Reserve this attempt's budget; the seconds to wait before it (0: send now)."""
        if self._unpaced or call.kind == "batch":
            return 0.0
        state = self._calls.get(id(call))
        if state is not None and state.ticket is not None:
            return 0.0  # reserved before the wait that just ended
        ticket = self.pacer.reserve(
            self._identity, route_cost(call.method, call.path), deadline.remaining()
        )
        if ticket.fits and not ticket.recheck:
            if state is None:
                state = self._calls[id(call)] = _State(None, False)
            state.ticket = ticket
            state.sent = False
        # Not fitting: the loop raises a timeout; a recheck: it waits and asks again.
        return ticket.wait

    def attempt_started(self, call: Call, attempt: int, headers: MutableMapping[str, str]) -> None:
        """Open the attempt's span (it adds ``traceparent`` to ``headers``)."""
        state = self._calls.get(id(call))
        if state is None:
            return
        state.sent = True
        if call.kind == "batch":
            state.attempt = self._telemetry.delivery(
                call.method, self._base_url + call.path, attempt, call.events, headers, call.path
            )
        elif state.span is not None:
            state.attempt = state.span.attempt(
                call.method, self._base_url + call.path, attempt, headers, _template(call)
            )

    def attempt_answered(
        self, call: Call, attempt: int, status: int, headers: Mapping[str, str]
    ) -> None:
        """Tell the pacer what the answer said; close the attempt's span."""
        state = self._calls.get(id(call)) if self._calls else None
        ticket = None
        if state is not None:
            if state.attempt is not None:
                state.attempt.answered(status)
                state.attempt = None
            state.retry_after = headers.get("Retry-After") is not None
            ticket, state.ticket = state.ticket, None
        if call.kind == "batch":
            return
        if headers.get("RateLimit-Remaining") is None and headers.get("RateLimit-Policy") is None:
            if not self._seen_headers:
                self._unpaced = True
            if ticket is not None:
                self.pacer.answered(ticket, status, headers)
            return
        self._seen_headers, self._unpaced = True, False
        if ticket is None:  # not paced (pacing off, or not asked yet): still learnt from
            route = route_cost(call.method, call.path)
            ticket = Ticket(0.0, key=(self._identity, route.category), cost=route.cost)
        self.pacer.answered(ticket, status, headers)

    def attempt_failed(self, call: Call, attempt: int, error: TeleflowError) -> None:
        """No answer: the reserved tokens stay spent; close the attempt's span."""
        state = self._calls.get(id(call))
        if state is None:
            return
        if state.attempt is not None:
            state.attempt.failed(error)
            state.attempt = None
        if state.ticket is not None:
            self.pacer.failed(state.ticket)
            state.ticket = None
        state.retry_after = False

    def waiting(self, call: Call, attempt: int, seconds: float, why: str) -> None:
        """A wait before an attempt: a span event, and a DEBUG line for a rate-limit wait."""
        if why == "pacing" and logger.isEnabledFor(logging.DEBUG):
            logger.debug(
                "%s %s waits %.3fs for the rate limit",
                call.method,
                self._base_url + call.path,
                seconds,
                extra={"teleflow_pacing": seconds},
            )
        state = self._calls.get(id(call))
        if state is None or state.span is None:
            return
        if why == "pacing":
            reason = WAIT_RATE_LIMIT
        elif why == "pause" or state.retry_after:
            reason = WAIT_RETRY_AFTER
        else:
            reason = WAIT_BACKOFF
        state.span.waited(seconds, reason)

    def call_ended(
        self, call: Call, response: Optional[Response], error: Optional[BaseException]
    ) -> None:
        """Give back a reservation never used; close the call's span."""
        state = self._calls.pop(id(call), None)
        if state is None:
            return
        failure = error if error is not None else RuntimeError("the call ended")
        if state.attempt is not None:  # cancelled while the attempt was out
            state.attempt.failed(failure)
        if state.ticket is not None:
            if state.sent:
                self.pacer.failed(state.ticket)  # the server may have counted it
            else:
                self.pacer.release(state.ticket)
        span = state.span
        if span is None or not state.owned:
            return
        if response is not None:
            span.succeeded(_transaction_id(response) if call.kind != "cancel" else None)
        else:
            span.failed(failure)


def _info(call: Call) -> CallInfo:
    """What the call span says of ``call`` before it starts."""
    transaction_id = None
    if call.kind == "cancel":
        transaction_id = unquote(call.path.rsplit("/", 1)[-1])
    return CallInfo(
        call.kind,
        workflow=call.workflow,
        idempotency_key=call.idempotency_key,
        events=call.events,
        transaction_id=transaction_id,
    )


def _template(call: Call) -> str:
    return CANCEL_TEMPLATE if call.kind == "cancel" else call.path


def _transaction_id(response: Response) -> Optional[str]:
    """The ``transactionId`` an accepted trigger or broadcast answer confirms, if any."""
    body: Any = response.body
    data = body.get("data") if isinstance(body, dict) else None
    found = data.get("transactionId") if isinstance(data, dict) else None
    return found if isinstance(found, str) else None


@contextmanager
def bulk_span(telemetry: Telemetry, chunks: List[Chunk], key: str) -> Iterator[Optional[CallSpan]]:
    """The ``teleflow.trigger_bulk`` span of one bulk call, shared by its requests.

    Yields the span to pass as each request's ``scope`` (``None`` when nothing records);
    ends it with the call (failed with the exception the call raises).
    """
    if not telemetry.enabled:
        yield None
        return
    names = {event.get("name") for chunk in chunks for event in chunk.events}
    workflow = names.pop() if len(names) == 1 else None
    span = telemetry.call(
        CallInfo(
            "trigger_bulk",
            workflow=workflow if isinstance(workflow, str) else None,
            idempotency_key=key,
            events=sum(len(chunk.events) for chunk in chunks),
        )
    )
    if span is NOOP_CALL:
        yield None
        return
    try:
        yield span
    except BaseException as exc:
        span.failed(exc)
        raise
    span.succeeded()


class RateLimitView:
    """``rate_limit``, the last known budget, for both clients."""

    _observer: ClientObserver

    @property
    def rate_limit(self) -> Dict[str, Budget]:
        """The rate-limit budget the server last announced, per category (``"trigger"``).

        Each :class:`~teleflow_py.RateLimitBudget` holds ``limit``, ``remaining``, ``reset``
        (seconds) and ``policy`` as the last answer's ``RateLimit-*`` headers said, and
        ``observed_at`` (``time.monotonic()``). Empty until an answer carried them (a
        server without rate limiting never sends them). Shared with ``with_options``
        copies; read whether or not pacing is on.
        """
        return self._observer.rate_limit()
