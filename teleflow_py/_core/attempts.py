"""The attempt loop of one call, written once as a generator; drivers do the I/O.

:meth:`Attempts.flow` yields steps and receives what became of them, as httpx's
``Auth.auth_flow`` does (driven there by ``sync_auth_flow`` and ``async_auth_flow``):

- :class:`Sleep` ``(seconds, why)``: wait, then send back ``True`` (or ``False`` when the
  driver may not wait that long, which ends the call with the last error);
- :class:`Send` ``(headers, limits)``: send the call's method, path and body with these
  headers within these limits, then send back the :class:`~teleflow_py._core.limits.Answer`,
  or a :class:`Failure` holding the exception the attempt raised.

The generator returns the accepted :class:`~teleflow_py.response.Response` or raises the
error that ends the call. Everything between (one idempotency key minted before the loop,
``X-Teleflow-Retry-Count``, the shared pause of a bulk call, the retry policy, the deadline,
the error class of a status or a failure, the log lines, the :class:`AttemptObserver`
hooks) happens here, so the sync client (:meth:`Attempts.run`), the async client
(:meth:`Attempts.arun`) and the analytics worker cannot differ in it.
"""

from __future__ import annotations

import logging
import time
from typing import (
    Any,
    Awaitable,
    Callable,
    Dict,
    Generator,
    NamedTuple,
    Optional,
    Tuple,
    Union,
)

from ..errors import (
    APIConnectionError,
    APITimeoutError,
    DailyQuotaIsReachedError,
    TeleflowError,
    UnexpectedResponseError,
    error_for_status,
)
from ..response import Response
from .calls import Call
from .deadline import Deadline, SharedPause
from .dedup import IDEMPOTENCY_HEADER, maybe_delivered
from .failures import api_error, never_sent
from .headers import (
    RETRY_COUNT_HEADER,
    CaseInsensitiveDict,
    parse_body,
    redacted,
)
from .hooks import NO_OBSERVER, AttemptObserver
from .limits import Answer, Limits
from .retry import RetryDecision, server_requested_wait
from .sending import Sending

#: Events calls log here; the analytics worker's batches (``kind="batch"``) below.
EVENTS_LOGGER = logging.getLogger("teleflow_py.events")
ANALYTICS_LOGGER = logging.getLogger("teleflow_py.analytics")


class Send(NamedTuple):
    """Step: send the call once with ``headers`` within ``limits``."""

    headers: Dict[str, str]
    limits: Limits


class Sleep(NamedTuple):
    """Step: wait ``seconds`` (``why``: ``"retry"``, ``"pause"`` or ``"pacing"``)."""

    seconds: float
    why: str


class RetryNote(NamedTuple):
    """What a retry's log record carries for handlers (its ``teleflow_retry`` field)."""

    method: str
    url: str
    failure: str
    retry: int
    max_retries: int
    wait: float
    #: The call's kind (``"trigger"``, ``"bulk"``, ``"cancel"``, ``"batch"`` for analytics).
    kind: str = ""


class Failure(NamedTuple):
    """What a driver sends back when an attempt raised ``exc`` instead of answering."""

    exc: BaseException


Step = Union[Send, Sleep]
Flow = Generator[Step, Any, Response]


