"""The batcher: a queue, one background worker thread, flush and shutdown.

Callers ``put`` encoded messages and return at once. The worker (started on the first
``put``, so a client used only for the Events API starts no thread) sends a batch when
``flush_at`` messages wait, when the oldest has waited ``flush_interval``, on ``flush()``
and at shutdown. The worker is a daemon thread: it never holds the interpreter open;
shutdown (also run at exit) drains the queue within ``shutdown_timeout``.
"""

from __future__ import annotations

import logging
import math
import os
import threading
import time
import weakref
from typing import Any, Dict, Optional

from .._core.deadline import clamp_wait
from .._core.retry import backoff_delay
from .._transport import Transport
from ..config import ClientConfig
from ..errors import ValidationError
from ..integrations.otel import telemetry
from .batch import MAX_BATCH_BYTES, MAX_BATCH_EVENTS, Batch, Message, decode
from .delivery import Outcome, Sender
from .lifecycle import manage, prepare_green_resolver, warn_if_uwsgi_without_threads
from .spool import open_queue
from .stats import AnalyticsHealth, AnalyticsStats, Counters, FlushResult, result_between

logger = logging.getLogger("teleflow_py.analytics")

# After a batch was given back (the server is failing), the worker pauses before trying
# again: 1 s, then doubling up to this cap, so an outage is not hammered.
_MAX_OUTAGE_PAUSE = 30.0
# A server asking for a longer wait than the retry cap is obeyed up to this many seconds.
_MAX_REQUESTED_PAUSE = 600.0


def _check_timeout(timeout: Any) -> Optional[float]:
    if timeout is None:
        return None
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)):
        raise ValidationError("timeout", f"must be a number of seconds or None, not {timeout!r}")
    if math.isnan(timeout) or timeout < 0:
        raise ValidationError("timeout", f"must be >= 0, got {timeout!r}")
    # math.inf means "no limit", in a form the standard library's waits accept.
    return clamp_wait(float(timeout))


