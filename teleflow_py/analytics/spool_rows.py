"""The spool's statements on its rows: store, claim, form, split, finish, count.

Each function runs inside a transaction the caller opened (``BEGIN IMMEDIATE``) on the
spool's connection, under the spool's lock; none commits.
"""

from __future__ import annotations

import os
import time
from typing import Any, List, Optional, Sequence, Tuple

from .batch import ALIAS_PATH, BODY_OVERHEAD, EVENTS_PATH, Batch, Message
from .ids import new_message_id

#: A claim older than this is taken over even if its process seems alive (a reused pid).
CLAIM_TIMEOUT = 600.0


def process_alive(pid: int) -> bool:
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


def store(conn: Any, items: Sequence[Tuple[Message, float]]) -> int:
    """Insert tracked messages in order; a :class:`Batch` keeps its key. Returns events."""
    stored = 0
    plain: List[Tuple[bytes, str, float]] = []
    for message, created in items:
        if type(message) is bytes:
            plain.append((message, EVENTS_PATH, created))
            continue
        if plain:
            conn.executemany("INSERT INTO events (body, path, created) VALUES (?, ?, ?)", plain)
            stored += len(plain)
            plain = []
        assert isinstance(message, Batch)
        store_batch(conn, message, created)
        stored += len(message)
    if plain:
        conn.executemany("INSERT INTO events (body, path, created) VALUES (?, ?, ?)", plain)
        stored += len(plain)
    return stored


def store_batch(conn: Any, batch: Batch, created: float) -> None:
    """Store ``batch`` as a formed, unclaimed batch under its own key."""
    first = 0
    for index, part in enumerate(batch.parts):
        row = int(
            conn.execute(
                "INSERT INTO events (body, path, created) VALUES (?, ?, ?)",
                (part, batch.path, created),
            ).lastrowid
        )
        first = row if index == 0 else first
    batch_id = conn.execute(
        "INSERT INTO batches (key, path, first_event) VALUES (?, ?, ?)",
        (batch.key, batch.path, first),
    ).lastrowid
    conn.execute(
        "UPDATE events SET batch = ? WHERE batch IS NULL AND id BETWEEN ? AND ?",
        (batch_id, first, first + len(batch) - 1),
    )


def _stale(owner: str, owner_pid: Optional[int], claimed_at: float, me: str, pid: int) -> bool:
    """Whether a claim by another owner may be taken over."""
    if owner == me:
        return False
    if owner_pid is None or owner_pid == pid:
        # An earlier process with our pid (a restarted container) or no pid at all. One
        # process has one spool per path, so a claim with our pid is never a live one.
        return True
    return not process_alive(owner_pid) or time.time() - (claimed_at or 0) > CLAIM_TIMEOUT


def claim_free(conn: Any, owner: str, pid: int) -> Optional[Batch]:
    """The oldest formed batch no live process holds, claimed by ``owner``."""
    unbatched = conn.execute("SELECT min(id) FROM events WHERE batch IS NULL").fetchone()[0]
    rows = conn.execute(
        "SELECT id, key, path, first_event, owner, owner_pid, claimed_at FROM batches "
        "ORDER BY first_event, id"
    ).fetchall()
    for row_id, key, path, first_event, holder, holder_pid, claimed_at in rows:
        if unbatched is not None and first_event > unbatched:
            return None
        if holder is not None and not _stale(holder, holder_pid, claimed_at, owner, pid):
            continue
        conn.execute(
            "UPDATE batches SET owner = ?, owner_pid = ?, claimed_at = ? WHERE id = ?",
            (owner, pid, time.time(), row_id),
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


def form(conn: Any, owner: str, pid: int, max_events: int, max_bytes: int) -> Optional[Batch]:
    """A new batch of the oldest unbatched messages, claimed by ``owner``."""
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
        (key, path, first_id, owner, pid, time.time()),
    ).lastrowid
    conn.execute(
        "UPDATE events SET batch = ? WHERE batch IS NULL AND id BETWEEN ? AND ?",
        (batch_id, first_id, taken[-1][0]),
    )
    return Batch(key, [body for _, body in taken], path, batch_id)


def release(conn: Any, row: int) -> None:
    """Give up the claim on batch ``row`` (its key kept)."""
    conn.execute(
        "UPDATE batches SET owner = NULL, owner_pid = NULL, claimed_at = NULL WHERE id = ?",
        (row,),
    )


def store_split(conn: Any, parent: int, batches: Sequence[Batch]) -> None:
    """Replace batch ``parent`` by its halves (unclaimed), each under its own key."""
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


def finish(conn: Any, row: int, key: str, error: Optional[str]) -> None:
    """Delete batch ``row`` and its messages; with ``error``, keep them as dead letters."""
    if error is not None:
        conn.execute(
            "INSERT INTO dead_letters (body, path, created, batch_key, error, failed_at) "
            "SELECT body, path, created, ?, ?, ? FROM events WHERE batch = ? ORDER BY id",
            (key, error, time.time(), row),
        )
    conn.execute("DELETE FROM events WHERE batch = ?", (row,))
    conn.execute("DELETE FROM batches WHERE id = ?", (row,))


def count_waiting(conn: Any, owner: str) -> int:
    """Messages in the file not held by ``owner`` (other processes' included)."""
    return int(
        conn.execute(
            "SELECT count(*) FROM events WHERE batch IS NULL OR batch IN "
            "(SELECT id FROM batches WHERE owner IS NULL OR owner != ?)",
            (owner,),
        ).fetchone()[0]
    )


def used_bytes(conn: Any, page_size: int) -> int:
    """Bytes of the file in use (free pages not counted)."""
    pages = int(conn.execute("PRAGMA page_count").fetchone()[0])
    free = int(conn.execute("PRAGMA freelist_count").fetchone()[0])
    return (pages - free) * page_size


def unsent(conn: Any, owner: str) -> List[Tuple[Optional[str], str, List[bytes]]]:
    """What a file holds for sending: ``(key or None, path, parts)`` in order."""
    result: List[Tuple[Optional[str], str, List[bytes]]] = []
    # Batches this process holds are in flight (or kept in memory already).
    keys = {
        row_id: (key, path)
        for row_id, key, path in conn.execute(
            "SELECT id, key, path FROM batches WHERE owner IS NULL OR owner != ?", (owner,)
        )
    }
    mine = {
        row_id for (row_id,) in conn.execute("SELECT id FROM batches WHERE owner = ?", (owner,))
    }
    current: Optional[int] = None
    for body, path, batch in conn.execute("SELECT body, path, batch FROM events ORDER BY id"):
        if batch in mine:
            continue
        if batch is not None and batch in keys:
            if batch != current:
                current = batch
                result.append((keys[batch][0], keys[batch][1], []))
            result[-1][2].append(bytes(body))
        else:
            current = None
            result.append((None, path, [bytes(body)]))
    return result
