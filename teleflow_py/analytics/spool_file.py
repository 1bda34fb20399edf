"""The spool's SQLite file: schema, opening (and repairing), inspecting, dead letters.

Tables:

* ``events``: one row per message in the order tracked; ``batch`` is ``NULL`` until the
  message is formed into a batch.
* ``batches``: a batch formed from ``events`` with the ``X-Idempotency-Key`` it keeps
  until a 2xx answer, and the process sending it now (``owner``), if any.
* ``dead_letters``: messages the server refused for good, with the error, until re-sent.

A file that cannot be opened as such a spool (truncated, garbage, unreadable, a newer
schema) is moved aside as ``PATH.corrupt-<time>`` and a fresh one started: a broken spool
never stops a process, nor makes it fail again at every start.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import time
from typing import Any, Dict, Optional

logger = logging.getLogger("teleflow_py.analytics")

SCHEMA_VERSION = 1

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    body BLOB NOT NULL,
    path TEXT NOT NULL,
    created REAL NOT NULL,
    batch INTEGER
);
CREATE INDEX IF NOT EXISTS events_by_batch ON events (batch, id);
CREATE TABLE IF NOT EXISTS batches (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    key TEXT NOT NULL,
    path TEXT NOT NULL,
    first_event INTEGER NOT NULL,
    owner TEXT,
    owner_pid INTEGER,
    claimed_at REAL
);
CREATE INDEX IF NOT EXISTS batches_in_order ON batches (first_event);
CREATE TABLE IF NOT EXISTS dead_letters (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    body BLOB NOT NULL,
    path TEXT NOT NULL,
    created REAL NOT NULL,
    batch_key TEXT NOT NULL,
    error TEXT NOT NULL,
    failed_at REAL NOT NULL
);
"""

#: How long SQLite waits for another process's write transaction before giving up.
BUSY_TIMEOUT_MS = 10_000


class SpoolError(Exception):
    """The spool file cannot be used (raised inside the spool, never to callers of track)."""


def connect(path: str, synchronous: str) -> sqlite3.Connection:
    """A connection in WAL mode with the schema in place.

    ``synchronous`` is ``"NORMAL"`` (a commit survives a crash of the process) or
    ``"FULL"`` (it also survives a power loss).

    Raises:
        sqlite3.DatabaseError: the file is not a usable spool.
        OSError: the file or its folder cannot be read or written.
    """
    conn = sqlite3.connect(
        path, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None, check_same_thread=False
    )
    try:
        conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
        if str(mode).lower() != "wal":
            raise sqlite3.DatabaseError(f"cannot use WAL mode (got {mode!r})")
        conn.execute(f"PRAGMA synchronous = {synchronous}")
        check = conn.execute("PRAGMA quick_check").fetchone()[0]
        if check != "ok":
            raise sqlite3.DatabaseError(f"integrity check failed: {check}")
        conn.execute("BEGIN IMMEDIATE")
        for statement in _SCHEMA.split(";"):
            if statement.strip():
                conn.execute(statement)
        row = conn.execute("SELECT value FROM meta WHERE name = 'schema'").fetchone()
        if row is None:
            conn.execute("INSERT INTO meta VALUES ('schema', ?)", (str(SCHEMA_VERSION),))
        elif row[0] != str(SCHEMA_VERSION):
            raise sqlite3.DatabaseError(f"spool schema {row[0]} is not {SCHEMA_VERSION}")
        conn.execute("COMMIT")
    except BaseException:
        conn.close()
        raise
    return conn


def open_or_repair(path: str, synchronous: str) -> sqlite3.Connection:
    """:func:`connect`, moving a broken file aside (with a warning) and starting afresh.

    Raises:
        SpoolError: even a fresh spool cannot be created at ``path`` (for example a
            read-only folder).
    """
    try:
        return connect(path, synchronous)
    except (sqlite3.DatabaseError, OSError) as exc:
        problem = exc
    aside = move_aside(path)
    logger.warning(
        "teleflow_py analytics: the spool %s cannot be used (%s); %s, and a new spool is started",
        path,
        problem,
        f"it was moved to {aside}" if aside else "it could not be moved aside",
    )
    try:
        return connect(path, synchronous)
    except (sqlite3.DatabaseError, OSError) as exc:
        raise SpoolError(f"cannot create a spool at {path}: {exc}") from exc