class Attempts:
    """One call's state: its headers, retries so far, and the decision that ended it.

    ``pause``, shared by the requests of one bulk call, makes every one of them wait out a
    429's ``Retry-After`` (and a spent rate-limit window); it is waited out before the
    call's deadline starts.
    """

    __slots__ = (
        "call",
        "decision",
        "dedup",
        "headers",
        "hooks",
        "log",
        "note",
        "pause",
        "retries",
        "sending",
        "url",
    )

    def __init__(self, call: Call, sending: Sending, pause: Optional[SharedPause] = None) -> None:
        self.call = call
        self.url = sending.base_url + call.path
        self.sending = sending
        self.pause = pause
        self.retries = 0
        #: The last retry decision; its ``reason`` says why the call ended without success
        #: (``"not_retryable"``, ``"retries_exhausted"``, ``"daily_quota"``,
        #: ``"wait_too_long"``, ``"no_time"``, ``"not_deduplicated"``).
        self.decision: Optional[RetryDecision] = None
        self.headers = headers = dict(sending.base_headers)
        if call.idempotency_key is not None:
            headers[call.idempotency_header] = call.idempotency_key
        # The interceptor deduplicates keyed POSTs only (NxPKG/teleflow idempotency
        # .interceptor.ts, ALLOWED_METHODS): a cancel (DELETE) is neither judged nor taught.
        dedup = sending.dedup
        self.dedup = (
            dedup
            if dedup is not None
            and call.method == "POST"
            and call.idempotency_key
            and call.idempotency_header == IDEMPOTENCY_HEADER
            else None
        )
        self.log = ANALYTICS_LOGGER if call.kind == "batch" else EVENTS_LOGGER
        #: Why the last retry was not taken, for the call's one warning.
        self.note = ""
        #: The observer when it watches this call (its answer to ``call_started``), else
        #: :data:`NO_OBSERVER`: every hook but ``attempt_answered`` goes here.
        self.hooks: AttemptObserver = NO_OBSERVER

    # -- the drivers' side ----------------------------------------------------------------

    def run(
        self,
        send: Callable[[str, str, Optional[bytes], Dict[str, str], Limits], Answer],
        sleep: Callable[[float], Any],
    ) -> Response:
        """Drive :meth:`flow` with blocking I/O; see :meth:`flow` for what it raises.

        ``send(method, path, body, headers, limits)`` makes one attempt (a route's
        ``send``); ``sleep(seconds)`` waits, returning ``False`` when it may not.
        """
        call = self.call
        flow = self.flow()
        step = next(flow)
        while True:
            try:
                if isinstance(step, Send):
                    try:
                        outcome: Any = send(
                            call.method, call.path, call.body, step.headers, step.limits
                        )
                    except Exception as exc:
                        outcome = Failure(exc)
                else:
                    outcome = sleep(step.seconds) is not False
            except BaseException as exc:  # cancelled, interrupted: the loop ends with it
                flow.throw(exc)
                raise
            try:
                step = flow.send(outcome)
            except StopIteration as done:
                return done.value  # type: ignore[no-any-return]

    async def arun(
        self,
        send: Callable[[str, str, Optional[bytes], Dict[str, str], Limits], Awaitable[Answer]],
        sleep: Callable[[float], Awaitable[Any]],
    ) -> Response:
        """Drive :meth:`flow` with awaited I/O; see :meth:`flow` for what it raises.

        As :meth:`run`, with ``send`` and ``sleep`` awaited.
        """
        call = self.call
        flow = self.flow()
        step = next(flow)
        while True:
            try:
                if isinstance(step, Send):
                    try:
                        outcome: Any = await send(
                            call.method, call.path, call.body, step.headers, step.limits
                        )
                    except Exception as exc:
                        outcome = Failure(exc)
                else:
                    outcome = (await sleep(step.seconds)) is not False
            except BaseException as exc:  # cancelled, interrupted: the loop ends with it
                flow.throw(exc)
                raise
            try:
                step = flow.send(outcome)
            except StopIteration as done:
                return done.value  # type: ignore[no-any-return]

    # -- the loop ---------------------------------------------------------------------------

    def flow(self) -> Flow:
        """The attempt loop as steps (see the module docstring).

        Raises:
            APIError: the server answered an error status (after retries, where retryable).
            APIConnectionError: no answer after retries (``APITimeoutError`` for timeouts
                and for the deadline).
            Exception: a failure that is not a transport failure, as the driver met it.
        """
        call, sending, observer, logger = self.call, self.sending, self.sending.observer, self.log
        debug = logger.isEnabledFor(logging.DEBUG)
        # The observer hears of more than the answers only when it watches the call (see
        # hooks.AttemptObserver); ``attempt_answered`` goes to it whatever it answered.
        hooks = self.hooks = observer if observer.call_started(call) else NO_OBSERVER
        try:
            if self.pause is not None:
                # A wait for the whole bulk call, taken before this request's deadline starts.
                wait = self.pause.remaining()
                if wait > 0:
                    hooks.waiting(call, 0, wait, "pause")
                    yield Sleep(wait, "pause")
            started = time.monotonic()
            whole = Deadline(None if sending.per_attempt else sending.deadline)
            while True:
                if self.pause is not None:
                    yield from self._paused(whole)
                if sending.paced:
                    # Asked again after each wait, until the request's budget is reserved.
                    wait = hooks.delay_before_send(call, self.retries, whole)
                    while wait > 0:
                        self._must_fit(wait, whole, "pacing")
                        hooks.waiting(call, self.retries, wait, "pacing")
                        yield Sleep(wait, "pacing")
                        wait = hooks.delay_before_send(call, self.retries, whole)
                deadline = Deadline(sending.deadline) if sending.per_attempt else whole
                limits = Limits(sending.timeouts, deadline, sending.max_response_bytes)
                self.headers[RETRY_COUNT_HEADER] = str(self.retries)
                hooks.attempt_started(call, self.retries, self.headers)
                if debug:
                    logger.debug(
                        "%s %s attempt %d headers=%s",
                        call.method,
                        self.url,
                        self.retries + 1,
                        redacted(self.headers),
                    )
                outcome = yield Send(self.headers, limits)
                if isinstance(outcome, Failure):
                    error = api_error(call.method, self.url, outcome.exc, sending.kinds)
                    if error is None:
                        raise outcome.exc
                    hooks.attempt_failed(call, self.retries, error)
                    wait = self._failed(error, whole, outcome.exc)
                else:
                    observer.attempt_answered(
                        call, self.retries, outcome.status_code, outcome.headers
                    )
                    answered = self._answered(outcome, whole, started)
                    if isinstance(answered, Response):
                        if debug:
                            logger.debug("%s %s -> %d", call.method, self.url, answered.status)
                        hooks.call_ended(call, answered, None)
                        return answered
                    error, wait = answered
                if wait >= 0:  # (-1: a 429 set the shared pause, which _before_send waits)
                    hooks.waiting(call, self.retries + 1, wait, "retry")
                    if (yield Sleep(wait, "retry")) is False:
                        self.decision = RetryDecision(False, wait, "no_time")
                        raise error
                self.retries += 1
        except BaseException as exc:
            if isinstance(exc, TeleflowError) and logger is EVENTS_LOGGER:
                # Retries were DEBUG lines; the call's end is the one line that speaks.
                logger.warning(
                    "%s %s failed for good after %d attempt(s): %s%s",
                    call.method,
                    self.url,
                    self.retries + 1,
                    exc,
                    f" ({self.note})" if self.note else "",
                )
            hooks.call_ended(call, None, exc)
            raise

    def _paused(self, deadline: Deadline) -> Generator[Step, Any, None]:
        """The bulk call's shared pause, waited out before an attempt."""
        assert self.pause is not None
        wait = self.pause.remaining()
        if wait > 0:
            self._must_fit(wait, deadline, "pause")
            self.hooks.waiting(self.call, self.retries, wait, "pause")
            yield Sleep(wait, "pause")

    def _must_fit(self, wait: float, deadline: Deadline, why: str) -> None:
        """Raise a (not retryable) timeout when a wait before an attempt passes the deadline."""
        if not deadline.allows(wait):
            call = self.call
            asked = "every request of this call" if why == "pause" else "this request"
            raise APITimeoutError(
                f"{call.method} {self.url}: {asked} must wait {wait:.1f}s first "
                f"({why}), past {deadline.describe()}",
                url=self.url,
                retryable=False,
            )

    def _answered(
        self, answer: Answer, deadline: Deadline, started: float
    ) -> Union[Response, Tuple[TeleflowError, float]]:
        """The accepted :class:`Response`, or the error and the wait before a retry."""
        call = self.call
        status = answer.status_code
        headers = answer.headers
        if not isinstance(headers, CaseInsensitiveDict):
            headers = CaseInsensitiveDict(headers)
        dedup = self.dedup
        echoed = dedup is not None and headers.get(IDEMPOTENCY_HEADER) is not None
        response = Response(
            status=status,
            headers=headers,
            body=parse_body(answer.content),
            url=self.url,
            method=call.method,
            request_headers=redacted(self.headers),
            request_body=call.body.decode("utf-8") if call.body is not None else None,
            retry_count=self.retries,
            time_spent_in_ms=(time.monotonic() - started) * 1000.0,
        )
        if 200 <= status < 300:
            if call.accepts is None or call.accepts(response):
                if dedup is not None:
                    dedup.saw(echoed, True)
                if self.pause is not None and not self.sending.paced and _quota_spent(headers):
                    # The window's last request: the others wait for its reset (pacing,
                    # when on, spaces them by the refill rate instead of whole seconds).
                    reset = server_requested_wait(headers) or 0.0
                    self.pause.hold(min(reset, self.sending.policy.max_server_wait))
                return response
            # Not the endpoint's answer (a captive portal, a proxy's page): nothing says the
            # request was taken, so it is retried like a lost answer.
            error: TeleflowError = UnexpectedResponseError(
                status, response.body, headers, response=response, retry_count=self.retries
            )
            wait = self._after(error, None, {}, deadline, daily=False, maybe_processed=not echoed)
            return error, wait
        if echoed and dedup is not None:
            dedup.saw(True, False)  # an error echoing the key: the interceptor is on
        error = error_for_status(
            status,
            response.body,
            headers,
            response=response,
            retry_count=self.retries,
            key_hint=self.sending.key_hint,
        )
        # A gateway's answer (502, 504, a 503 naming no wait): the server behind it may have
        # done the work.
        maybe = status in _GATEWAY_STATUSES or (status == 503 and not _asks_to_wait(headers))
        daily = isinstance(error, DailyQuotaIsReachedError)
        return error, self._after(
            error, status, headers, deadline, daily=daily, maybe_processed=maybe
        )

    def _failed(self, error: TeleflowError, deadline: Deadline, exc: BaseException) -> float:
        """No answer: the wait before a retry (or raise ``error`` when it is final)."""
        if not isinstance(error, APIConnectionError) or not error.retryable:
            # Not retryable, or not a transport failure at all (a closed client).
            if isinstance(error, APIConnectionError):
                error.retry_count = self.retries
            self.decision = RetryDecision(False, reason="not_retryable")
            raise error
        error.retry_count = self.retries
        maybe = self.dedup is not None and not never_sent(exc, self.sending.kinds)
        return self._after(error, None, {}, deadline, daily=False, maybe_processed=maybe)

    def _after(
        self,
        error: TeleflowError,
        status: Optional[int],
        headers: Any,
        deadline: Deadline,
        *,
        daily: bool,
        maybe_processed: bool = False,
    ) -> float:
        """The wait before the next attempt; raises ``error`` when there is none.

        A failure that ``maybe_processed`` is not retried against a server that does not
        deduplicate (:mod:`teleflow_py._core.dedup`): ``error`` is raised as maybe delivered.

        With a shared pause, a 429's wait is set on the pause (every request of the bulk
        call obeys it) and ``-1`` is returned: the next attempt waits it out first.
        """
        call, policy = self.call, self.sending.policy
        decision = policy.decide(self.retries, status=status, headers=headers, daily_quota=daily)
        self.decision = decision
        if not decision.retry:
            if decision.reason == "wait_too_long":
                self._not_retrying(
                    f"server asked to wait {decision.wait:.0f}s "
                    f"(cap {policy.max_server_wait:.0f}s); not retrying"
                )
            raise error
        if not deadline.allows(decision.wait):
            self.decision = RetryDecision(False, decision.wait, "no_time")
            self._not_retrying(
                f"the next attempt would start in {decision.wait:.1f}s, after "
                f"{deadline.describe()}; not retrying"
            )
            if isinstance(error, APITimeoutError):
                error.args = (f"{error} ({deadline.describe()} leaves no time to retry)",)
            raise error
        dedup = self.dedup
        if maybe_processed and dedup is not None and not dedup.deduplicates:
            self.decision = RetryDecision(False, decision.wait, "not_deduplicated")
            raise maybe_delivered(error, dedup)
        self.log.debug(
            "%s %s failed (%s); retry %d of %d in %.3fs with the same idempotency key",
            call.method,
            self.url,
            status if status is not None else type(error).__name__,
            self.retries + 1,
            policy.max_retries,
            decision.wait,
            # Read by the CLI's retry line: the log filter formats the message and drops args.
            extra={
                "teleflow_retry": RetryNote(
                    call.method,
                    self.url,
                    str(status) if status is not None else type(error).__name__,
                    self.retries + 1,
                    policy.max_retries,
                    decision.wait,
                    call.kind,
                )
            },
        )
        if self.pause is not None and status == 429:
            self.pause.hold(decision.wait)
            return -1.0
        return decision.wait

    def _not_retrying(self, note: str) -> None:
        """Keep why the call stops for its warning (Events), or log it (a batch's outcome
        is logged by the analytics worker)."""
        self.note = note
        self.log.debug("%s %s: %s", self.call.method, self.url, note)


#: Answers of a gateway in front of the server, which may have processed the request.
_GATEWAY_STATUSES = frozenset({502, 504})


def _asks_to_wait(headers: Any) -> bool:
    """Whether a 503 names a wait (``Retry-After`` or the like): nothing was processed."""
    return server_requested_wait(headers) is not None


def _quota_spent(headers: Any) -> bool:
    """Whether a 2xx answer says no request is left in the rate-limit window."""
    remaining = headers.get("RateLimit-Remaining")
    return remaining is not None and remaining.strip() == "0"
