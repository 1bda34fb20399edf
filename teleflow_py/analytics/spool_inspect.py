"""Looking into a spool from outside a client: what it holds, and re-queueing dead letters.

:func:`inspect_spool` only reads: the file is opened read-only (SQLite ``mode=ro``) and
nothing is created, converted or written, whatever the path holds.
:func:`retry_dead_letters` is the one call that writes, and only into a real spool.
"""

from __future__ import annotations

import os
import sqlite3
import time
from typing import Any, Dict

from .spool_file import SpoolError, check_is_spool, connect, open_read_only


def _check(path: str) -> None:
    """Refuse anything but an existing spool, reading only.

    Raises:
        FileNotFoundError: no file at ``path``.
        SpoolError: the path holds something that is not a readable spool.
    """
    if not os.path.lexists(path):
        raise FileNotFoundError(path)
    try:
        spool = check_is_spool(path)
    except SpoolError as exc:
        raise SpoolError(f"{path} is not a readable spool: {exc}") from exc
    except OSError as exc:
        raise SpoolError(f"{path} is not a readable spool: {exc}") from exc
    if not spool:
        raise SpoolError(f"{path} is not a readable spool: it is not an SQLite file")


def inspect_spool(path: str) -> Dict[str, Any]:
    """What a spool file holds, for ``teleflow spool PATH`` and monitoring.

    Opens the file read-only: it never creates, converts or writes anything, so it is
    safe on the spool of a live process and on a file that turns out not to be a spool.

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
        SpoolError: the file is not a readable spool (an empty file, a symbolic link,
            another application's SQLite database, not SQLite at all, damaged).
    """
    _check(path)
    try:
        conn = open_read_only(path)
        try:
            events, oldest = conn.execute("SELECT count(*), min(created) FROM events").fetchone()
            batches, claimed = conn.execute("SELECT count(*), count(owner) FROM batches").fetchone()
            dead = conn.execute("SELECT count(*) FROM dead_letters").fetchone()[0]
        finally:
            conn.close()
    except sqlite3.Error as exc:
        raise SpoolError(f"{path} is not a readable spool: {exc}") from exc
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
    new batches with new idempotency keys and their original ``message_id``. Only a real
    spool is written to: anything else is refused before it is opened for writing.

    Args:
        path: the spool file (the ``spool_path`` of a client).

    Raises:
        FileNotFoundError: no file at ``path``.
        SpoolError: the file is not a readable spool, or cannot be written now.
    """
    _check(path)
    try:
        conn = connect(path, "FULL")
    except (sqlite3.Error, OSError) as exc:
        raise SpoolError(f"{path} is not a readable spool: {exc}") from exc
    try:
        conn.execute("BEGIN IMMEDIATE")
        count = conn.execute(
            "INSERT INTO events (body, path, created) "
            "SELECT body, path, created FROM dead_letters ORDER BY id"
        ).rowcount
        conn.execute("DELETE FROM dead_letters")
        conn.execute("COMMIT")
    except sqlite3.Error as exc:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise SpoolError(f"cannot re-queue the dead letters of {path}: {exc}") from exc
    finally:
        conn.close()
    return int(count)
