"""Counters of the analytics pipeline, and the results built from them."""

from __future__ import annotations

import threading
from collections import deque
from dataclasses import dataclass, field
from typing import Deque, Dict, List, Tuple

#: How many recent errors are kept for :class:`FlushResult.errors`.
MAX_KEPT_ERRORS = 100


@dataclass(frozen=True)
class AnalyticsStats:
    """Totals since the client was created (or since a fork, in a child process).

    ``accepted`` and ``rejected`` count events the server answered for; ``rejected``
    includes events refused one by one in a 2xx answer and whole batches refused with a
    4xx. ``dropped`` counts events that never reached the server, by reason in
    ``dropped_by_reason``: ``"queue_full"``, ``"shutdown"`` (tracked after shutdown) or
    ``"too_large"`` (a single event the server answered 413 for). ``pending`` is what is
    queued or in flight now.
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


@dataclass(frozen=True)
class FlushResult:
    """What happened while a :meth:`flush` or :meth:`shutdown` ran.

    ``accepted``, ``rejected``, ``dropped`` and ``batches`` count what happened during the
    call (events tracked meanwhile by other threads included); ``pending`` is what is still
    queued or in flight when it returned; ``errors`` the errors reported meanwhile (at most
    the last 100).
    """

    accepted: int = 0
    rejected: int = 0
    batches: int = 0
    pending: int = 0
    dropped: int = 0
    errors: Tuple[Exception, ...] = ()

    @property
    def ok(self) -> bool:
        """Whether everything was delivered: nothing pending, rejected, dropped or failed."""
        return not (self.pending or self.rejected or self.dropped or self.errors)


class Counters:
    """Thread-safe totals. Updated once per batch or per dropped event, never per ``put``."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.accepted = 0
        self.rejected = 0
        self.batches = 0
        self.retries = 0
        self.requeues = 0
        self.dropped_by_reason: Dict[str, int] = {}
        self._errors: Deque[Tuple[int, Exception]] = deque(maxlen=MAX_KEPT_ERRORS)
        self._error_count = 0

    def add(self, *, accepted: int = 0, rejected: int = 0, batches: int = 0) -> None:
        """Count a server answer."""
        with self._lock:
            self.accepted += accepted
            self.rejected += rejected
            self.batches += batches

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

    def error(self, error: Exception) -> None:
        """Remember an error for the results of flushes running now."""
        with self._lock:
            self._error_count += 1
            self._errors.append((self._error_count, error))

    def snapshot(self, pending: int) -> AnalyticsStats:
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
