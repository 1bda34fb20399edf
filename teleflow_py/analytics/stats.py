"""Counters of the analytics pipeline, and the results built from them."""

from __future__ import annotations

import threading
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Deque, Dict, List, Optional, Tuple

from .._core.tracing import NOOP, Telemetry

#: How many recent errors are kept for :class:`FlushResult.errors`.
MAX_KEPT_ERRORS = 100


@dataclass(frozen=True)
class AnalyticsStats:
    """Totals since the client was created (or since a fork, in a child process).

    ``accepted`` and ``rejected`` count events the server answered for; ``rejected``
    includes events refused one by one in a 2xx answer and whole batches refused with a
    4xx. ``dropped`` counts events that never reached the server, by reason in
    ``dropped_by_reason``: ``"queue_full"``, ``"shutdown"`` (tracked after shutdown) or
    ``"too_large"`` (a single event the server answered 413 for), ``"spool_full"`` (the
    spool at ``spool_max_bytes``) or ``"spool_error"`` (``spool_mode="sync"``: the spool
    could not store the event, see the storage-fault table of the docs).
    ``pending`` is what is queued or in flight now. ``worker_restarts`` counts worker
    threads that died from an unexpected exception (each is logged; the next ``track()`` or
    ``flush()`` starts a new one). ``spool_fallback`` counts events ``track()`` accepted
    that the spool could not store (a storage fault) and that were kept in memory instead
    (group mode; one count per spool file in a process).
    """

    accepted: int = 0
    rejected: int = 0
    dropped: int = 0
    batches: int = 0
    retries: int = 0
    requeues: int = 0
    errors: int = 0
    pending: int = 0
    dropped_by_reason: Dict[str, int] = field(default_factory=dict)
    worker_restarts: int = 0
    spool_fallback: int = 0


@dataclass(frozen=True)
class AnalyticsHealth:
    """Whether analytics events are flowing, from :meth:`Client.analytics_health`.

    Times are Unix timestamps (``time.time()``); ages are in seconds. A growing
    ``oldest_pending_age`` with an old ``last_success_at`` means events are not leaving:
    ``last_error`` says why.
    """

    #: Whether the worker thread is running now (it starts on first use).
    worker_alive: bool = False
    #: Messages queued (or spooled) or in flight.
    pending: int = 0
    #: Seconds the oldest pending message has waited; ``None`` when nothing is pending.
    oldest_pending_age: Optional[float] = None
    #: When the server last accepted a batch; ``None`` if it never did.
    last_success_at: Optional[float] = None
    #: The last delivery error (as text, never with the API key) and when it happened.
    last_error: Optional[str] = None
    last_error_at: Optional[float] = None
    #: Worker threads that died unexpectedly and were replaced.
    worker_restarts: int = 0
    #: The spool file in use, or ``None`` for the in-memory queue.
    spool_path: Optional[str] = None
    #: Why the spool cannot store events now (a storage fault, as text), or ``None``
    #: while it works. Meanwhile group mode keeps new events in memory and sync mode
    #: refuses them; the spool resumes by itself once it can be written again.
    spool_problem: Optional[str] = None


@dataclass(frozen=True)
class FlushResult:
    """What happened while a :meth:`flush` or :meth:`shutdown` ran.

    ``accepted``, ``rejected``, ``dropped`` and ``batches`` count what happened during the
    call (events tracked meanwhile by other threads included); ``pending`` is what is still
    queued or in flight when it returned; ``errors`` the errors reported meanwhile (at most
    the last 100).

    ``left_to_others`` is set by a ``shutdown()`` that left its ``pending`` events to other
    clients of this process sharing its spool, which stay open and send them: not
    delivered yet (so ``ok`` is False), and not lost. 0 otherwise.
    """

    accepted: int = 0
    rejected: int = 0
    batches: int = 0
    pending: int = 0
    dropped: int = 0
    errors: Tuple[Exception, ...] = ()
    left_to_others: int = 0

    @property
    def ok(self) -> bool:
        """Whether everything was delivered: nothing pending, rejected, dropped or failed."""
        return not (self.pending or self.rejected or self.dropped or self.errors)


