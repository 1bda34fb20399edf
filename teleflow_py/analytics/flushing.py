"""flush() and shutdown(): asking the worker to send now, and waiting for it within a time.

The base of :class:`~.batcher.Batcher`. Shutdown is in two halves (:meth:`begin_shutdown`,
:meth:`finish_shutdown`) so the exit hook can start every client's at once.

Clients of one process naming one spool path share one :class:`~.spool.Spool`, and any of
their workers may take (and be sending) the events another client tracked: a flush asks
every worker of its spool (found and asked through :mod:`.sharing`) and waits for each,
not only its own client's. So does a shutdown, which then stops only its own worker.
What is still pending when it returns is left to the clients of the spool that stay
open (they send it, and report what they cannot when they shut down); only the last of
them to shut down reports it as not delivered, so nothing is reported as lost while a
worker of this process still sends it, and nothing is counted twice.
"""

from __future__ import annotations

import logging
import math
import os
import threading
import time
from dataclasses import replace
from typing import Any, Callable, Optional

from .._core.deadline import clamp_wait
from .._waits import hides_an_interrupt, wait_for
from ..errors import ValidationError
from .sharing import SpoolSharing
from .spool import Spool
from .stats import AnalyticsStats, FlushResult, result_between

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


class Flushing(SpoolSharing):
    """Flush and shutdown of a batcher."""

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

        With a spool shared by other clients of this process, their workers are asked too
        and waited for: any of them may hold events this client tracked.

        Raises:
            ValidationError: ``timeout`` is not ``None`` or a number >= 0.
        """
        limit = _check_timeout(timeout)
        if self._pid != os.getpid():
            self.reset_after_fork()
        before = self.stats()
        if not before.pending or self._closing:
            return self._result_since(before)
        others = self._sharers()
        me = threading.current_thread()
        if self._thread is me or any(other._thread is me for other in others):
            # flush() was called from a callback on a worker of this spool: waiting for
            # the workers would never end (that one is here, and others may wait for it).
            return self._result_since(before)
        ends = None if limit is None else time.monotonic() + limit
        asked = [(other, other._ask_flush()) for other in others]
        self._flush_own(limit, ends)
        for other, request in asked:
            if request is not None:
                other._await_flush(*request, ends)
        return self._result_since(before)

    def _flush_own(self, limit: Optional[float], ends: Optional[float]) -> None:
        """Have this client's worker send what waits, waiting until ``ends``."""
        if self._thread is None:
            self._start_worker()
        if self._thread is None:
            # No worker can start (Python 3.12 refuses threads while the interpreter
            # exits, as in an atexit handler): send on this thread instead.
            self._flush_on_this_thread(limit)
            return
        # A worker that dies during this flush is replaced once and asked again, so the
        # caller neither waits out its whole timeout nor needs a second call.
        for _ in range(2):
            request = self._ask_flush()
            if request is None or not self._await_flush(*request, ends):
                return
            self._start_worker()

    def shutdown(self, timeout: Any = None) -> FlushResult:
        """Send what is queued within ``timeout`` (default ``shutdown_timeout``), then stop.

        With a spool shared by other clients of this process, their workers are asked to
        flush and waited for (within the same time), as :meth:`flush` does; only this
        client's worker stops. While any of those clients stays open, what is left is
        theirs to send: logged at INFO, not warned about.

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

    def begin_shutdown(self, timeout: Any = None) -> bool:
        """Refuse new messages and tell the worker to drain; ``True`` for the first call.

        Raises:
            ValidationError: ``timeout`` is not ``None`` or a number >= 0.
        """
        limit = _check_timeout(timeout)
        budget = self._config.shutdown_timeout if limit is None else limit
        if self._pid != os.getpid():
            self.reset_after_fork()
        # With another client of the spool staying open, this worker sends what waits now
        # (as a flush would) and leaves the rest to that client: a steady stream tracked
        # on it cannot hold this shutdown until its deadline.
        hand_over = self._others_stay_open()
        with self._cond:
            if self._closing:
                return False
            self._before_shutdown = self.stats()
            self._budget = budget
            self._deadline = time.monotonic() + budget
            self._hand_over = hand_over
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
        me = threading.current_thread()
        # Any worker of the spool may hold events this client tracked: ask the open
        # clients' workers to flush (as flush() does), and wait for them and for the
        # workers of the closing ones below, all by this shutdown's deadline. (With nothing
        # pending when the shutdown began, no worker held anything to wait for.)
        others = [
            other
            for other in (self._sharers() if self._before_shutdown.pending else [])
            if other._thread is not me
        ]
        asked = [(other, other._ask_flush()) for other in others if not other._closing]
        if thread is not None and thread is not me:
            self._await_worker(deadline)
        if (thread is None or (self._worker_done and not self._hand_over)) and len(self._queue):
            # The worker never started or died (for example a first track() while the
            # interpreter was exiting): drain on this thread instead.
            try:
                self._drain(everything=not self._hand_over)
            except Exception as exc:
                if hides_an_interrupt(exc):
                    raise KeyboardInterrupt from exc
                # What is left is reported below; the count must not be lost to an error.
                logger.exception("teleflow_py analytics: draining at shutdown failed")
        for other, request in asked:
            if request is not None:
                other._await_flush(*request, deadline)
        for other in others:
            if other._closing:
                other._await_worker(deadline)
        try:
            self._queue.persist(force=True)
        except Exception:
            logger.exception("teleflow_py analytics: writing the spool at shutdown failed")
        self._unwatch()
        result = self._result_since(self._before_shutdown)
        if self._report_left(result.pending):
            result = replace(result, left_to_others=result.pending)
        with self._cond:
            self._final = result
            self._cond.notify_all()
        return result

    def _report_left(self, pending: int) -> bool:
        """Say what this shutdown leaves undelivered, and to whom; ``True`` when it is left
        to other clients of the spool that stay open (their workers send it)."""
        staying = self._leave_spool()
        if not pending:
            return False
        queue = self._queue
        if staying and isinstance(queue, Spool):
            # Not a loss: their workers send it (whichever holds it now), and the last of
            # them to shut down reports what it cannot, so nothing is counted twice.
            logger.info(
                "teleflow_py analytics: %d pending events are left to %s of this process "
                "sharing the spool %s, which send them",
                pending,
                "another client" if len(staying) == 1 else f"{len(staying)} other clients",
                queue.path,
            )
            for other in staying:
                other._keep_sending()
            return True
        if isinstance(queue, Spool):
            logger.warning(
                "teleflow_py analytics: %d events were not delivered within %.1f s: %s",
                pending,
                self._budget,
                self._where_left(queue),
            )
        else:
            logger.warning(
                "teleflow_py analytics: %d events were not delivered at shutdown "
                "(server unreachable or too slow within %.1f s); they were only in memory "
                "and are lost with this process",
                pending,
                self._budget,
            )
        return False

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
