"""The spool's storage-fault policy: write or fall back, probe, resume; settle batches.

Every write to the spool file goes through :meth:`Fallback.write`: one transaction, and
any storage failure (disk full, quota, read-only file or folder, permission, I/O error,
``SQLITE_BUSY`` past the busy timeout, the file removed or replaced) becomes a
:class:`~.spool_file.SpoolError` that puts the spool in *fallback*:

* new messages (group mode) go to a bounded memory queue and are sent from there; they
  are counted (``AnalyticsStats.spool_fallback``) and the fault is logged once and shown
  by ``analytics_health().spool_problem``;
* a batch the worker holds that cannot be released or deleted in the file is kept here
  (``local``) and sent again, or deleted later (``postponed``);
* a probe every :data:`Fallback.PROBE_EVERY` seconds tries a small write (or reopens a
  removed file); when it succeeds the fault ends and what waited in memory is written to
  the file.

A removed or replaced file: what the old file still holds is read back into memory
(``salvage``), since it would be lost with the process, and a new spool is started at the
path by the next probe.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sqlite3
import threading
import time
from collections import deque
from typing import Any, Callable, Deque, Dict, List, Optional, Sequence, Tuple, TypeVar

from ..config import ClientConfig
from . import spool_rows as rows
from .batch import EVENTS_PATH, Batch, Message
from .ids import new_message_id
from .queue import MemoryQueue, message_size
from .spool_file import SpoolError, SpoolStorageError, is_storage_fault, rollback

logger = logging.getLogger("teleflow_py.analytics")

T = TypeVar("T")


class Fallback:
    """The spool's connection and its fault handling (the base of :class:`~.spool.Spool`)."""

    #: Seconds between attempts to use a faulty spool again.
    PROBE_EVERY = 1.0
    #: A fault that begins again within this many seconds of the last warning is not
    #: warned about again (nor its end).
    WARN_EVERY = 60.0

    path: str
    sync: bool
    _owner: str

    def __init__(self, config: ClientConfig) -> None:
        self._db = threading.RLock()
        self._lock = threading.Lock()
        self.connection: Optional[Any] = None
        self._identity: Optional[Tuple[int, int]] = None
        self._page_size = 4096
        self._estimate = 0
        self.memory = MemoryQueue(config.max_queue_size, config.max_queue_bytes, new_message_id)
        #: The storage fault now, as text; ``None`` while the file works.
        self.fault: Optional[str] = None
        self._probe_at = 0.0
        self._warned_at = -self.WARN_EVERY
        self._resumed = False
        #: Messages kept in memory because the file could not take them (since start).
        self.fallen_back = 0
        self.full_reason = "queue_full"
        # Batch rows this process claimed, and the key each was claimed with.
        self.claimed: Dict[Optional[int], str] = {}
        # Claimed batches the file could not release (sent again from here), halves of a
        # split the file could not store (parent row -> halves not yet settled), and
        # settlements the file could not record (row -> (key, error)).
        self._local: Deque[Batch] = deque()
        self._halves: Dict[int, int] = {}
        self._postponed: Dict[int, Tuple[str, Optional[str]]] = {}
        # Rows of a removed file that batches in flight still name.
        self._gone: set[int] = set()

    # -- the connection -------------------------------------------------------------------

    def attach(self, conn: Any) -> None:
        """Use ``conn`` (just opened) from now on."""
        stat = os.stat(self.path)
        self.connection = conn
        self._identity = (stat.st_dev, stat.st_ino)
        self._page_size = int(conn.execute("PRAGMA page_size").fetchone()[0])
        self._estimate = rows.used_bytes(conn, self._page_size)

    def _check_in_place(self) -> None:
        """Raise when the file was removed or replaced since it was opened."""
        try:
            stat = os.stat(self.path)
        except FileNotFoundError:
            raise SpoolStorageError(f"the spool file {self.path} was removed") from None
        if (stat.st_dev, stat.st_ino) != self._identity:
            raise SpoolStorageError(f"the spool file {self.path} was replaced")

    def write(self, work: Callable[[Any], T]) -> T:
        """Run ``work(conn)`` in one write transaction and commit it.

        Raises:
            SpoolError: a storage failure; nothing of ``work`` was kept.
        """
        with self._db:
            conn = self.connection
            if conn is None:
                raise SpoolStorageError(f"the spool {self.path} is not open")
            try:
                self._check_in_place()
                conn.execute("BEGIN IMMEDIATE")
                result = work(conn)
                conn.execute("COMMIT")
            except (sqlite3.Error, OSError, SpoolError) as exc:
                rollback(conn)
                if isinstance(exc, SpoolError):
                    raise
                if isinstance(exc, sqlite3.Error) and not is_storage_fault(exc):
                    # Damage found while running: a storage fault too (the file moves
                    # aside at the next start), never a crash of the worker.
                    raise SpoolStorageError(f"the spool {self.path} is damaged: {exc}") from exc
                raise SpoolStorageError(f"cannot write the spool {self.path}: {exc}") from exc
            with contextlib.suppress(sqlite3.Error):
                self._estimate = rows.used_bytes(conn, self._page_size)
            return result

    # -- faults -------------------------------------------------------------------------

    def begin_fault(self, exc: BaseException) -> None:
        """Enter (or stay in) fallback after ``exc``; logged once per fault."""
        now = time.monotonic()
        with self._lock:
            first = self.fault is None
            self.fault = str(exc)
            self._probe_at = now + self.PROBE_EVERY
            # A fault that comes back soon after it ended (a file at its size limit takes
            # a small write, then refuses the next) is the same fault: warned once.
            warn = first and now - self._warned_at > self.WARN_EVERY
            if warn:
                self._warned_at = now
        if not first:
            return
        if self.sync:
            then = (
                "track() returns False for new events (dropped, reason 'spool_error') until it can"
            )
        else:
            then = (
                "new events are kept in memory and sent from there (lost if the process "
                "ends before they are sent) until it can"
            )
        if warn:
            logger.warning("teleflow_py analytics: %s; %s", exc, then)
        else:
            logger.debug("teleflow_py analytics: %s (again)", exc)
        if "was removed" in str(exc) or "was replaced" in str(exc):
            self._salvage()
        self.wake_writer()

    def probe_due(self) -> bool:
        """Whether a faulty spool may be tried again now."""
        return time.monotonic() >= self._probe_at

    def probe(self) -> bool:
        """Try the file again; ``True`` (and the fault ended) when a write works."""
        with self._db:
            if self.fault is None:
                return True
            self._probe_at = time.monotonic() + self.PROBE_EVERY
            if self.connection is None and not self.reopen():
                return False
            try:
                self.write(lambda conn: conn.execute("UPDATE meta SET value = value"))
            except SpoolError as exc:
                with self._lock:
                    self.fault = str(exc)
                return False
            with self._lock:
                self.fault = None
                quiet = time.monotonic() - self._warned_at < self.WARN_EVERY and self._resumed
                self._resumed = True
            if quiet:
                return True
            logger.warning(
                "teleflow_py analytics: the spool %s can be written again; the %d events "
                "kept in memory meanwhile go to it",
                self.path,
                self.memory.pending(),
            )
            return True

    def _salvage(self) -> None:
        """Read what a removed file holds back into memory, and let the file go."""
        with self._db:
            conn, self.connection = self.connection, None
            if conn is None:
                return
            moved = 0
            try:
                for key, path, parts in rows.unsent(conn, self._owner):
                    message: Message = (
                        parts[0]
                        if key is None and path == EVENTS_PATH
                        else Batch(key or new_message_id(), parts, path)
                    )
                    self.memory.put(message, force=True)
                    moved += len(parts)
            except sqlite3.Error as exc:
                logger.warning("teleflow_py analytics: reading the removed spool failed: %s", exc)
            self._salvaged(moved)
            # Batches taken from the removed file now live in memory only.
            self._gone.update(row for row in self.claimed if row is not None)
            self.claimed.clear()
            self._halves.clear()
            self._postponed.clear()
            with self._lock:
                local, self._local = list(self._local), deque()
            for batch in local:
                self.settled(len(batch))
                self.memory.put(Batch(batch.key, batch.parts, batch.path), force=True)
            with contextlib.suppress(sqlite3.Error):
                conn.close()

    # -- memory -------------------------------------------------------------------------

    def keep_in_memory(self, message: Message, count: int, force: bool = False) -> bool:
        """Queue ``message`` in memory during a fault (under ``_lock``)."""
        if not self.memory.put(message, force=force):
            self.full_reason = "queue_full"
            return False
        self.fallen_back += count
        return True

    def take_from_memory(self) -> List[Batch]:
        """Everything waiting in memory, as batches (to be written to the file)."""
        taken: List[Batch] = []
        while True:
            batch = self.memory.take(1000, 500 * 1024)
            if batch is None:
                return taken
            taken.append(batch)

    def return_to_memory(self, batches: Sequence[Batch]) -> None:
        """Batches taken by :meth:`take_from_memory` that the file did not take."""
        if batches:
            self.memory.give_back(*batches)

    def settle_memory(self, batches: Sequence[Batch]) -> None:
        """Batches taken by :meth:`take_from_memory` that are now in the file (under
        ``_lock``, with the count of the file, so the pending count never jumps)."""
        for batch in batches:
            self.memory.ack(batch)

    # -- settling batches -----------------------------------------------------------------

    def take_local(self) -> Optional[Batch]:
        """A batch held here because the file could not release it."""
        with self._lock:
            return self._local.popleft() if self._local else None

    def local_count(self) -> int:
        """Messages in batches held here (under ``_lock``)."""
        return sum(len(batch) for batch in self._local)

    def give_back(self, *batches: Batch) -> None:
        """Release a batch (key kept) or, after a split, store its halves in its place."""
        if not batches:
            return
        parent = batches[0].spool_id
        if parent is None:
            self.memory.give_back(*batches)
            return
        count = sum(len(batch) for batch in batches)
        if parent in self._gone:
            self._gone.discard(parent)
            self.settled(count)
            for batch in batches:
                self.memory.put(Batch(batch.key, batch.parts, batch.path), force=True)
            return
        if parent in self._halves:
            self._halves[parent] += len(batches) - 1
            with self._lock:
                self._local.extendleft(reversed(batches))
            return
        key = self.claimed.pop(parent, None)
        whole = len(batches) == 1 and batches[0].key == key
        # Released and counted as waiting under one hold of the file, so a recount in
        # between cannot count the rows twice.
        with self._db:
            try:
                if whole:
                    self.write(lambda conn: rows.release(conn, parent))
                else:
                    self.write(lambda conn: rows.store_split(conn, parent, batches))
            except SpoolError as exc:
                self.begin_fault(exc)
                if key is not None:
                    self.claimed[parent] = key
                if not whole:
                    self._halves[parent] = len(batches)
                with self._lock:
                    self._local.extendleft(reversed(batches))
                return
            self.handed_back(count)

    def ack(self, batch: Batch) -> None:
        """Delete a delivered batch and its messages."""
        self._finish(batch, None)

    def reject(self, batch: Batch, error: Exception) -> None:
        """Move a batch refused for good to the dead letters (see ``retry_dead_letters``)."""
        self._finish(batch, f"{type(error).__name__}: {error}")

    def _finish(self, batch: Batch, error: Optional[str]) -> None:
        row = batch.spool_id
        if row is None:
            if error is None:
                self.memory.ack(batch)
            else:
                self.memory.reject(batch, Exception(error))
            return
        self._record_finish(row, batch.key, error)
        # Pending until the file has it settled (or the settlement is postponed): a flush
        # finding nothing pending finds nothing left in the file either.
        self.settled(len(batch))

    def _record_finish(self, row: int, key: str, error: Optional[str]) -> None:
        if row in self._gone:
            self._gone.discard(row)
            return
        if row in self._halves:
            self._halves[row] -= 1
            if self._halves[row] > 0:
                return
            del self._halves[row]
        key = self.claimed.pop(row, key)
        try:
            self.write(lambda conn: rows.finish(conn, row, key, error))
        except SpoolError as exc:
            # Sent again later under the same key if the process ends first: the server
            # recognises the key, so nothing arrives twice.
            self.begin_fault(exc)
            self._postponed[row] = (key, error)

    def finish_postponed(self, conn: Any, postponed: Dict[int, Tuple[str, Optional[str]]]) -> None:
        """Record settlements the file could not take earlier (inside a transaction)."""
        for row, (key, error) in postponed.items():
            rows.finish(conn, row, key, error)

    def postponed(self) -> Dict[int, Tuple[str, Optional[str]]]:
        """The settlements waiting to be recorded (a copy)."""
        return dict(self._postponed)

    def recorded(self, postponed: Dict[int, Tuple[str, Optional[str]]]) -> None:
        """The settlements of :meth:`finish_postponed` were committed."""
        for row in postponed:
            self._postponed.pop(row, None)

    def count_in_file(self) -> Optional[int]:
        """Events in the file (every process's), or ``None`` when it cannot be read."""
        try:
            with self._db:
                conn = self.connection
                if conn is None:
                    return None
                return int(conn.execute("SELECT count(*) FROM events").fetchone()[0])
        except sqlite3.Error:
            return None

    @staticmethod
    def size_of(message: Message) -> Tuple[int, int]:
        """``(messages, bytes)`` of a queued message."""
        if type(message) is bytes:
            return 1, len(message)
        return len(message), message_size(message)

    # -- provided by the spool --------------------------------------------------------------

    def wake_writer(self) -> None:
        """Start (or wake) the thread that commits and probes."""
        raise NotImplementedError

    def reopen(self) -> bool:
        """Open the file again; ``True`` when it works."""
        raise NotImplementedError

    def settled(self, count: int) -> None:
        """Held messages were settled."""
        raise NotImplementedError

    def handed_back(self, count: int) -> None:
        """Held messages went back to the file."""
        raise NotImplementedError

    def _salvaged(self, count: int) -> None:
        raise NotImplementedError