class Batcher:
    """Queue and worker of one client. ``put`` is safe from any thread."""

    def __init__(self, config: ClientConfig, transport: Transport) -> None:
        self._config = config
        self._transport = transport
        self._flush_at = config.flush_at
        self._interval = config.flush_interval
        self._closing = False
        self._telemetry = telemetry()
        self._counting = self._telemetry.enabled  # queued events are a metric
        self._start_fresh()
        me = weakref.ref(self)
        # The queue-size gauge; it forgets this queue at shutdown or when it is collected.
        self._unwatch = self._telemetry.watch_queue(lambda: _pending_of(me()))
        weakref.finalize(self, self._unwatch)
        manage(self)
        if len(self._queue):
            # A spool holds what an earlier process left: send it now, not on first use.
            self._start_worker()

    def _start_fresh(self) -> None:
        """Everything a process needs of its own: queue, locks, thread, counters."""
        self._pid = os.getpid()
        self._counters = Counters(self._telemetry)
        self._drop_lock = threading.Lock()
        self._burst = 0
        self._queue = open_queue(self._config, self._drop)
        self._make_waits()
        self._thread: Optional[threading.Thread] = None
        self._flush_requested = 0
        self._flush_done = 0
        self._worker_done = False
        self._inflight = 0
        self._deadline: Optional[float] = None
        self._budget = 0.0
        self._before_shutdown = AnalyticsStats()
        self._final: Optional[FlushResult] = None
        self._refusal_logged = False
        self._sender = Sender(
            self._config, self._transport, self._queue, self._counters, self._retry_wait
        )

    def _make_waits(self) -> None:
        """The conditions and events the worker and its callers wait on."""
        # gevent and eventlet replace threading's primitives when they patch: note which
        # ones these are, so a worker started after patching gets its own kind.
        self._lock_type: object = threading.Lock
        self._cond = threading.Condition()
        # Callers waiting for room in a full queue (queue_full_timeout) wait on this.
        self._room = threading.Condition()
        self._wake = threading.Event()
        # Set by flush() and shutdown() only: they, not new events, cut an outage pause short.
        self._urgent = threading.Event()
        self._stop = threading.Event()

    # -- caller side ------------------------------------------------------------------

    def put(self, message: Message) -> bool:
        """Queue an encoded message; ``False`` when it was dropped or refused (counted)."""
        if self._pid != os.getpid():
            # Forked without the at-fork hook: forget the parent's messages (the parent
            # sends them) before this process queues its own.
            self.reset_after_fork()
        if self._closing:
            return self._refuse(message)
        queue = self._queue
        if not queue.put(message) and not self._wait_for_room(message):
            return self._drop(message, queue.full_reason)
        if self._counting:
            self._telemetry.queued(1)
        if self._thread is None:
            self._start_worker()
        waiting = len(queue)
        # Wake the worker only on the transitions it cares about: the first message (its
        # flush_interval clock starts) and a full batch.
        if (waiting == 1 or waiting >= self._flush_at) and not self._wake.is_set():
            self._wake.set()
        return True

    def _wait_for_room(self, message: Message) -> bool:
        """Wait up to ``queue_full_timeout`` for the worker to make room; ``True`` if queued."""
        timeout = self._config.queue_full_timeout
        if not timeout or self._closing or threading.current_thread() is self._thread:
            return False
        end = time.monotonic() + timeout
        if self._thread is None:
            self._start_worker()
        self._wake.set()
        with self._room:
            while True:
                if self._queue.put(message):
                    return True
                remaining = end - time.monotonic()
                if remaining <= 0 or self._closing or self._thread is None:
                    return False
                self._room.wait(remaining)

    @property
    def pending(self) -> int:
        """Messages queued or in flight."""
        return len(self._queue) + self._inflight

    def stats(self) -> AnalyticsStats:
        """Totals so far (see :class:`AnalyticsStats`)."""
        return self._counters.snapshot(self.pending)

    def health(self) -> AnalyticsHealth:
        """Whether events are flowing now (see :class:`AnalyticsHealth`)."""
        thread = self._thread
        return self._counters.health(
            pending=self.pending,
            oldest_pending_age=self._queue.oldest_age(),
            worker_alive=thread is not None and thread.is_alive(),
            spool_path=self._config.spool_path,
        )

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
            self._cond.wait_for(
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
            self._cond.wait_for(lambda: self._final is not None, remaining)
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
            with self._cond:
                self._cond.wait_for(
                    lambda: self._worker_done, max(0.0, deadline - time.monotonic())
                )
        if (thread is None or self._worker_done) and len(self._queue):
            # The worker never started or died (for example a first track() while the
            # interpreter was exiting): drain on this thread instead.
            try:
                self._drain(everything=True)
            except Exception:
                # What is left is reported below; the count must not be lost to an error.
                logger.exception("teleflow_py analytics: draining at shutdown failed")
        try:
            self._queue.persist()
        except Exception:
            logger.exception("teleflow_py analytics: writing the spool at shutdown failed")
        self._unwatch()
        result = self._result_since(self._before_shutdown)
        spool = self._config.spool_path
        if result.pending and spool is not None:
            logger.warning(
                "teleflow_py analytics: %d events were not delivered within %.1f s; they "
                "stay in the spool %s and are sent by the next client that opens it",
                result.pending,
                self._budget,
                spool,
            )
        elif result.pending:
            logger.warning(
                "teleflow_py analytics: %d events were not delivered at shutdown "
                "(server unreachable or too slow within %.1f s)",
                result.pending,
                self._budget,
            )
        with self._cond:
            self._final = result
            self._cond.notify_all()
        return result

    def reset_after_fork(self) -> None:
        """Start over in a forked child: the parent keeps (and sends) its own messages."""
        closing = self._closing
        self._start_fresh()
        self._closing = closing
        if closing:
            self._final = FlushResult()

    # -- drops and refusals -----------------------------------------------------------

    def _drop(self, message: Message, reason: str) -> bool:
        self._counters.dropped(reason)
        with self._drop_lock:
            first = self._burst == 0
            self._burst += 1
        if first and reason == "spool_full":
            logger.warning(
                "teleflow_py analytics: the spool %s is full (spool_max_bytes=%d); new "
                "events are dropped until it drains (see on_drop and analytics_stats)",
                self._config.spool_path,
                self._config.spool_max_bytes,
            )
        elif first:
            logger.warning(
                "teleflow_py analytics: the queue is full (max_queue_size=%d, "
                "max_queue_bytes=%d); new events are dropped until it drains (see on_drop "
                "and analytics_stats)",
                self._config.max_queue_size,
                self._config.max_queue_bytes,
            )
        self._call_on_drop(message, reason)
        return False

    def _end_drop_burst(self) -> None:
        # A burst ends once the queue is below half full, so a queue hovering at its
        # limit logs once rather than once per batch.
        if self._burst and len(self._queue) * 2 < self._config.max_queue_size:
            with self._drop_lock:
                dropped, self._burst = self._burst, 0
            logger.warning(
                "teleflow_py analytics: %d events were dropped while the queue was full",
                dropped,
            )

    def _refuse(self, message: Message) -> bool:
        self._counters.dropped("shutdown")
        if not self._refusal_logged:
            self._refusal_logged = True
            logger.warning(
                "teleflow_py analytics: an event was sent after shutdown() and not queued "
                "(counted in analytics_stats.dropped_by_reason['shutdown'])"
            )
        self._call_on_drop(message, "shutdown")
        return False

    def _call_on_drop(self, message: Message, reason: str) -> None:
        on_drop = self._config.on_drop
        if on_drop is None:
            return
        event: Dict[str, Any] = decode(message.parts[0] if isinstance(message, Batch) else message)
        try:
            on_drop(event, reason)
        except Exception:
            logger.exception("teleflow_py analytics: on_drop raised")

    # -- worker side ------------------------------------------------------------------

    def _start_worker(self) -> None:
        if self._thread is None and threading.Lock is not self._lock_type:
            # Monkey-patched since the client was made: the worker will be a greenlet, and
            # a greenlet waiting on a real lock would block every other one.
            wake, urgent = self._wake.is_set(), self._urgent.is_set()
            self._make_waits()
            if wake:
                self._wake.set()
            if urgent:
                self._urgent.set()
        with self._cond:
            if self._thread is not None or self._closing:
                return
            warn_if_uwsgi_without_threads()
            thread = threading.Thread(target=self._run, name="teleflow-analytics", daemon=True)
            try:
                thread.start()
            except RuntimeError:
                # Python refuses new threads while the interpreter exits; shutdown at
                # exit then drains on its own thread.
                logger.debug("teleflow_py analytics: cannot start the worker", exc_info=True)
                return
            self._thread = thread

    def _run(self) -> None:
        try:
            prepare_green_resolver(self._config.base_url)
            self._loop()
        except Exception as exc:
            # After close() the transport refuses to send; the loss is reported by shutdown.
            if not self._closing:
                self._counters.worker_died(exc)
                logger.exception(
                    "teleflow_py analytics: the worker stopped; the next track() or flush() "
                    "starts a new one (nothing queued is lost)"
                )
        finally:
            with self._cond:
                self._worker_done = True
                if not self._closing:
                    # Died unexpectedly: the next put() starts a new worker.
                    self._thread = None
                    self._worker_done = False
                self._cond.notify_all()

    def _loop(self) -> None:
        oldest: Optional[float] = None  # when the worker first saw a message waiting
        failures = 0
        while True:
            self._wake.clear()
            with self._cond:
                closing = self._closing
                wanted = self._flush_requested
            if closing:
                self._drain(everything=True)
                return
            if wanted > self._flush_done:
                self._drain(everything=False)
                with self._cond:
                    self._flush_done = wanted
                    self._cond.notify_all()
                oldest = None if not len(self._queue) else time.monotonic()
                continue
            waiting = len(self._queue)
            now = time.monotonic()
            if not waiting:
                oldest = None
                # A fallback poll: two racing puts can both miss the "first message" wake.
                timeout = self._interval
            else:
                if oldest is None:
                    oldest = now
                due = oldest + self._interval
                if waiting >= self._flush_at or now >= due:
                    outcome, _ = self._send_next()
                    if outcome is Outcome.GIVEN_BACK:
                        failures += 1
                        self._pause(self._outage_pause(failures))
                    else:
                        failures = 0
                    if not len(self._queue):
                        oldest = None
                    continue
                timeout = due - now
            self._wake.wait(timeout)

    def _send_next(self) -> tuple[Optional[Outcome], int]:
        # Counted as in flight before it leaves the queue, so `pending` never reads 0
        # while a batch is between the two.
        size = max(self._flush_at, MAX_BATCH_EVENTS)
        self._inflight = size
        batch = self._queue.take(size, MAX_BATCH_BYTES)
        if batch is None:
            self._inflight = 0
            return None, 0
        self._inflight = len(batch)
        self._end_drop_burst()
        try:
            return self._sender.send(batch), len(batch)
        except BaseException:
            # Unexpected (the transport was closed under us): keep the batch counted.
            self._queue.give_back(batch)
            raise
        finally:
            self._inflight = 0
            # A settled batch frees its room: wake callers waiting for it.
            with self._room:
                self._room.notify_all()

    def _drain(self, everything: bool) -> None:
        """Send until the queue is empty, a batch is given back, or time is up.

        A flush (``everything`` false) stops once it has settled as many messages as were
        waiting when it began, so a steady stream of new events cannot keep it going.
        """
        budget = len(self._queue)
        settled = 0
        failures = 0
        while everything or settled < budget:
            deadline = self._deadline
            if deadline is not None and time.monotonic() >= deadline:
                return
            outcome, size = self._send_next()
            if outcome is None:
                return
            if outcome is Outcome.GIVEN_BACK:
                # A flush ends here (the batch waits at the front); shutdown keeps trying
                # with backoff while its deadline allows, since nothing comes after it.
                failures += 1
                if not everything or not self._retry_wait(self._outage_pause(failures)):
                    return
                continue
            failures = 0
            if outcome is Outcome.SETTLED:
                settled += size

    def _outage_pause(self, failures: int) -> float:
        """How long to wait after the ``failures``-th batch in a row was given back.

        Backoff from 1 s to 30 s, or longer when the server asked for a wait beyond the
        retry cap (a long ``Retry-After``), up to :data:`_MAX_REQUESTED_PAUSE`.
        """
        pause = backoff_delay(failures, initial=1.0, maximum=_MAX_OUTAGE_PAUSE)
        requested = self._sender.requested_wait
        if requested is not None:
            pause = max(pause, min(requested, _MAX_REQUESTED_PAUSE))
        return pause

    def _pause(self, seconds: float) -> None:
        """Wait after a failure; only flush() and shutdown() cut it short, not new events."""
        end = time.monotonic() + seconds
        while True:
            remaining = end - time.monotonic()
            if remaining <= 0:
                return
            self._urgent.wait(remaining)
            # Cleared before looking, so a flush() asked for meanwhile is never missed.
            self._urgent.clear()
            with self._cond:
                if self._closing or self._flush_requested > self._flush_done:
                    return

    def _retry_wait(self, seconds: float) -> bool:
        """Wait before retrying a batch; ``False`` when shutdown leaves no time for it."""
        deadline = self._deadline
        if deadline is None:
            if not self._stop.wait(seconds):
                return True
            # Shutdown began during the wait: retry now, within its deadline.
            deadline = self._deadline
            return deadline is None or time.monotonic() < deadline
        if time.monotonic() + seconds > deadline:
            return False
        time.sleep(seconds)
        return True

    def _result_since(self, before: AnalyticsStats) -> FlushResult:
        after = self.stats()
        return result_between(before, after, self._counters.errors_after(before.errors))


def _pending_of(batcher: Optional[Batcher]) -> int:
    """The gauge's reading of one client's queue (0 once the client is gone)."""
    return batcher.pending if batcher is not None else 0