class Counters:
    """Thread-safe totals. Updated once per batch or per dropped event, never per ``put``."""

    def __init__(self, telemetry: Telemetry = NOOP) -> None:
        self._lock = threading.Lock()
        # Deliveries and drops are also metrics (teleflow.analytics.delivered / .dropped).
        self._telemetry = telemetry
        self.accepted = 0
        self.rejected = 0
        self.batches = 0
        self.retries = 0
        self.requeues = 0
        self.dropped_by_reason: Dict[str, int] = {}
        self._errors: Deque[Tuple[int, Exception]] = deque(maxlen=MAX_KEPT_ERRORS)
        self._error_count = 0
        self.worker_restarts = 0
        self.last_success_at: Optional[float] = None
        self.last_error: Optional[str] = None
        self.last_error_at: Optional[float] = None

    def add(self, *, accepted: int = 0, rejected: int = 0, batches: int = 0) -> None:
        """Count a server answer."""
        with self._lock:
            self.accepted += accepted
            self.rejected += rejected
            self.batches += batches
            if accepted:
                self.last_success_at = time.time()
        if accepted:
            self._telemetry.delivered(accepted)

    def retried(self) -> None:
        """Count one retry of a batch."""
        with self._lock:
            self.retries += 1

    def requeued(self) -> None:
        """Count one batch given back to the queue after its retries were spent."""
        with self._lock:
            self.requeues += 1

    def dropped(self, reason: str, count: int = 1) -> None:
        """Count events dropped before reaching the server."""
        with self._lock:
            self.dropped_by_reason[reason] = self.dropped_by_reason.get(reason, 0) + count
        self._telemetry.dropped(count, reason)

    def error(self, error: Exception) -> None:
        """Remember an error for the results of flushes running now."""
        with self._lock:
            self._error_count += 1
            self._errors.append((self._error_count, error))
            self._note(error)

    def worker_died(self, error: Exception) -> None:
        """Count a worker thread that died from an unexpected exception."""
        with self._lock:
            self.worker_restarts += 1
            self._note(error)

    def _note(self, error: Exception) -> None:
        self.last_error = f"{type(error).__name__}: {error}"
        self.last_error_at = time.time()

    def health(
        self,
        *,
        pending: int,
        oldest_pending_age: Optional[float],
        worker_alive: bool,
        spool_path: Optional[str],
        spool_problem: Optional[str] = None,
    ) -> AnalyticsHealth:
        """The health now, given what only the batcher knows."""
        with self._lock:
            return AnalyticsHealth(
                worker_alive=worker_alive,
                pending=pending,
                oldest_pending_age=oldest_pending_age if pending else None,
                last_success_at=self.last_success_at,
                last_error=self.last_error,
                last_error_at=self.last_error_at,
                worker_restarts=self.worker_restarts,
                spool_path=spool_path,
                spool_problem=spool_problem,
            )

    def snapshot(self, pending: int, spool_fallback: int = 0) -> AnalyticsStats:
        """The totals now."""
        with self._lock:
            return AnalyticsStats(
                accepted=self.accepted,
                rejected=self.rejected,
                dropped=sum(self.dropped_by_reason.values()),
                batches=self.batches,
                retries=self.retries,
                requeues=self.requeues,
                errors=self._error_count,
                pending=pending,
                dropped_by_reason=dict(self.dropped_by_reason),
                worker_restarts=self.worker_restarts,
                spool_fallback=spool_fallback,
            )

    def errors_after(self, count: int) -> List[Exception]:
        """The errors reported after the first ``count`` (as far as they are still kept)."""
        with self._lock:
            return [error for number, error in self._errors if number > count]


def result_between(
    before: AnalyticsStats, after: AnalyticsStats, errors: List[Exception]
) -> FlushResult:
    """The :class:`FlushResult` of the interval between two snapshots."""
    return FlushResult(
        accepted=after.accepted - before.accepted,
        rejected=after.rejected - before.rejected,
        batches=after.batches - before.batches,
        pending=after.pending,
        dropped=after.dropped - before.dropped,
        errors=tuple(errors),
    )
