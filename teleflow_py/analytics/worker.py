"""The analytics worker thread: when to send, sending batch after batch, pauses in an outage.

One thread per client (per process), started on first use. It sends a batch when
``flush_at`` messages wait, when the oldest has waited ``flush_interval``, when a flush
asks, and drains at shutdown within its deadline (only what waits then, as a flush does,
when another client sharing its spool stays open to send the rest). The base of
:class:`~.sharing.SpoolSharing`.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Optional

from .._core.retry import backoff_delay
from .._waits import sleep
from .batch import MAX_BATCH_BYTES, MAX_BATCH_EVENTS
from .delivery import Outcome, Sender
from .drops import Drops
from .lifecycle import prepare_green_resolver, warn_if_uwsgi_without_threads

logger = logging.getLogger("teleflow_py.analytics")

# After a batch was given back (the server is failing), the worker pauses before trying
# again: 1 s, then doubling up to this cap, so an outage is not hammered.
_MAX_OUTAGE_PAUSE = 30.0
# A server asking for a longer wait than the retry cap is obeyed up to this many seconds.
_MAX_REQUESTED_PAUSE = 600.0


class Worker(Drops):
    """The worker thread of a batcher and the waits it shares with its callers."""

    _flush_at: int
    _interval: float
    _closing: bool
    _thread: Optional[threading.Thread]
    _flush_requested: int
    _flush_done: int
    _worker_done: bool
    _deadline: Optional[float]
    _hand_over: bool
    _sender: Sender

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
                self._drain(everything=not self._hand_over)
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
        # The queue counts a taken batch as pending until it is settled or given back.
        batch = self._queue.take(max(self._flush_at, MAX_BATCH_EVENTS), MAX_BATCH_BYTES)
        if batch is None:
            return None, 0
        self._end_drop_burst()
        try:
            return self._sender.send(batch), len(batch)
        except BaseException:
            # Unexpected (the transport was closed under us): keep the batch counted.
            self._queue.give_back(batch)
            raise
        finally:
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
        # Also on the exiting thread (a drain with no worker), where Ctrl-C must end it.
        sleep(seconds)
        return True
