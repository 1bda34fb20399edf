"""The durable queue: an SQLite spool standing in for the in-memory queue.

``Client(spool_path=...)`` keeps every tracked message in an SQLite file (WAL) until the
server answered 2xx for it:

* ``spool_mode="group"`` (the default): ``track()`` appends to a small buffer and returns;
  a writer thread commits the buffer every :data:`GROUP_WINDOW` seconds or sooner.
* ``spool_mode="sync"``: ``track()`` returns ``True`` only once its commit succeeded
  (synchronous=FULL).

The worker forms a batch from the oldest messages and stores it with its idempotency key
before sending; it leaves the spool after a 2xx, or moves to the dead letters when refused
for good. Several processes may share a path (a batch is claimed by the one sending it);
the clients of one process share one :class:`Spool` per path.

Storage faults follow one policy, in :mod:`.spool_fallback` (docs/storage-faults.rst):
group mode keeps in memory what cannot be written, sync mode refuses it; a probe resumes.
"""

from __future__ import annotations

import logging
import os
import threading
import time
import weakref
from typing import Any, Dict, List, Optional, Tuple

from .._fork import on_fork
from ..config import ClientConfig
from . import spool_rows as rows
from .batch import Batch, Message
from .ids import new_message_id
from .spool_fallback import Fallback
from .spool_file import SpoolError, is_storage_fault, open_spool

logger = logging.getLogger("teleflow_py.analytics")

#: The writer thread commits what was tracked at most this long after the first of it.
GROUP_WINDOW = 0.02
#: How often an idle spool looks for messages other processes left (seconds).
REFRESH_EVERY = 1.0
#: Bytes a spooled message is counted for beyond its JSON (row, index, page slack).
ROW_OVERHEAD = 64
#: At most this many messages (and bytes) are committed in one transaction.
CHUNK = 1000
CHUNK_BYTES = 256 * 1024

# Connections held when a fork happens: a child must never close (or use) its parent's
# SQLite connections, so the child keeps them referenced forever (see _before_fork).
_live: weakref.WeakSet[Spool] = weakref.WeakSet()
_held_across_fork: List[Any] = []


def _before_fork() -> None:
    _held_across_fork.extend(spool.connection for spool in list(_live))


def _after_fork_in_parent() -> None:
    _held_across_fork.clear()


on_fork(before=_before_fork, after_in_parent=_after_fork_in_parent)


