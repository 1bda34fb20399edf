"""The spool's SQLite file: schema, the mark that says "a spool", creating and opening.

Tables:

* ``events``: one row per message in the order tracked; ``batch`` is ``NULL`` until the
  message is formed into a batch.
* ``batches``: a batch formed from ``events`` with the ``X-Idempotency-Key`` it keeps
  until a 2xx answer, and the process sending it now (``owner``), if any.
* ``dead_letters``: messages the server refused for good, with the error, until re-sent.

A spool is marked as one: SQLite's ``application_id`` is :data:`APPLICATION_ID` and the
``meta`` table holds its schema version. A new spool is built under a temporary name
(mode 0600) and linked into place complete, so a path holds either nothing or a whole
spool; a folder the SDK has to create is made 0700. What is found at a path decides:

* a spool: opened; damaged (fails its integrity check) it is moved aside as
  ``PATH.corrupt-<time>-<pid>`` (0600) and a fresh one started;
* bytes that are not an SQLite database at all (garbage), or a directory: moved aside
  the same way;
* an SQLite database that is not a spool, an empty file, a symbolic link: refused with
  :class:`NotASpoolError`, the file left byte for byte as it was;
* a spool that cannot be written now (read-only, disk full, locked):
  :class:`SpoolStorageError`, the file left as it is (the caller retries later).
"""

from __future__ import annotations

import contextlib
import logging
import os
import sqlite3
import time
import uuid
from typing import Any, Callable, Optional

logger = logging.getLogger("teleflow_py.analytics")

SCHEMA_VERSION = 1
#: SQLite's ``application_id`` of a spool file ("TFLS").
APPLICATION_ID = 0x54464C53
#: Tables of a spool (a file made by an SDK version before the mark has exactly these).
TABLES = frozenset({"meta", "events", "batches", "dead_letters", "sqlite_sequence"})

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
_MAGIC = b"SQLite format 3\x00"

#: The connection factory (``sqlite3.connect``'s signature). A seam for the test suite's
#: fault injection, which wraps the connection to make chosen writes fail.
connect_sqlite: Callable[..., Any] = sqlite3.connect


class SpoolError(Exception):
    """The spool file cannot be used (raised inside the spool, never to callers of track)."""


class NotASpoolError(SpoolError):
    """The path holds something that is not a spool; it was left exactly as it was."""


class SpoolStorageError(SpoolError):
    """The spool cannot be written now (read-only, full, locked, removed): try again later."""


def is_storage_fault(exc: BaseException) -> bool:
    """Whether ``exc`` is a storage failure (disk, permissions, lock), not damage."""
    if isinstance(exc, OSError):
        return True
    return bool(isinstance(exc, sqlite3.OperationalError))


def _header(path: str) -> bytes:
    with open(path, "rb") as file:
        return file.read(100)


def _application_id(header: bytes) -> int:
    return int.from_bytes(header[68:72], "big")


def rollback(conn: Any) -> None:
    """Roll back if a transaction is open (SQLite ends some on its own after an error)."""
    try:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
    except sqlite3.Error:
        pass


def _make_folder(folder: str) -> None:
    """Create ``folder`` and any missing parents, each 0700 (they hold personal data)."""
    if not folder or os.path.isdir(folder):
        return
    _make_folder(os.path.dirname(folder))
    with contextlib.suppress(FileExistsError):
        os.mkdir(folder, 0o700)


def _create(path: str) -> None:
    """Build an empty spool under a temporary name, then link it into place (0600)."""
    folder = os.path.dirname(path)
    _make_folder(folder)
    temp = os.path.join(folder, f".{os.path.basename(path)}.new-{uuid.uuid4().hex[:12]}")
    fd = os.open(temp, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600)
    os.close(fd)
    try:
        conn = connect_sqlite(temp, isolation_level=None)
        try:
            conn.execute(f"PRAGMA application_id = {APPLICATION_ID}")
            conn.execute("BEGIN IMMEDIATE")
            _write_schema(conn)
            conn.execute("COMMIT")
            # WAL is recorded in the file; set last, so the temporary file leaves no -wal.
            conn.execute("PRAGMA journal_mode = WAL")
        finally:
            conn.close()
        # FileExistsError: another process created it meanwhile; use theirs.
        with contextlib.suppress(FileExistsError):
            os.link(temp, path)
    finally:
        for suffix in ("", "-wal", "-shm", "-journal"):
            with contextlib.suppress(FileNotFoundError):
                os.remove(temp + suffix)


def _write_schema(conn: Any) -> None:
    for statement in _SCHEMA.split(";"):
        if statement.strip():
            conn.execute(statement)
    row = conn.execute("SELECT value FROM meta WHERE name = 'schema'").fetchone()
    if row is None:
        conn.execute("INSERT INTO meta VALUES ('schema', ?)", (str(SCHEMA_VERSION),))


