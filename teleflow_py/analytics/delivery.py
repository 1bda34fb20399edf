"""Send one batch: retry what is worth retrying, then settle, split or give it back.

The third driver of the core's attempt loop (:mod:`teleflow_py._core.attempts`), beside
the sync and async clients: the same headers, retry policy decisions, error mapping and
observer hooks, with the batch endpoint's statuses and the worker's own waits. Runs on the
worker thread only. Every outcome is counted, and every event the server
refuses for good is handed to ``on_error`` (or ``on_drop`` for one too large to send),
so nothing is lost without a trace.
"""

from __future__ import annotations

import enum
import logging
from typing import Any, Callable, Dict, List, Mapping, Optional, Tuple

from .._core.attempts import Attempts
from .._core.calls import Call
from .._core.retry import BATCH_RETRYABLE_STATUSES, RetryPolicy
from .._transport import Transport
from ..config import ClientConfig
from ..errors import APIError, EventsRejectedError, TeleflowError
from ..response import Response
from .batch import Batch, decode
from .queue import MessageQueue
from .stats import Counters

logger = logging.getLogger("teleflow_py.analytics")

IDEMPOTENCY_HEADER = "X-Idempotency-Key"


class Outcome(enum.Enum):
    """How :meth:`Sender.send` left a batch."""

    #: Answered by the server (accepted, rejected or reported) and acknowledged.
    SETTLED = "settled"
    #: Answered 413 and given back to the queue as two halves.
    SPLIT = "split"
    #: Retries spent (or no time left): given back to the front of the queue, key kept.
    GIVEN_BACK = "given_back"


class Sender:
    """Sends batches for one client and reports what became of them."""

    def __init__(
        self,
        config: ClientConfig,
        transport: Transport,
        queue: MessageQueue,
        counters: Counters,
        wait: Callable[[float], bool],
    ) -> None:
        self._transport = transport
        self._queue = queue
        self._counters = counters
        # Returns False when waiting that long is not allowed (the shutdown deadline).
        self._wait = wait
        self._on_error = config.on_error
        self._on_drop = config.on_drop
        #: The server's requested wait when it was over the retry cap (else None).
        self.requested_wait: Optional[float] = None
        self._url = transport.base_url
        # One log line per run of answers that are not acceptances, not one per attempt.
        self._not_accepted_logged = False
        # The transport's settings (headers, timeouts, observer), with the batch policy;
        # each attempt gets the deadline, the worker bounds the waits between them.
        self._sending = transport.sending._replace(
            policy=RetryPolicy(
                max_retries=config.batch_max_retries,
                retryable_statuses=BATCH_RETRYABLE_STATUSES,
                max_server_wait=config.max_retry_wait,
            ),
            per_attempt=True,
            # X-Idempotency-Key is honoured by the analytics endpoints whatever the Events
            # API's idempotency flag: a batch is retried after any failure, and its answers
            # say nothing about the Events API (docs/analytics.rst).
            dedup=None,
        )

    def send(self, batch: Batch) -> Outcome:
        """Send ``batch`` with retries, the same idempotency key on every attempt.

        The attempt loop is the core's (:class:`~teleflow_py._core.attempts.Attempts`),
        driven here with blocking I/O; a wait between attempts is the worker's, which
        refuses one past the shutdown deadline.
        """
        call = Call(
            "POST",
            batch.path,
            batch.body(),
            batch.key,
            IDEMPOTENCY_HEADER,
            kind="batch",
            accepts=lambda response: self._accepts(batch, response),
            events=len(batch),
        )
        attempts = Attempts(call, self._sending)
        try:
            response = self._transport.run(attempts, self._retry_wait)
        except TeleflowError as error:
            decision = attempts.decision
            reason = decision.reason if decision is not None else "not_retryable"
            # A wait over the cap is not slept through here; the batcher pauses that long.
            self.requested_wait = (
                decision.wait if decision is not None and reason == "wait_too_long" else None
            )
            if reason != "not_retryable":
                return self._give_back(batch, error, reason)
            if isinstance(error, APIError) and error.status == 413:
                return self._split(batch, error)
            # A refused batch, or a TLS or configuration failure no retry can fix.
            self._settle_refused(batch, error)
            return Outcome.SETTLED
        self.requested_wait = None
        self._not_accepted_logged = False
        self._settle_success(batch, response.body)
        return Outcome.SETTLED

    def _retry_wait(self, seconds: float) -> bool:
        """The wait before a retry: ``False`` when the worker may not wait that long."""
        if not self._wait(seconds):
            return False
        self._counters.retried()
        return True

    def _accepts(self, batch: Batch, response: Response) -> bool:
        """Whether a 2xx answer is the batch endpoint's own (else it is retried)."""
        if is_acceptance(response.body, batch.is_alias):
            return True
        # A captive portal, a proxy or a wrong base_url answered: nothing says the events
        # were taken, so they are kept and retried like an outage.
        self._log_not_accepted(batch, response.status)
        return False

    def _settle_success(self, batch: Batch, answer: Any) -> None:
        # Counted before the queue lets the batch go: the pending count falls only once the
        # answer is in the totals, so a flush or a stats reading never sees it in neither.
        total = len(batch)
        if batch.is_alias:
            self._counters.add(accepted=1, batches=1)
            self._queue.ack(batch)
            return
        accepted, rejected, errors = _batch_counts(answer, total)
        self._counters.add(accepted=accepted, rejected=rejected, batches=1)
        self._queue.ack(batch)
        if rejected:
            error = EventsRejectedError(errors, rejected, total)
            indexes = [e["index"] for e in errors if _valid_index(e.get("index"), total)]
            # When the server does not say which events it refused, report them all.
            refused = [batch.parts[i] for i in indexes] if indexes else list(batch.parts)
            logger.warning("teleflow_py analytics: %s", error)
            self._report(error, [decode(part) for part in refused])

    def _log_not_accepted(self, batch: Batch, status: int) -> None:
        if self._not_accepted_logged:
            return
        self._not_accepted_logged = True
        logger.warning(
            "teleflow_py analytics: %s%s answered %d without the batch endpoint's JSON "
            "(a proxy, captive portal or wrong base_url?); the events are kept and retried",
            self._url,
            batch.path,
            status,
        )

    def _settle_refused(self, batch: Batch, error: TeleflowError) -> None:
        self._counters.add(rejected=len(batch), batches=1)
        self._queue.reject(batch, error)
        logger.warning(
            "teleflow_py analytics: %d messages refused and not retried (%s)", len(batch), error
        )
        self._report(error, batch.decoded())

    def _split(self, batch: Batch, error: TeleflowError) -> Outcome:
        if len(batch) > 1:
            self._queue.give_back(*batch.split())
            return Outcome.SPLIT
        self._counters.dropped("too_large")
        self._counters.error(error)
        self._queue.ack(batch)
        logger.warning("teleflow_py analytics: a message too large for the server was dropped")
        if self._on_drop is not None:
            try:
                self._on_drop(decode(batch.parts[0]), "too_large")
            except Exception:
                logger.exception("teleflow_py analytics: on_drop raised")
        return Outcome.SETTLED

    def _give_back(self, batch: Batch, error: TeleflowError, reason: str) -> Outcome:
        self._queue.give_back(batch)
        self._counters.requeued()
        self._counters.error(error)
        logger.info(
            "teleflow_py analytics: batch %s of %d messages kept for later (%s: %s)",
            batch.key,
            len(batch),
            reason,
            error,
        )
        return Outcome.GIVEN_BACK

    def _report(self, error: TeleflowError, events: List[Dict[str, Any]]) -> None:
        self._counters.error(error)
        if self._on_error is None:
            return
        try:
            self._on_error(error, events)
        except Exception:
            # A failing callback must not stop the worker.
            logger.exception("teleflow_py analytics: on_error raised")


