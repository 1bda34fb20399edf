"""flush() and shutdown(): asking the worker to send now, and waiting for it within a time.

The base of :class:`~.batcher.Batcher`. Shutdown is in two halves (:meth:`begin_shutdown`,
:meth:`finish_shutdown`) so the exit hook can start every client's at once.
"""

from __future__ import annotations

import logging
import math
import os
import threading
import time
from typing import Any, Callable, Optional

from .._core.deadline import clamp_wait
from ..errors import ValidationError
from .spool import Spool
from .stats import AnalyticsStats, FlushResult, result_between
from .waits import hides_an_interrupt, wait_for
from .worker import Worker

logger = logging.getLogger("teleflow_py.analytics")


def _check_timeout(timeout: Any) -> Optional[float]:
    if timeout is None:
        return None
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)):
        raise ValidationError("timeout", f"must be a number of seconds or None, not {timeout!r}")
    if math.isnan(timeout) or timeout < 0:
        raise ValidationError("timeout", f"must be >= 0, got {timeout!r}")
    # math.inf means "no limit", in a form the standard library's waits accept.
    return clamp_wait(float(timeout))


class Flushing(Worker):
    """Flush and shutdown of a batcher."""

    _pid: int
    _budget: float
    _before_shutdown: AnalyticsStats
    _final: Optional[FlushResult]
    _unwatch: Callable[[], None]

    def stats(self) -> AnalyticsStats:
        """Totals so far (see :class:`AnalyticsStats`)."""
        raise NotImplementedError

    def reset_after_fork(self) -> None:
        """Start over in a forked child."""
        raise NotImplementedError

    def flush(self, timeout: Any = None) -> FlushResult:
        """Send what is queued now and wait until done or ``timeout`` seconds passed.

        Raises:
            ValidationError: ``timeout`` is not ``None`` or a number >= 0.
        """
        limit = _check_timeout(timeout)
        if self._pid != os.getpid():
            self.reset_after_fork()
        before = self.stats()
        if not before.pending or self._closing:
            return self._result_since(before)
        if self._thread is None:
            self._start_worker()
        thread = self._thread
        if thread is None:
            # No worker can start (Python 3.12 refuses threads while the interpreter
            # exits, as in an atexit handler): send on this thread instead.
            self._flush_on_this_thread(limit)
            return self._result_since(before)
        if thread is threading.current_thread():
            # flush() was called from a callback on the worker itself: waiting would
            # never end.
            return self._result_since(before)
        ends = None if limit is None else time.monotonic() + limit
        # A worker that dies during this flush is replaced once and asked again, so the
        # caller neither waits out its whole timeout nor needs a second call.
        for _ in range(2):
            if not self._flush_with(thread, ends):
                break
            self._start_worker()
            thread = self._thread
            if thread is None:
                break
        return self._result_since(before)

    def _flush_with(self, thread: threading.Thread, ends: Optional[float]) -> bool:
        """Ask ``thread`` to flush and wait until it did or ``ends``; True if it died first."""
        with self._cond:
            self._flush_requested += 1
            wanted = self._flush_requested
        self._urgent.set()
        self._wake.set()
        with self._cond:
            wait_for(
                self._cond,
                lambda: (
                    self._flush_done >= wanted or self._worker_done or self._thread is not thread
                ),
                None if ends is None else max(0.0, ends - time.monotonic()),
            )
            return self._thread is not thread and not self._closing

    def shutdown(self, timeout: Any = None) -> FlushResult:
        """Send what is queued within ``timeout`` (default ``shutdown_timeout``), then stop.

        Safe to call more than once and from several threads: later calls wait for the
        first and return its result.

        Raises:
            ValidationError: ``timeout`` is not ``None`` or a number >= 0.
        """
        if self.begin_shutdown(timeout):
            return self.finish_shutdown()
        with self._cond:
            deadline = self._deadline if self._deadline is not None else time.monotonic()
            # The first caller returns by its deadline; the extra second is a hang guard.
            remaining = max(0.0, deadline - time.monotonic()) + 1.0
            wait_for(self._cond, lambda: self._final is not None, remaining)
            if self._final is not None:
                return self._final
        return self._result_since(self._before_shutdown)

    def _flush_on_this_thread(self, limit: Optional[float]) -> None:
        """Send what waits on the calling thread, within ``limit`` (or shutdown_timeout)."""
        budget = self._config.shutdown_timeout if limit is None else limit
        with self._cond:
            if self._closing:
                return
            # The drain obeys this deadline as it would a shutdown's; no worker reads it.
            self._deadline = time.monotonic() + budget
        try:
            self._drain(everything=False)
        finally:
            with self._cond:
                if not self._closing:
                    self._deadline = None

    @property
    def shuts_down_at_exit(self) -> bool:
        """Whether the exit hook should shut this batcher down."""
        return self._config.register_atexit

    def begin_shutdown(self, timeout: Any = None) -> bool:
        """Refuse new messages and tell the worker to drain; ``True`` for the first call.

        Raises:
            ValidationError: ``timeout`` is not ``None`` or a number >= 0.
        """
        limit = _check_timeout(timeout)
        budget = self._config.shutdown_timeout if limit is None else limit
        if self._pid != os.getpid():
            self.reset_after_fork()
        with self._cond:
            if self._closing:
                return False
            self._before_shutdown = self.stats()
            self._budget = budget
            self._deadline = time.monotonic() + budget
            self._closing = True
        self._stop.set()
        self._urgent.set()
        self._wake.set()
        return True

    def resume_interrupted_shutdown(self) -> bool:
        """Give a shutdown no caller saw finish a new ``shutdown_timeout``; ``True`` if any.

        A ``KeyboardInterrupt`` in :meth:`shutdown` (Ctrl-C during ``close()``) leaves the
        batcher closing with its queue unsent; the exit hook resumes it here.
        """
        with self._cond:
            if not self._closing or self._final is not None:
                return False
            self._budget = self._config.shutdown_timeout
            self._deadline = time.monotonic() + self._budget
        self._wake.set()
        return True

    def finish_shutdown(self) -> FlushResult:
        """Wait for the drain begun by :meth:`begin_shutdown`, bounded by its deadline.

        Logs a warning with the number of messages not delivered, if any.
        """
        thread = self._thread
        deadline = self._deadline if self._deadline is not None else time.monotonic()
        if thread is not None and thread is not threading.current_thread():
            # The worker's own word, not join() or is_alive(): after a join interrupted by
            # Ctrl-C, Python 3.11 and older may mark a running thread stopped (bpo-45274).
            # In slices on the main thread, so a Ctrl-C ends the wait at once (see .waits).
            with self._cond:
                wait_for(
                    self._cond, lambda: self._worker_done, max(0.0, deadline - time.monotonic())
                )
        if (thread is None or self._worker_done) and len(self._queue):
            # The worker never started or died (for example a first track() while the
            # interpreter was exiting): drain on this thread instead.
            try:
                self._drain(everything=True)
            except Exception as exc:
                if hides_an_interrupt(exc):
                    raise KeyboardInterrupt from exc
                # What is left is reported below; the count must not be lost to an error.
                logger.exception("teleflow_py analytics: draining at shutdown failed")
        try:
            self._queue.persist(force=True)
        except Exception:
            logger.exception("teleflow_py analytics: writing the spool at shutdown failed")
        self._unwatch()
        result = self._result_since(self._before_shutdown)
        if result.pending and isinstance(self._queue, Spool):
            logger.warning(
                "teleflow_py analytics: %d events were not delivered within %.1f s: %s",
                result.pending,
                self._budget,
                self._where_left(self._queue),
            )
        elif result.pending:
            logger.warning(
                "teleflow_py analytics: %d events were not delivered at shutdown "
                "(server unreachable or too slow within %.1f s); they were only in memory "
                "and are lost with this process",
                result.pending,
                self._budget,
            )
        with self._cond:
            self._final = result
            self._cond.notify_all()
        return result

    def _where_left(self, queue: Spool) -> str:
        """What becomes of the undelivered events, counted where they are."""
        on_disk, in_memory = queue.leftover()
        said = []
        if on_disk is None:
            said.append(f"the spool {queue.path} cannot be read, so what it holds is unknown")
        elif on_disk:
            said.append(
                f"{on_disk} stay in the spool {queue.path} (counted in the file) and are "
                "sent by the next client that opens it"
            )
        if in_memory:
            said.append(
                f"{in_memory} were only in memory (the spool could not store them: "
                f"{queue.fault or 'no room'}) and are lost with this process"
            )
        return "; ".join(said) or f"the spool {queue.path} holds none of them now"

    def _result_since(self, before: AnalyticsStats) -> FlushResult:
        after = self.stats()
        return result_between(before, after, self._counters.errors_after(before.errors))