class Spool(Fallback):
    """A :class:`~teleflow_py.analytics.MessageQueue` in an SQLite file.

    ``put`` is called from any thread; the rest from worker threads (one per client
    sharing the spool). One connection, used under a lock, serves them all.
    """

    def __init__(self, config: ClientConfig) -> None:
        assert config.spool_path is not None
        self.path = config.spool_path
        self.sync = config.spool_mode == "sync"
        self.max_bytes = config.spool_max_bytes
        self._max_buffered = config.max_queue_size
        self._max_buffered_bytes = config.max_queue_bytes
        self._pid = os.getpid()
        self._owner = f"{self._pid}:{new_message_id()}"
        self._synchronous = "FULL" if self.sync else "NORMAL"
        super().__init__(config)
        # Messages tracked but not yet committed (group mode), with when they came.
        self._buffer: List[Tuple[Message, float]] = []
        self._buffered_bytes = 0
        self._buffered = threading.Event()
        self._writer: Optional[threading.Thread] = None
        # Messages in the file waiting to be taken (other processes add and take too, so
        # recounted now and then), and those this process took and has not settled.
        self._waiting = 0
        self._held = 0
        self._refreshed = 0.0
        self._chunk = CHUNK
        # A path holding something else, or a storage fault at start, leaves the spool in
        # fallback, to be opened by a later probe.
        self._open()
        _live.add(self)

    # -- callers ------------------------------------------------------------------------

    def put(self, message: Message) -> bool:
        """Buffer (group mode) or commit (sync mode) ``message``; ``False`` when refused."""
        if self.sync:
            return self._put_sync(message)
        count, size = self.size_of(message)
        now = time.time()
        with self._lock:
            if self.fault is not None:
                return self.keep_in_memory(message, count)
            if self._estimate + self._buffered_bytes + size + ROW_OVERHEAD * count > self.max_bytes:
                self.full_reason = "spool_full"
                return False
            if self._buffer and (
                len(self._buffer) + count > self._max_buffered
                or self._buffered_bytes + size > self._max_buffered_bytes
            ):
                self.full_reason = "queue_full"
                return False
            first = not self._buffer
            self._buffer.append((message, now))
            self._buffered_bytes += size + ROW_OVERHEAD * count
        if first:
            self.start_writer()
            self._buffered.set()
        return True

    def _put_sync(self, message: Message) -> bool:
        count, size = self.size_of(message)
        if self.fault is not None and not self.probe_due():
            self.full_reason = "spool_error"
            return False
        with self._db:
            if self.fault is not None and not self.probe():
                self.full_reason = "spool_error"
                return False
            if self._estimate + size + ROW_OVERHEAD * count > self.max_bytes:
                self.full_reason = "spool_full"
                return False
            try:
                self.write(lambda conn: rows.store(conn, [(message, time.time())]))
            except SpoolError as exc:
                self.begin_fault(exc)
                self.full_reason = "spool_error"
                return False
            with self._lock:
                self._waiting += count
        return True

    def wake_writer(self) -> None:
        """Start or wake the writer thread (to probe a faulty spool, say)."""
        self.start_writer()
        self._buffered.set()

    def start_writer(self) -> None:
        """Start the thread that commits the buffer and probes a faulty spool."""
        with self._lock:
            if self._writer is not None:
                return
            thread = threading.Thread(target=self._write_loop, name="teleflow-spool", daemon=True)
            try:
                thread.start()
            except RuntimeError:
                # The interpreter is exiting; persist() at shutdown commits instead.
                return
            self._writer = thread

    def _write_loop(self) -> None:
        while True:
            woken = self._buffered.wait(None if self.fault is None else self.PROBE_EVERY)
            if woken:
                # Let a burst gather, so one commit carries many calls.
                time.sleep(GROUP_WINDOW)
                self._buffered.clear()
            try:
                if self.fault is not None and not (self.probe_due() and self.probe()):
                    continue
                self.persist()
            except Exception as exc:
                # Never let the writer die: the next round tries again.
                logger.debug("teleflow_py analytics: the spool writer failed", exc_info=exc)
                time.sleep(1.0)

    def persist(self, force: bool = False) -> None:
        """Commit what waited in memory during a fault (older) and what is buffered.

        In chunks: a chunk the file refuses is tried again at half the size, so a file
        near its size limit takes what fits; only a single message refused is a fault.
        ``force`` (at shutdown) tries the file even during a fault, before its probe is due.
        """
        with self._db:
            if self.fault is not None and (not (force or self.probe_due()) or not self.probe()):
                self._buffer_to_memory()
                return
            memory = True
            while True:
                step = self._persist_chunk(memory)
                if step is None:
                    return
                memory = step

    def _persist_chunk(self, memory: bool) -> Optional[bool]:
        """Commit one chunk; ``None`` when done, else whether to take from memory next."""
        limit = self._chunk
        batch = self.memory.take(limit, CHUNK_BYTES) if memory else None
        with self._lock:
            if batch is not None:
                items: List[Tuple[Message, float]] = [(batch, time.time())]
                moved = 0
            else:
                items, self._buffer = self._buffer[:limit], self._buffer[limit:]
                moved = sum(self.size_of(message)[0] for message, _ in items)
                self._buffered_bytes -= sum(self._cost(message) for message, _ in items)
                # Counted as waiting before they leave the buffer, so the pending count
                # never reads low while they are written.
                self._waiting += moved
        if not items:
            return None
        try:
            stored = self.write(lambda conn: rows.store(conn, items))
        except SpoolError as exc:
            with self._lock:
                if batch is not None:
                    self.memory.give_back(batch)
                else:
                    self._waiting -= moved
                    self._buffer[:0] = items
                    self._buffered_bytes += sum(self._cost(message) for message, _ in items)
            if len(items[0][0] if batch is not None else items) > 1 and limit > 1:
                self._chunk = max(1, limit // 2)
                return memory
            if batch is not None and len(batch) > 1:
                # A batch given back whole keeps its key: it waits in memory and is sent
                # from there; the buffer goes on.
                return False
            self.begin_fault(exc)
            self._buffer_to_memory()
            return None
        with self._lock:
            self._waiting += stored - moved
            if batch is not None:
                self.memory.ack(batch)
        self._chunk = min(CHUNK, limit * 2)
        return memory

    def _cost(self, message: Message) -> int:
        count, size = self.size_of(message)
        return size + ROW_OVERHEAD * count

    def _buffer_to_memory(self) -> None:
        """During a fault: what waits in the buffer moves to the memory fallback."""
        with self._lock:
            items, self._buffer = self._buffer, []
            self._buffered_bytes = 0
            for message, _ in items:
                self.keep_in_memory(message, self.size_of(message)[0], force=True)

    # -- the worker ---------------------------------------------------------------------

    def take(self, max_events: int, max_bytes: int) -> Optional[Batch]:
        """The next batch: one held here after a fault, then the file's, then memory's."""
        local = self.take_local()
        if local is not None:
            return local
        if self.fault is None or self.probe_due():
            self.persist()
        # Claimed and counted under one hold of the file: another worker's claim, a commit
        # or a recount in between would count the rows twice or not at all.
        with self._db:
            if self.fault is None:
                postponed = self.postponed()
                try:
                    batch = self.write(lambda c: self._claim(c, postponed, max_events, max_bytes))
                except SpoolError as exc:
                    self.begin_fault(exc)
                else:
                    self.recorded(postponed)
                    if batch is not None:
                        self.claimed[batch.spool_id] = batch.key
                        with self._lock:
                            self._waiting = max(0, self._waiting - len(batch))
                            self._held += len(batch)
                        return batch
                    with self._lock:
                        # Nothing free in the file (what others hold is theirs).
                        self._waiting = 0
                        self._refreshed = time.monotonic()
        return self.memory.take(max_events, max_bytes)

    def _claim(
        self, conn: Any, postponed: Dict[int, Tuple[str, Optional[str]]], events: int, size: int
    ) -> Optional[Batch]:
        self.finish_postponed(conn, postponed)
        return rows.claim_free(conn, self._owner, self._pid) or rows.form(
            conn, self._owner, self._pid, events, size
        )

    # -- looking --------------------------------------------------------------------------

    def refresh(self) -> None:
        """Count what waits in the file (also what other processes left there)."""
        with self._db:
            conn = self.connection
            self._refreshed = time.monotonic()
            if conn is None:
                return
            waiting = rows.count_waiting(conn, self._owner)
            with self._lock:
                self._waiting = waiting

    def recount(self) -> None:
        """:meth:`refresh`, a storage fault turned into fallback (a new client sharing this
        spool recounts: another process, or ``teleflow spool --retry-dead``, may have
        added to the file)."""
        try:
            self.refresh()
        except Exception as exc:
            if not is_storage_fault(exc):
                raise
            self.begin_fault(SpoolError(f"cannot read the spool: {exc}"))

    def __len__(self) -> int:
        """Messages waiting to be taken by a worker."""
        idle = not self._waiting and time.monotonic() - self._refreshed > REFRESH_EVERY
        if idle and self.fault is None and self._db.acquire(blocking=False):
            try:
                self.recount()
            finally:
                self._db.release()
        with self._lock:
            # During a fault the file's messages cannot be claimed: the worker waits.
            waiting = self._waiting if self.fault is None else 0
            local = self.local_count() if self._local else 0
            return len(self._buffer) + waiting + len(self.memory) + local

    def pending(self) -> int:
        """Messages buffered, in the file, in memory or in flight, counted at one instant."""
        with self._lock:
            return len(self._buffer) + self._waiting + self._held + self.memory.pending()

    def settled(self, count: int) -> None:
        """``count`` messages this process held in the file are settled (or handed back)."""
        with self._lock:
            self._held -= count

    def handed_back(self, count: int) -> None:
        """``count`` messages this process held went back to the file, unclaimed."""
        with self._lock:
            self._held -= count
            self._waiting += count

    def oldest_age(self) -> Optional[float]:
        """Seconds the oldest message in the spool, its buffer or memory has waited."""
        oldest: Optional[float] = None
        try:
            with self._db:
                conn = self.connection
                if conn is not None:
                    # Rows are numbered in the order tracked: the first is the oldest.
                    row = conn.execute("SELECT created FROM events ORDER BY id LIMIT 1").fetchone()
                    oldest = None if row is None else row[0]
        except Exception as exc:
            if not is_storage_fault(exc):
                raise
        buffer = self._buffer
        if oldest is None and buffer:
            oldest = buffer[0][1]
        ages = [age for age in (self.memory.oldest_age(),) if age is not None]
        if oldest is not None:
            ages.append(max(0.0, time.time() - oldest))
        return max(ages) if ages else None

    def leftover(self) -> Tuple[Optional[int], int]:
        """``(events in the file, counted there; events only in this process's memory)``.

        The file count is ``None`` when the file cannot be read.
        """
        with self._lock:
            in_memory = sum(self.size_of(m)[0] for m, _ in self._buffer) + self.memory.pending()
        return self.count_in_file(), in_memory

    def _open(self) -> None:
        """Open (or reopen) the file; a storage fault leaves the spool in fallback."""
        try:
            conn = open_spool(self.path, self._synchronous)
        except SpoolError as exc:
            # Not a spool (left unchanged) or not usable now: events wait in memory (group
            # mode) or are refused (sync mode) until a probe finds a spool there.
            self.begin_fault(exc)
            return
        self.attach(conn)
        self.recount()

    def reopen(self) -> bool:
        """Open the file again after it was removed; ``True`` when it works."""
        self._open()
        return self.connection is not None

    def _salvaged(self, count: int) -> None:
        with self._lock:
            # The removed file's messages are in memory now; the new file starts empty.
            self._waiting = 0