def connect(path: str, synchronous: str) -> Any:
    """A read-write connection to the existing spool at ``path``, in WAL mode.

    ``synchronous`` is ``"NORMAL"`` (a commit survives a crash of the process) or
    ``"FULL"`` (it also survives a power loss).

    Raises:
        sqlite3.DatabaseError: the file is damaged or of another schema version.
        sqlite3.OperationalError, OSError: it cannot be read or written now.
    """
    conn = connect_sqlite(
        path, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None, check_same_thread=False
    )
    try:
        conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
        if str(mode).lower() != "wal":
            raise sqlite3.OperationalError(f"cannot use WAL mode (got {mode!r})")
        conn.execute(f"PRAGMA synchronous = {synchronous}")
        check = conn.execute("PRAGMA quick_check").fetchone()[0]
        if check != "ok":
            raise sqlite3.DatabaseError(f"integrity check failed: {check}")
        row = conn.execute("SELECT value FROM meta WHERE name = 'schema'").fetchone()
        if row is None or row[0] != str(SCHEMA_VERSION):
            raise sqlite3.DatabaseError(f"spool schema {row and row[0]} is not {SCHEMA_VERSION}")
        if int(conn.execute("PRAGMA application_id").fetchone()[0]) != APPLICATION_ID:
            # A spool made before the mark existed (its tables were checked): mark it.
            conn.execute(f"PRAGMA application_id = {APPLICATION_ID}")
    except BaseException:
        conn.close()
        raise
    return conn


def check_is_spool(path: str) -> bool:
    """Whether ``path`` holds a spool; ``False`` for bytes that are not SQLite at all.

    Reads only (the header, and for a file without the mark its table names, through a
    read-only connection).

    Raises:
        NotASpoolError: a symbolic link, an empty file, or an SQLite database that is not
            a spool.
        FileNotFoundError: nothing at ``path``.
    """
    if os.path.islink(path):
        raise NotASpoolError(f"{path} is a symbolic link; give the spool's real path")
    if os.path.isdir(path):
        return False
    header = _header(path)
    if not header:
        raise NotASpoolError(
            f"{path} is an empty file, not a spool; remove it or choose another spool_path"
        )
    if not header.startswith(_MAGIC):
        return False
    app_id = _application_id(header)
    if app_id == APPLICATION_ID:
        return True
    if app_id == 0:
        try:
            conn = open_read_only(path)
            try:
                names = {
                    name
                    for (name,) in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")
                }
            finally:
                conn.close()
        except sqlite3.Error:
            names = set()
        if names and names <= TABLES and "events" in names and "meta" in names:
            return True
    raise NotASpoolError(
        f"{path} is an SQLite database that is not a teleflow spool; it was left "
        "unchanged: choose another spool_path"
    )


def open_read_only(path: str) -> Any:
    """A connection that cannot create, convert or write ``path`` (SQLite ``mode=ro``).

    Without a ``-wal`` file next to it (no process writing) the file is opened
    ``immutable``, so SQLite creates no ``-wal`` or ``-shm`` either.

    Raises:
        sqlite3.Error: it cannot be opened.
    """
    uri = "file:" + path.replace("%", "%25").replace("?", "%3f").replace("#", "%23") + "?mode=ro"
    if not os.path.exists(path + "-wal"):
        uri += "&immutable=1"
    return connect_sqlite(uri, uri=True, isolation_level=None, check_same_thread=False)


def open_spool(path: str, synchronous: str) -> Any:
    """A connection to the spool at ``path``, creating one where nothing is.

    A damaged spool, or bytes that are not SQLite at all, are moved aside (with a
    warning) and a fresh spool started: a broken spool never stops a process, nor makes
    it fail again at every start.

    Raises:
        NotASpoolError: the path holds something else (left unchanged).
        SpoolStorageError: the spool cannot be read or written now (left unchanged), or
            even a fresh spool cannot be created (for example a read-only folder).
    """
    try:
        if not os.path.lexists(path):
            _create(path)
        if check_is_spool(path):
            return connect(path, synchronous)
        problem = "it is not an SQLite file"
    except NotASpoolError:
        raise
    except (sqlite3.Error, OSError) as exc:
        if is_storage_fault(exc):
            raise SpoolStorageError(f"cannot use the spool {path}: {exc}") from exc
        problem = str(exc)
    aside = move_aside(path)
    logger.warning(
        "teleflow_py analytics: the spool %s cannot be used (%s); %s, and a new spool is started",
        path,
        problem,
        f"it was moved to {aside}" if aside else "it could not be moved aside",
    )
    try:
        _create(path)
        return connect(path, synchronous)
    except (sqlite3.Error, OSError) as exc:
        raise SpoolStorageError(f"cannot create a spool at {path}: {exc}") from exc


def move_aside(path: str) -> Optional[str]:
    """Rename ``path`` (and its ``-wal`` and ``-shm`` files) out of the way, made 0600.

    Returns the new name of the main file, or ``None`` when it could not be moved.
    """
    stamp = time.strftime("%Y%m%dT%H%M%S")
    aside = f"{path}.corrupt-{stamp}-{os.getpid()}"
    moved: Optional[str] = None
    for suffix in ("", "-wal", "-shm"):
        try:
            os.replace(path + suffix, aside + suffix)
        except FileNotFoundError:
            continue
        except OSError:
            if not suffix:
                return None
            continue
        if not suffix:
            moved = aside
        with contextlib.suppress(OSError):
            os.chmod(aside + suffix, 0o700 if os.path.isdir(aside + suffix) else 0o600)
    return moved
