"""The durable queue: an SQLite spool standing in for the in-memory queue.

``Client(spool_path=...)`` keeps every tracked message in an SQLite file (WAL) until the
server answered 2xx for it:

* ``spool_mode="group"`` (the default): ``track()`` appends to a small buffer and returns;
  a writer thread commits the buffer every :data:`GROUP_WINDOW` seconds or sooner. A
  message survives a crash of the process (SIGKILL, OOM) once committed, typically within
  a few tens of milliseconds; synchronous=NORMAL, so a power loss may undo the last
  commits.
* ``spool_mode="sync"``: ``track()`` commits before it returns (synchronous=FULL): what
  it accepted survives SIGKILL and power loss, at the price of one fsync per call.

The worker forms a batch from the oldest messages and stores it with its idempotency key
before sending, so a batch sent again after a crash carries the same key and the same
``message_id``s. It leaves the spool after a 2xx; one refused for good goes to the dead
letters. Several processes may share a path: a batch is claimed by one process while
sent; a claim of a process that is gone (or older than :data:`CLAIM_TIMEOUT`) is taken
over.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import threading
import time
import uuid
import weakref
from typing import Callable, Dict, List, Optional, Sequence, Tuple, Union

from .._fork import on_fork
from ..config import ClientConfig
from .batch import ALIAS_PATH, BODY_OVERHEAD, EVENTS_PATH, Batch, Message
from .ids import new_message_id
from .queue import MemoryQueue, message_size
from .spool_file import SpoolError, open_or_repair

logger = logging.getLogger("teleflow_py")

#: The writer thread commits what was tracked at most this long after the first of it.
GROUP_WINDOW = 0.02
#: A claim older than this is taken over even if its process seems alive (a reused pid).
CLAIM_TIMEOUT = 600.0
#: How often an idle spool looks for messages other processes left (seconds).
REFRESH_EVERY = 1.0
#: Bytes a spooled message costs beyond its JSON (row, index, page slack), for the bound.
ROW_OVERHEAD = 64

DropFn = Callable[[Message, str], object]

# Connections held when a fork happens: a child must never close (or use) its parent's
# SQLite connections, so the child keeps them referenced forever (see _before_fork).
_live: weakref.WeakSet[Spool] = weakref.WeakSet()
_held_across_fork: List[sqlite3.Connection] = []


def _before_fork() -> None:
    _held_across_fork.extend(spool._conn for spool in list(_live))


def _after_fork_in_parent() -> None:
    _held_across_fork.clear()


on_fork(before=_before_fork, after_in_parent=_after_fork_in_parent)


Queue = Union[MemoryQueue, "Spool"]


def open_queue(config: ClientConfig, drop: DropFn) -> Queue:
    """The queue a client's settings ask for: a :class:`Spool` or a :class:`MemoryQueue`.

    A spool that cannot be created at all (a read-only folder) falls back to memory with
    a warning: analytics never stop a process from starting.
    """
    if config.spool_path is not None:
        try:
            return Spool(config, drop)
        except SpoolError as exc:
            logger.warning("teleflow_py analytics: %s; events are queued in memory instead", exc)
    return MemoryQueue(config.max_queue_size, config.max_queue_bytes, new_message_id)


def _messages(message: Message) -> int:
    return 1 if type(message) is bytes else len(message)


def _process_alive(pid: int) -> bool:
    """Whether process ``pid`` runs on this host (a zombie, killed but not reaped, does not)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        # Exists but belongs to another user (PermissionError), or cannot be told.
        return True
    try:
        with open(f"/proc/{pid}/stat", "rb") as stat:
            # "pid (name) state ...": the state follows the last parenthesis.
            return stat.read().rpartition(b")")[2].split()[0] != b"Z"
    except (OSError, IndexError):
        return True


