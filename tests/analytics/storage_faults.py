"""Fault injection for the spool: make chosen SQLite writes fail as a failing disk would.

The spool opens its connections through ``spool_file.connect_sqlite`` (its connection
factory); :func:`install` replaces it with one that wraps each connection in
:class:`FaultyConnection`. Every write statement the spool runs (``INSERT``, ``UPDATE``,
``DELETE``, ``COMMIT``, ``BEGIN IMMEDIATE``) is numbered across the process; the writes
numbered ``start`` to ``start + count - 1`` fail with the error SQLite raises for the
fault, then writes work again (the disk got room, the file is writable again).

The messages are SQLite's own (``sqlite3_errstr``) for the conditions behind them:

=============  ===================================  ========================================
kind           SQLite error                         what causes it
=============  ===================================  ========================================
``full``       ``database or disk is full``         ENOSPC, a file-size limit (EFBIG)
``ioerr``      ``disk I/O error``                   EIO, EDQUOT (quota), a failing disk
``readonly``   ``attempt to write a readonly        EROFS, EACCES on the file (chmod 0444)
               database``
``busy``       ``database is locked``               another writer past the busy timeout
``cantopen``   ``unable to open database file``     the folder removed or made read-only
=============  ===================================  ========================================
"""

from __future__ import annotations

import sqlite3
import threading
from typing import Any, Callable, Dict, List

MESSAGES: Dict[str, str] = {
    "full": "database or disk is full",
    "ioerr": "disk I/O error",
    "readonly": "attempt to write a readonly database",
    "busy": "database is locked",
    "cantopen": "unable to open database file",
}
KINDS: List[str] = sorted(MESSAGES)
_WRITES = ("INSERT", "UPDATE", "DELETE", "COMMIT", "BEGIN")


class Plan:
    """Which writes fail, and how; counts what it did."""

    def __init__(self, kind: str, start: int, count: int) -> None:
        self.kind = kind
        self.start = start
        self.count = count
        self.writes = 0
        self.failed = 0
        self._lock = threading.Lock()

    def check(self, sql: str) -> None:
        if not sql.lstrip().upper().startswith(_WRITES):
            return
        with self._lock:
            self.writes += 1
            number = self.writes
        if self.start <= number < self.start + self.count:
            self.failed += 1
            raise sqlite3.OperationalError(MESSAGES[self.kind])


class FaultyConnection:
    """An ``sqlite3.Connection`` whose writes fail when the plan says so.

    A failed ``COMMIT`` leaves no transaction open, as SQLite does after an I/O error or a
    full disk (the spool must not try to roll back what SQLite already rolled back).
    """

    def __init__(self, conn: sqlite3.Connection, plan: Plan) -> None:
        self._conn = conn
        self._plan = plan

    def execute(self, sql: str, *args: Any) -> Any:
        try:
            self._plan.check(sql)
        except sqlite3.OperationalError:
            if sql.strip().upper() == "COMMIT" and self._conn.in_transaction:
                self._conn.execute("ROLLBACK")
            raise
        return self._conn.execute(sql, *args)

    def executemany(self, sql: str, rows: Any) -> Any:
        self._plan.check(sql)
        return self._conn.executemany(sql, rows)

    @property
    def in_transaction(self) -> bool:
        return self._conn.in_transaction

    def close(self) -> None:
        self._conn.close()


def install(monkeypatch: Any, plan: Plan) -> None:
    """Open every spool connection through :class:`FaultyConnection` under ``plan``."""
    from teleflow_py.analytics import spool_file
    from teleflow_py.analytics.spool_fallback import Fallback

    real: Callable[..., sqlite3.Connection] = sqlite3.connect

    def connect(*args: Any, **kwargs: Any) -> FaultyConnection:
        return FaultyConnection(real(*args, **kwargs), plan)

    monkeypatch.setattr(spool_file, "connect_sqlite", connect)
    # Probe a faulty spool often, so a test sees it resume without waiting long.
    monkeypatch.setattr(Fallback, "PROBE_EVERY", 0.05)
