"""Clients of one process sharing one spool: finding each other, asking each other's workers
to flush and waiting for them, and leaving the spool at shutdown.

Clients naming one spool path share one :class:`~.spool.Spool`, and any of their workers
may take (and be sending) the events another client tracked. So a flush or a shutdown
(:mod:`.flushing`) asks every worker of the spool and waits for each, and a client that
shuts down leaves what is still pending to those that stay open. The base of
:class:`~.flushing.Flushing`.
"""

from __future__ import annotations

import os
import threading
import time
import weakref
from typing import List, Optional, Tuple

from .._waits import wait_for
from .lifecycle import exit_flush_running
from .spool import Spool
from .worker import Worker

# The batchers of this process using each spool, so that a flush of one reaches them all.
_users: weakref.WeakKeyDictionary[Spool, weakref.WeakSet[SpoolSharing]] = (
    weakref.WeakKeyDictionary()
)
_users_lock = threading.Lock()


class SpoolSharing(Worker):
    """A batcher among the others of its process on the same spool."""

    _pid: int
    _left_spool: bool

    @property
    def shuts_down_at_exit(self) -> bool:
        """Whether the exit hook should shut this batcher down."""
        return self._config.register_atexit

    def _sharers(self) -> List[SpoolSharing]:
        """The other batchers of this process taking from this one's spool."""
        queue = self._queue
        if not isinstance(queue, Spool):
            return []
        with _users_lock:
            return self._sharers_of(queue)

    def _sharers_of(self, queue: Spool) -> List[SpoolSharing]:
        """:meth:`_sharers` (the caller holds ``_users_lock``)."""
        pid = os.getpid()
        # A batcher not yet reset after a fork still holds its parent's queue.
        return [user for user in _users.get(queue, ()) if user is not self and user._pid == pid]

    def _others_stay_open(self) -> bool:
        """Whether another client of this spool stays open after this one shuts down.

        Never during the exit flush: the exit hook shuts down every client that asked for
        it, and the workers of the others end with the process.
        """
        return not exit_flush_running() and any(
            not other._closing and not other._left_spool for other in self._sharers()
        )

    def _leave_spool(self) -> List[SpoolSharing]:
        """Stop serving the spool: the other batchers of this process that still do.

        They send what is left, or report it when they shut down. Marked and looked up
        under one lock, so of several shutting down at once exactly one finds none left
        (and reports what the spool still holds).
        """
        queue = self._queue
        exiting = exit_flush_running()
        with _users_lock:
            self._left_spool = True
            if not isinstance(queue, Spool):
                return []
            return [
                other
                for other in self._sharers_of(queue)
                if not other._left_spool and (other.shuts_down_at_exit or not exiting)
            ]

    def _keep_sending(self) -> None:
        """Make sure an open client's worker sends what another client left in the spool."""
        if self._closing:
            return  # it is draining, or drains when its shutdown finishes
        if self._thread is None:
            self._start_worker()
        self._wake.set()

    def _join_spool(self) -> None:
        """Be found by the flushes of the other clients sharing this one's spool."""
        queue = self._queue
        if isinstance(queue, Spool):
            with _users_lock:
                _users.setdefault(queue, weakref.WeakSet()).add(self)

    def _ask_flush(self) -> Optional[Tuple[threading.Thread, int]]:
        """Ask the worker to flush: ``(worker, request number)``, or ``None`` with no worker."""
        thread = self._thread
        if thread is None:
            return None
        with self._cond:
            self._flush_requested += 1
            wanted = self._flush_requested
        self._urgent.set()
        self._wake.set()
        return thread, wanted

    def _await_flush(self, thread: threading.Thread, wanted: int, ends: Optional[float]) -> bool:
        """Wait until ``thread`` did flush request ``wanted`` or ``ends``; True if it died first."""
        with self._cond:
            wait_for(
                self._cond,
                lambda: (
                    self._flush_done >= wanted or self._worker_done or self._thread is not thread
                ),
                None if ends is None else max(0.0, ends - time.monotonic()),
            )
            return self._thread is not thread and not self._closing

    def _await_worker(self, deadline: float) -> None:
        """Wait until the worker of a closing batcher has ended, or ``deadline``."""
        # The worker's own word, not join() or is_alive(): after a join interrupted by
        # Ctrl-C, Python 3.11 and older may mark a running thread stopped (bpo-45274).
        # In slices on the main thread, so a Ctrl-C ends the wait at once (see teleflow_py._waits).
        with self._cond:
            wait_for(
                self._cond,
                lambda: self._worker_done or self._thread is None,
                max(0.0, deadline - time.monotonic()),
            )