def move_aside(path: str) -> Optional[str]:
    """Rename ``path`` (and its ``-wal`` and ``-shm`` files) out of the way.

    Returns the new name of the main file, or ``None`` when it could not be moved.
    """
    stamp = time.strftime("%Y%m%dT%H%M%S")
    aside = f"{path}.corrupt-{stamp}-{os.getpid()}"
    moved: Optional[str] = None
    for suffix in ("", "-wal", "-shm"):
        try:
            os.replace(path + suffix, aside + suffix)
            if not suffix:
                moved = aside
        except FileNotFoundError:
            continue
        except OSError:
            if not suffix:
                try:
                    os.remove(path)
                except OSError:
                    return None
    return moved


def inspect_spool(path: str) -> Dict[str, Any]:
    """What a spool file holds, for ``teleflow spool PATH`` and monitoring.

    Args:
        path: the spool file (the ``spool_path`` of a client).

    Returns a JSON-serialisable dict: ``path``; ``pending_events`` (events not yet
    accepted, in batches or not); ``pending_batches`` (batches formed, each with its
    idempotency key); ``claimed_batches`` (being sent by a process now, or left by one
    that died); ``dead_letters`` (events refused for good, see
    :func:`retry_dead_letters`); ``oldest_age_seconds`` (age of the oldest pending event,
    ``None`` when none); ``size_bytes`` (the file and its WAL).

    Raises:
        FileNotFoundError: no file at ``path``.
        SpoolError: the file is not a readable spool.
    """
    if not os.path.exists(path):
        raise FileNotFoundError(path)
    try:
        conn = connect(path, "NORMAL")
    except (sqlite3.DatabaseError, OSError) as exc:
        raise SpoolError(f"{path} is not a readable spool: {exc}") from exc
    try:
        events, oldest = conn.execute("SELECT count(*), min(created) FROM events").fetchone()
        batches, claimed = conn.execute("SELECT count(*), count(owner) FROM batches").fetchone()
        dead = conn.execute("SELECT count(*) FROM dead_letters").fetchone()[0]
    finally:
        conn.close()
    size = sum(
        os.path.getsize(path + suffix) for suffix in ("", "-wal") if os.path.exists(path + suffix)
    )
    return {
        "path": path,
        "pending_events": int(events),
        "pending_batches": int(batches),
        "claimed_batches": int(claimed),
        "dead_letters": int(dead),
        "oldest_age_seconds": None if oldest is None else max(0.0, time.time() - oldest),
        "size_bytes": size,
    }


def retry_dead_letters(path: str) -> int:
    """Queue the dead letters of a spool again, in order; returns how many.

    They are sent by the next client that uses the spool (one running now included), in
    new batches with new idempotency keys and their original ``message_id``.

    Args:
        path: the spool file (the ``spool_path`` of a client).

    Raises:
        FileNotFoundError: no file at ``path``.
        SpoolError: the file is not a readable spool.
    """
    if not os.path.exists(path):
        raise FileNotFoundError(path)
    try:
        conn = connect(path, "FULL")
    except (sqlite3.DatabaseError, OSError) as exc:
        raise SpoolError(f"{path} is not a readable spool: {exc}") from exc
    try:
        conn.execute("BEGIN IMMEDIATE")
        count = conn.execute(
            "INSERT INTO events (body, path, created) "
            "SELECT body, path, created FROM dead_letters ORDER BY id"
        ).rowcount
        conn.execute("DELETE FROM dead_letters")
        conn.execute("COMMIT")
    finally:
        conn.close()
    return int(count)