class Spool:
    """A :class:`~teleflow_py.analytics.MessageQueue` in an SQLite file.

    ``put`` is called from any thread; the rest from the worker thread. One connection,
    used under a lock, serves the callers (sync mode), the writer thread and the worker.
    """

    full_reason = "queue_full"

    def __init__(self, config: ClientConfig, drop: DropFn) -> None:
        assert config.spool_path is not None
        self.path = config.spool_path
        self._sync = config.spool_mode == "sync"
        self._max_bytes = config.spool_max_bytes
        self._max_buffered = config.max_queue_size
        self._max_buffered_bytes = config.max_queue_bytes
        self._drop = drop
        self._pid = os.getpid()
        self._owner = f"{self._pid}:{uuid.uuid4().hex}"
        self._db = threading.RLock()
        self._conn = open_or_repair(self.path, "FULL" if self._sync else "NORMAL")
        self._page_size = int(self._conn.execute("PRAGMA page_size").fetchone()[0])
        _live.add(self)
        # Messages tracked but not yet committed (group mode), with when they came.
        self._buffer: List[Tuple[Message, float]] = []
        self._buffered_bytes = 0
        self._buffer_lock = threading.Lock()
        self._buffered = threading.Event()
        self._writer: Optional[threading.Thread] = None
        # Batch rows this process claimed, and the key each was claimed with.
        self._claimed: Dict[int, str] = {}
        self._spool_full = False
        self._problem_logged = False
        # Messages in the file waiting to be taken (an estimate, refreshed now and then:
        # other processes add and take too).
        self._waiting = 0
        self._refreshed = 0.0
        try:
            self._refresh()
        except sqlite3.Error as exc:
            # Busy beyond the timeout, say: counted again on the next look, never a crash.
            self._problem("cannot count what the spool holds", exc)

    # -- callers ------------------------------------------------------------------------

    def put(self, message: Message) -> bool:
        """Buffer (group mode) or commit (sync mode) ``message``; ``False`` when full."""
        if self._spool_full:
            self.full_reason = "spool_full"
            return False
        now = time.time()
        if self._sync:
            try:
                with self._db:
                    return self._insert([(message, now)], drop_excess=False) == 1
            except sqlite3.Error as exc:
                # Keep it in the buffer rather than lose it; the writer retries.
                self._problem("cannot commit an event", exc)
        count = _messages(message)
        size = message_size(message)
        with self._buffer_lock:
            if self._buffer and (
                len(self._buffer) + count > self._max_buffered
                or self._buffered_bytes + size > self._max_buffered_bytes
            ):
                self.full_reason = "queue_full"
                return False
            first = not self._buffer
            self._buffer.append((message, now))
            self._buffered_bytes += size
        if first:
            if self._writer is None:
                self._start_writer()
            self._buffered.set()
        return True

    def _start_writer(self) -> None:
        with self._buffer_lock:
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
            self._buffered.wait()
            # Let a burst gather, so one commit carries many calls.
            time.sleep(GROUP_WINDOW)
            self._buffered.clear()
            try:
                self.persist()
            except Exception as exc:
                self._problem("the spool writer failed", exc)
                time.sleep(1.0)
                self._buffered.set()

    def persist(self) -> None:
        """Commit what is buffered now (the writer does this every few milliseconds)."""
        with self._db:
            with self._buffer_lock:
                items, self._buffer = self._buffer, []
                self._buffered_bytes = 0
                # Counted as waiting before they leave the buffer, so the pending count
                # never reads 0 while they are being written.
                moved = sum(_messages(message) for message, _ in items)
                self._waiting += moved
            if not items:
                return
            try:
                self._insert(items, drop_excess=True, counted=True)
            except sqlite3.Error:
                self._waiting -= moved
                with self._buffer_lock:
                    # Back to the front, order kept, for the next attempt.
                    self._buffer[:0] = items
                    self._buffered_bytes += sum(message_size(m) for m, _ in items)
                raise

    def _used_bytes(self) -> int:
        pages, free = (
            self._conn.execute("PRAGMA page_count").fetchone()[0],
            self._conn.execute("PRAGMA freelist_count").fetchone()[0],
        )
        return (int(pages) - int(free)) * self._page_size

    def _insert(
        self, items: Sequence[Tuple[Message, float]], drop_excess: bool, counted: bool = False
    ) -> int:
        """Commit ``items`` (under the db lock) as far as the size bound allows.

        ``counted``: the items are already counted as waiting (the excess is taken off).
        """
        room = self._max_bytes - self._used_bytes()
        rows: List[Tuple[bytes, str, float]] = []
        excess: List[Message] = []
        for message, created in items:
            size = message_size(message) + ROW_OVERHEAD
            if room < size:
                excess.append(message)
                continue
            room -= size
            if isinstance(message, Batch):
                rows.extend((part, message.path, created) for part in message.parts)
            else:
                rows.append((message, EVENTS_PATH, created))
        if rows:
            conn = self._conn
            conn.execute("BEGIN IMMEDIATE")
            try:
                conn.executemany("INSERT INTO events (body, path, created) VALUES (?, ?, ?)", rows)
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            if not counted:
                self._waiting += len(rows)
        if excess:
            if counted:
                self._waiting -= sum(_messages(message) for message in excess)
            self._spool_full = True
            self.full_reason = "spool_full"
            if drop_excess:
                for message in excess:
                    self._drop(message, "spool_full")
        return len(rows)

    # -- the worker ---------------------------------------------------------------------

    def take(self, max_events: int, max_bytes: int) -> Optional[Batch]:
        """The oldest free batch, or a new one formed from the oldest messages."""
        try:
            self.persist()
            with self._db:
                conn = self._conn
                conn.execute("BEGIN IMMEDIATE")
                try:
                    batch = self._claim_free() or self._form(max_events, max_bytes)
                    conn.execute("COMMIT")
                except BaseException:
                    conn.execute("ROLLBACK")
                    raise
        except sqlite3.Error as exc:
            self._problem("cannot read the spool", exc)
            self._waiting = 0
            self._refreshed = time.monotonic()
            return None
        if batch is None:
            self._waiting = 0
            self._refreshed = time.monotonic()
            return None
        self._claimed[batch.spool_id or 0] = batch.key
        self._waiting = max(0, self._waiting - len(batch))
        return batch

    def _claim_free(self) -> Optional[Batch]:
        conn = self._conn
        unbatched = conn.execute("SELECT min(id) FROM events WHERE batch IS NULL").fetchone()[0]
        rows = conn.execute(
            "SELECT id, key, path, first_event, owner, owner_pid, claimed_at FROM batches "
            "ORDER BY first_event, id"
        ).fetchall()
        now = time.time()
        for row_id, key, path, first_event, owner, owner_pid, claimed_at in rows:
            if unbatched is not None and first_event > unbatched:
                return None
            if owner is not None and not self._stale(owner, owner_pid, claimed_at, now):
                continue
            conn.execute(
                "UPDATE batches SET owner = ?, owner_pid = ?, claimed_at = ? WHERE id = ?",
                (self._owner, self._pid, now, row_id),
            )
            parts = [
                bytes(body)
                for (body,) in conn.execute(
                    "SELECT body FROM events WHERE batch = ? ORDER BY id", (row_id,)
                )
            ]
            if not parts:
                conn.execute("DELETE FROM batches WHERE id = ?", (row_id,))
                continue
            return Batch(key, parts, path, row_id)
        return None

    def _stale(self, owner: str, owner_pid: Optional[int], claimed_at: float, now: float) -> bool:
        """Whether a claim by another owner may be taken over."""
        if owner == self._owner:
            return False
        if owner_pid is None or owner_pid == self._pid:
            # An earlier process with our pid (a restarted container) or no pid at all.
            return True
        return not _process_alive(owner_pid) or now - (claimed_at or 0) > CLAIM_TIMEOUT

    def _form(self, max_events: int, max_bytes: int) -> Optional[Batch]:
        conn = self._conn
        rows = conn.execute(
            "SELECT id, body, path FROM events WHERE batch IS NULL ORDER BY id LIMIT ?",
            (max_events,),
        ).fetchall()
        if not rows:
            return None
        first_id, _, path = rows[0]
        # Stop before a batch formed later from a newer message (a given-back half).
        bound = conn.execute(
            "SELECT min(first_event) FROM batches WHERE first_event > ?", (first_id,)
        ).fetchone()[0]
        room = max_bytes - BODY_OVERHEAD + 1
        taken: List[Tuple[int, bytes]] = []
        for row_id, body, row_path in rows:
            if row_path != path or (bound is not None and row_id >= bound):
                break
            size = len(body) + 1
            if taken and size > room:
                break
            room -= size
            taken.append((row_id, bytes(body)))
            if path == ALIAS_PATH:
                break
        key = new_message_id()
        batch_id = conn.execute(
            "INSERT INTO batches (key, path, first_event, owner, owner_pid, claimed_at) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            (key, path, first_id, self._owner, self._pid, time.time()),
        ).lastrowid
        conn.execute(
            "UPDATE events SET batch = ? WHERE batch IS NULL AND id BETWEEN ? AND ?",
            (batch_id, first_id, taken[-1][0]),
        )
        return Batch(key, [body for _, body in taken], path, batch_id)

    def give_back(self, *batches: Batch) -> None:
        """Release a batch (key kept) or, after a split, store its halves in its place."""
        if not batches:
            return
        parent = batches[0].spool_id
        if parent is None:
            return
        key = self._claimed.pop(parent, None)
        with self._db:
            conn = self._conn
            conn.execute("BEGIN IMMEDIATE")
            try:
                if len(batches) == 1 and batches[0].key == key:
                    conn.execute(
                        "UPDATE batches SET owner = NULL, owner_pid = NULL, claimed_at = NULL "
                        "WHERE id = ?",
                        (parent,),
                    )
                else:
                    self._store_split(parent, batches)
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
        self._waiting += sum(len(batch) for batch in batches)

    def _store_split(self, parent: int, batches: Sequence[Batch]) -> None:
        conn = self._conn
        ids = [
            row_id
            for (row_id,) in conn.execute(
                "SELECT id FROM events WHERE batch = ? ORDER BY id", (parent,)
            )
        ]
        start = 0
        for batch in batches:
            chunk = ids[start : start + len(batch)]
            start += len(batch)
            if not chunk:
                continue
            child = conn.execute(
                "INSERT INTO batches (key, path, first_event) VALUES (?, ?, ?)",
                (batch.key, batch.path, chunk[0]),
            ).lastrowid
            conn.execute(
                "UPDATE events SET batch = ? WHERE batch = ? AND id BETWEEN ? AND ?",
                (child, parent, chunk[0], chunk[-1]),
            )
        conn.execute("DELETE FROM batches WHERE id = ?", (parent,))

    def ack(self, batch: Batch) -> None:
        """Delete a delivered batch and its messages."""
        self._finish(batch, None)

    def reject(self, batch: Batch, error: Exception) -> None:
        """Move a batch refused for good to the dead letters (see ``retry_dead_letters``)."""
        self._finish(batch, error)

    def _finish(self, batch: Batch, error: Optional[Exception]) -> None:
        row = batch.spool_id
        if row is None:
            return
        self._claimed.pop(row, None)
        try:
            with self._db:
                conn = self._conn
                conn.execute("BEGIN IMMEDIATE")
                try:
                    if error is not None:
                        conn.execute(
                            "INSERT INTO dead_letters "
                            "(body, path, created, batch_key, error, failed_at) "
                            "SELECT body, path, created, ?, ?, ? FROM events "
                            "WHERE batch = ? ORDER BY id",
                            (batch.key, f"{type(error).__name__}: {error}", time.time(), row),
                        )
                    conn.execute("DELETE FROM events WHERE batch = ?", (row,))
                    conn.execute("DELETE FROM batches WHERE id = ?", (row,))
                    conn.execute("COMMIT")
                except BaseException:
                    conn.execute("ROLLBACK")
                    raise
        except sqlite3.Error as exc:
            # The batch stays and is sent again later under the same key: the server
            # recognises the key, so nothing arrives twice.
            self._problem("cannot remove a delivered batch", exc)
            return
        if self._spool_full and error is None:
            self._spool_full = self._max_bytes - self._used_bytes() < ROW_OVERHEAD * 16

    # -- looking --------------------------------------------------------------------------

    def _refresh(self) -> None:
        """Count what waits in the file (also what other processes left there)."""
        self._refreshed = time.monotonic()
        with self._db:
            self._waiting = int(
                self._conn.execute(
                    "SELECT count(*) FROM events WHERE batch IS NULL OR batch IN "
                    "(SELECT id FROM batches WHERE owner IS NULL OR owner != ?)",
                    (self._owner,),
                ).fetchone()[0]
            )

    def __len__(self) -> int:
        idle = not self._waiting and time.monotonic() - self._refreshed > REFRESH_EVERY
        if idle and self._db.acquire(blocking=False):
            try:
                self._refresh()
            except sqlite3.Error as exc:
                self._problem("cannot read the spool", exc)
            finally:
                self._db.release()
        # The buffer first: a commit moving messages between the two counts (persist())
        # can then make this read high for an instant, never 0 while messages wait.
        buffered = len(self._buffer)
        return buffered + self._waiting

    def oldest_age(self) -> Optional[float]:
        """Seconds the oldest message in the spool (or its buffer) has waited."""
        oldest: Optional[float] = None
        try:
            with self._db:
                # Rows are numbered in the order tracked: the first is the oldest.
                row = self._conn.execute(
                    "SELECT created FROM events ORDER BY id LIMIT 1"
                ).fetchone()
                oldest = None if row is None else row[0]
        except sqlite3.Error:
            pass
        buffer = self._buffer
        if oldest is None and buffer:
            oldest = buffer[0][1]
        return None if oldest is None else max(0.0, time.time() - oldest)

    def _problem(self, what: str, exc: BaseException) -> None:
        if self._problem_logged:
            logger.debug("teleflow_py analytics: %s: %s", what, exc)
            return
        self._problem_logged = True
        logger.warning("teleflow_py analytics: spool %s: %s (%s)", self.path, what, exc)
