"""The batcher: one client's analytics queue, its worker, flush and shutdown.

Callers ``put`` encoded messages and return at once. The worker (:mod:`.worker`, started
on the first ``put``, so a client used only for the Events API starts no thread) sends
the batches; :mod:`.flushing` holds flush and shutdown (also run at exit, see
:mod:`.lifecycle`); :mod:`.drops` counts and reports what is dropped.
"""

from __future__ import annotations

import os
import threading
import time
import weakref
from typing import Optional

from .._transport import Transport
from .._waits import wait
from ..config import ClientConfig
from ..integrations.otel import telemetry
from .batch import Message
from .delivery import Sender
from .flushing import Flushing
from .lifecycle import manage
from .spool import Spool
from .spool_share import open_queue
from .stats import AnalyticsHealth, AnalyticsStats, Counters, FlushResult


class Batcher(Flushing):
    """Queue and worker of one client. ``put`` is safe from any thread."""

    def __init__(self, config: ClientConfig, transport: Transport) -> None:
        self._config = config
        self._transport = transport
        self._flush_at = config.flush_at
        self._interval = config.flush_interval
        self._closing = False
        self._telemetry = telemetry()
        self._counting = self._telemetry.enabled  # queued events are a metric
        me = weakref.ref(self)
        # The queue-size gauge; it forgets this queue at shutdown or when it is collected.
        self._unwatch = self._telemetry.watch_queue(lambda: _pending_of(me()))
        weakref.finalize(self, self._unwatch)
        self._start_fresh()
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
        self._queue = open_queue(self._config)
        self._join_spool()
        self._make_waits()
        self._thread: Optional[threading.Thread] = None
        self._flush_requested = 0
        self._flush_done = 0
        self._worker_done = False
        self._deadline: Optional[float] = None
        # Set at shutdown while another client of the spool stays open (see .flushing),
        # and once this client no longer serves the spool (see .sharing).
        self._hand_over = False
        self._left_spool = False
        self._budget = 0.0
        self._before_shutdown = AnalyticsStats()
        self._final: Optional[FlushResult] = None
        self._refusal_logged = False
        self._sender = Sender(
            self._config, self._transport, self._queue, self._counters, self._retry_wait
        )

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
        if not queue.put(message) and (
            queue.full_reason != "queue_full" or not self._wait_for_room(message)
        ):
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
                wait(self._room, remaining)

    @property
    def pending(self) -> int:
        """Messages queued or in flight, counted by the queue at one instant."""
        return self._queue.pending()

    @property
    def queue(self) -> object:
        """The queue :attr:`pending` counts: one for the clients sharing a spool."""
        return self._queue

    def stats(self) -> AnalyticsStats:
        """Totals so far (see :class:`AnalyticsStats`)."""
        queue = self._queue
        fallback = queue.fallen_back if isinstance(queue, Spool) else 0
        return self._counters.snapshot(self.pending, spool_fallback=fallback)

    def health(self) -> AnalyticsHealth:
        """Whether events are flowing now (see :class:`AnalyticsHealth`)."""
        thread = self._thread
        queue = self._queue
        return self._counters.health(
            pending=self.pending,
            oldest_pending_age=queue.oldest_age(),
            worker_alive=thread is not None and thread.is_alive(),
            spool_path=self._config.spool_path,
            spool_problem=self._spool_problem(),
        )

    def _spool_problem(self) -> Optional[str]:
        queue = self._queue
        return queue.fault if isinstance(queue, Spool) else None

    def reset_after_fork(self) -> None:
        """Start over in a forked child: the parent keeps (and sends) its own messages."""
        closing = self._closing
        self._start_fresh()
        self._closing = closing
        if closing:
            self._final = FlushResult()
            self._left_spool = True


def _pending_of(batcher: Optional[Batcher]) -> int:
    """The gauge's reading of one client's queue (0 once the client is gone)."""
    return batcher.pending if batcher is not None else 0