def _valid_index(index: Any, total: int) -> bool:
    return isinstance(index, int) and not isinstance(index, bool) and 0 <= index < total


def is_acceptance(answer: Any, is_alias: bool) -> bool:
    """Whether a 2xx body is the endpoint's own answer, bare or wrapped in ``data``.

    The batch endpoint answers ``{"accepted": n, "rejected": n, "errors": [...]}`` and the
    alias endpoint ``{"alias": {...}}`` (the emulator's ``api.py`` follows the same shapes).
    Anything else (an HTML page, an empty body, ``{"ok": false}``) accepted nothing.
    """
    if isinstance(answer, Mapping) and isinstance(answer.get("data"), Mapping):
        answer = answer["data"]
    if not isinstance(answer, Mapping):
        return False
    if is_alias:
        return "alias" in answer
    accepted = answer.get("accepted")
    return isinstance(accepted, int) and not isinstance(accepted, bool) and accepted >= 0


def _batch_counts(answer: Any, total: int) -> Tuple[int, int, List[Dict[str, Any]]]:
    """``(accepted, rejected, errors)`` from a batch acceptance (see :func:`is_acceptance`)."""
    if isinstance(answer, Mapping) and isinstance(answer.get("data"), Mapping):
        answer = answer["data"]
    if not isinstance(answer, Mapping):
        return total, 0, []
    raw_errors = answer.get("errors")
    errors = [e for e in raw_errors if isinstance(e, dict)] if isinstance(raw_errors, list) else []
    rejected = _count(answer.get("rejected"), len(errors))
    accepted = _count(answer.get("accepted"), total - rejected)
    return accepted, rejected, errors


def _count(value: Any, default: int) -> int:
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    return default
