"""Everything the emulator received, in SQLite (``:memory:`` by default, a file to survive restarts).

One connection guarded by one lock: handler threads write, tests and the dashboard read. Rows
keep their JSON as text and an integer ``seq`` so every listing comes back in arrival order.
Counters live in the same database, so they survive a restart together with the data.

Memory is bounded: each table keeps at most ``StoreLimits.max_rows`` rows and
``StoreLimits.max_bytes`` bytes of JSON; past that the oldest rows are dropped and counted
(``<table>_dropped``). A reset frees the memory (``VACUUM``).
"""

from __future__ import annotations

import json
import sqlite3
import threading
from dataclasses import dataclass
from typing import Any, Optional

# Bumped when the tables change: an older emulator database is started afresh.
SCHEMA_VERSION = 2

_SCHEMA = """
CREATE TABLE IF NOT EXISTS requests (
    seq INTEGER PRIMARY KEY, method TEXT, path TEXT, key TEXT, data TEXT,
    status INTEGER, fault TEXT, replayed INTEGER DEFAULT 0, size INTEGER);
CREATE TABLE IF NOT EXISTS notifications (
    seq INTEGER PRIMARY KEY, kind TEXT, name TEXT, transaction_id TEXT,
    cancelled INTEGER DEFAULT 0, pending INTEGER DEFAULT 0, data TEXT, size INTEGER);
CREATE INDEX IF NOT EXISTS notifications_tid ON notifications (transaction_id);
CREATE TABLE IF NOT EXISTS events (
    seq INTEGER PRIMARY KEY, message_id TEXT UNIQUE, event TEXT, user_id TEXT, data TEXT,
    size INTEGER);
CREATE TABLE IF NOT EXISTS records (seq INTEGER PRIMARY KEY, kind TEXT, data TEXT, size INTEGER);
CREATE INDEX IF NOT EXISTS records_kind ON records (kind);
CREATE TABLE IF NOT EXISTS counters (name TEXT PRIMARY KEY, value INTEGER);
CREATE TABLE IF NOT EXISTS idempotency (
    seq INTEGER PRIMARY KEY, scope TEXT, key TEXT, fingerprint TEXT, status INTEGER,
    headers TEXT, body BLOB, stored_at REAL, size INTEGER, UNIQUE (scope, key));
"""
_TABLES = ("requests", "notifications", "events", "records", "counters", "idempotency")
# Tables that grow with traffic, and so are capped.
_CAPPED = ("requests", "notifications", "events", "records", "idempotency")


@dataclass(frozen=True)
class StoreLimits:
    """How much each growing table keeps before dropping its oldest rows.

    Args:
        max_rows: rows per table.
        max_bytes: bytes of stored JSON (and kept answers) per table.
    """

    max_rows: int = 10_000
    max_bytes: int = 32 * 1024 * 1024


COUNTERS = (
    "triggers",
    "bulk_calls",
    "broadcasts",
    "cancellations",
    "events",
    "batches",
    "aliases",
    "replays",
    "faults",
    "duplicates_ignored",
    "requests",
    "retries_seen",
    *(f"{table}_dropped" for table in _CAPPED),
)
# Which counter a generic record bumps.
_RECORD_COUNTERS = {
    "bulk_call": "bulk_calls",
    "batch": "batches",
    "alias": "aliases",
    "cancellation": "cancellations",
    "replay": "replays",
    "fault": "faults",
}


def _parsed(text: str) -> Any:
    # Only the raw body is stored (half the writes); it is parsed when someone looks.
    try:
        return json.loads(text) if text else None
    except ValueError:
        return None


class StoredResponse:
    """A first response kept for idempotent replay."""

    def __init__(self, fingerprint: str, status: int, headers: dict[str, str], body: bytes):
        self.fingerprint = fingerprint
        self.status = status
        self.headers = headers
        self.body = body


def _dump(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


class Store:
    """Thread-safe storage of requests, notifications, events, records, counters, idempotency."""

    def __init__(self, db_path: Optional[str] = None, limits: Optional[StoreLimits] = None) -> None:
        self._lock = threading.Lock()
        self._limits = limits or StoreLimits()
        self._conn = sqlite3.connect(db_path or ":memory:", check_same_thread=False)
        if db_path:
            # WAL without fsync per commit: durable across a process restart, fast per request.
            self._conn.execute("PRAGMA journal_mode=WAL")
            self._conn.execute("PRAGMA synchronous=NORMAL")
        with self._lock, self._conn:
            version = int(self._conn.execute("PRAGMA user_version").fetchone()[0])
            if version != SCHEMA_VERSION:
                for table in _TABLES:
                    self._conn.execute(f"DROP TABLE IF EXISTS {table}")
                self._conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
            self._conn.executescript(_SCHEMA)
            self._seed_counters()
        self._rows: dict[str, int] = {}
        self._bytes: dict[str, int] = {}
        with self._lock:
            self._measure()

    def _measure(self) -> None:
        for table in _CAPPED:
            self._measure_table(table)

    def _grew(self, table: str, rows: int, size: int) -> None:
        """Account for rows added to ``table`` and drop its oldest past the limits.

        Caller holds the lock and the transaction.
        """
        self._rows[table] += rows
        self._bytes[table] += size
        dropped = 0
        while (
            self._rows[table] > self._limits.max_rows or self._bytes[table] > self._limits.max_bytes
        ) and self._rows[table] > 0:
            oldest = self._conn.execute(
                f"SELECT seq, COALESCE(size, 0) FROM {table} ORDER BY seq LIMIT 64"
            ).fetchall()
            victims = []
            for seq, row_size in oldest:
                if self._rows[table] <= self._limits.max_rows and (
                    self._bytes[table] <= self._limits.max_bytes
                ):
                    break
                victims.append((seq,))
                self._rows[table] -= 1
                self._bytes[table] -= int(row_size)
            self._conn.executemany(f"DELETE FROM {table} WHERE seq = ?", victims)
            dropped += len(victims)
        if dropped:
            self._bump(f"{table}_dropped", dropped)

    def _seed_counters(self) -> None:
        # Counters are pre-created so a bump is a plain UPDATE (no UPSERT: old SQLite builds).
        self._conn.executemany(
            "INSERT OR IGNORE INTO counters (name, value) VALUES (?, 0)", [(n,) for n in COUNTERS]
        )

    # -- writes ---------------------------------------------------------------------------

    def _bump(self, name: str, delta: int = 1) -> None:
        # Caller holds the lock and the transaction.
        self._conn.execute("UPDATE counters SET value = value + ? WHERE name = ?", (delta, name))

    def bump(self, name: str, delta: int = 1) -> None:
        """Add ``delta`` to counter ``name``."""
        with self._lock, self._conn:
            self._bump(name, delta)

    def log_request(self, method: str, path: str, data: dict[str, Any]) -> int:
        """Append a received request (status unknown yet); return its sequence number."""
        text = _dump(data)
        with self._lock, self._conn:
            cursor = self._conn.execute(
                "INSERT INTO requests (method, path, key, data, size) VALUES (?, ?, ?, ?, ?)",
                (method, path, data.get("idempotency_key"), text, len(text)),
            )
            self._bump("requests")
            self._grew("requests", 1, len(text))
            return int(cursor.lastrowid or 0)

    def finish_request(
        self, seq: int, status: Optional[int], fault: Optional[str], replayed: bool
    ) -> None:
        """Record how request ``seq`` was answered (``status`` None: dropped)."""
        with self._lock, self._conn:
            self._conn.execute(
                "UPDATE requests SET status = ?, fault = ?, replayed = ? WHERE seq = ?",
                (status, fault, int(replayed), seq),
            )

    def add_notifications(self, rows: list[dict[str, Any]]) -> None:
        """Store triggers/broadcasts; each row's ``source`` is trigger, bulk or broadcast.

        A row with ``pending`` true waits in a delay or digest step (cancel finds it).
        """
        texts = [_dump(row) for row in rows]
        with self._lock, self._conn:
            self._conn.executemany(
                "INSERT INTO notifications (kind, name, transaction_id, pending, data, size)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                [
                    (
                        row["source"],
                        row["name"],
                        row["transactionId"],
                        int(bool(row.get("pending"))),
                        text,
                        len(text),
                    )
                    for row, text in zip(rows, texts)
                ],
            )
            for row in rows:
                self._bump("broadcasts" if row["source"] == "broadcast" else "triggers")
            self._grew("notifications", len(rows), sum(len(text) for text in texts))

    def cancel(self, transaction_id: str) -> bool:
        """Cancel a transaction still pending in a delay or digest step; record the call.

        True if something was cancelled (cancel-delayed.usecase.ts: only delayed jobs count).
        """
        with self._lock, self._conn:
            cursor = self._conn.execute(
                "UPDATE notifications SET cancelled = 1, pending = 0"
                " WHERE transaction_id = ? AND pending = 1",
                (transaction_id,),
            )
            result = cursor.rowcount > 0
            self._add_record("cancellation", {"transactionId": transaction_id, "result": result})
            return result

    def add_events(self, events: list[dict[str, Any]]) -> int:
        """Store analytics events not seen before (by message_id); return how many were dupes."""
        duplicates = 0
        size = 0
        with self._lock, self._conn:
            for event in events:
                text = _dump(event)
                cursor = self._conn.execute(
                    "INSERT OR IGNORE INTO events (message_id, event, user_id, data, size) "
                    "VALUES (?, ?, ?, ?, ?)",
                    (event["message_id"], event["event"], event.get("user_id"), text, len(text)),
                )
                if cursor.rowcount == 0:
                    duplicates += 1
                else:
                    size += len(text)
            self._bump("events", len(events) - duplicates)
            self._grew("events", len(events) - duplicates, size)
            self._bump("duplicates_ignored", duplicates)
        return duplicates

    def _add_record(self, kind: str, data: dict[str, Any]) -> None:
        text = _dump(data)
        self._conn.execute(
            "INSERT INTO records (kind, data, size) VALUES (?, ?, ?)", (kind, text, len(text))
        )
        self._bump(_RECORD_COUNTERS[kind])
        self._grew("records", 1, len(text))

    def add_record(self, kind: str, data: dict[str, Any]) -> None:
        """Append a record of ``kind`` (bulk_call, batch, alias, replay, fault)."""
        with self._lock, self._conn:
            self._add_record(kind, data)

    # -- idempotency ----------------------------------------------------------------------

    def idempotency_lookup(self, scope: str, key: str, since: float) -> Optional[StoredResponse]:
        """Return the answer kept for ``key`` in ``scope`` at or after ``since``, if any."""
        with self._lock:
            row = self._conn.execute(
                "SELECT fingerprint, status, headers, body FROM idempotency "
                "WHERE scope = ? AND key = ? AND status IS NOT NULL AND stored_at >= ?",
                (scope, key, since),
            ).fetchone()
        if row is None:
            return None
        return StoredResponse(row[0], int(row[1]), json.loads(row[2]), bytes(row[3]))

    def idempotency_seen(self, scope: str, key: str) -> bool:
        """Remember that ``key`` was used in ``scope``; True if it had been used before.

        A repeat bumps the ``retries_seen`` counter.
        """
        with self._lock, self._conn:
            cursor = self._conn.execute(
                "INSERT OR IGNORE INTO idempotency (scope, key, size) VALUES (?, ?, ?)",
                (scope, key, len(key)),
            )
            repeated = cursor.rowcount == 0
            if repeated:
                self._bump("retries_seen")
            else:
                self._grew("idempotency", 1, len(key))
            return repeated

    def idempotency_keep(
        self, scope: str, key: str, response: StoredResponse, stored_at: float
    ) -> None:
        """Keep the answer to ``key`` in ``scope`` for replay (replacing an expired one)."""
        headers = _dump(response.headers)
        size = len(key) + len(headers) + len(response.body)
        with self._lock, self._conn:
            old = self._conn.execute(
                "SELECT COUNT(*), COALESCE(SUM(size), 0) FROM idempotency"
                " WHERE scope = ? AND key = ?",
                (scope, key),
            ).fetchone()
            self._conn.execute("DELETE FROM idempotency WHERE scope = ? AND key = ?", (scope, key))
            self._grew("idempotency", -int(old[0]), -int(old[1]))
            self._conn.execute(
                "INSERT INTO idempotency"
                " (scope, key, fingerprint, status, headers, body, stored_at, size)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    scope,
                    key,
                    response.fingerprint,
                    response.status,
                    headers,
                    response.body,
                    stored_at,
                    size,
                ),
            )
            self._grew("idempotency", 1, size)

    def _measure_table(self, table: str) -> None:
        rows, size = self._conn.execute(
            f"SELECT COUNT(*), COALESCE(SUM(size), 0) FROM {table}"
        ).fetchone()
        self._rows[table], self._bytes[table] = int(rows), int(size)

    # -- reads ----------------------------------------------------------------------------

    def _select(self, sql: str, params: tuple[Any, ...], limit: Optional[int]) -> list[Any]:
        if limit is not None:
            sql = f"SELECT * FROM ({sql} ORDER BY seq DESC LIMIT {int(limit)}) ORDER BY seq"
        else:
            sql += " ORDER BY seq"
        with self._lock:
            return self._conn.execute(sql, params).fetchall()

    def requests(
        self,
        path: Optional[str],
        method: Optional[str],
        limit: Optional[int] = None,
        status: Optional[str] = None,
        key: Optional[str] = None,
    ) -> list[dict[str, Any]]:
        """Logged requests, oldest first, optionally filtered by exact path, method, status
        and idempotency key."""
        sql = "SELECT seq, data, status, fault, replayed FROM requests WHERE 1 = 1"
        params: list[Any] = []
        if status is not None:
            sql += " AND status = ?"
            params.append(int(status))
        if key is not None:
            sql += " AND key = ?"
            params.append(key)
        if path is not None:
            sql += " AND path = ?"
            params.append(path)
        if method is not None:
            sql += " AND method = ?"
            params.append(method.upper())
        result = []
        for seq, data, status, fault, replayed in self._select(sql, tuple(params), limit):
            entry = json.loads(data)
            entry["seq"] = seq
            entry["body"] = None if entry.get("truncated") else _parsed(entry["raw_body"])
            entry.update(status=status, fault=fault, replayed=bool(replayed))
            result.append(entry)
        return result

    def notifications(
        self, kinds: tuple[str, ...], name: Optional[str], limit: Optional[int] = None
    ) -> list[dict[str, Any]]:
        """Triggers or broadcasts, oldest first, with their current ``cancelled`` flag."""
        marks = ", ".join("?" for _ in kinds)
        sql = f"SELECT seq, data, cancelled, pending FROM notifications WHERE kind IN ({marks})"
        params: list[Any] = list(kinds)
        if name is not None:
            sql += " AND name = ?"
            params.append(name)
        result = []
        for seq, data, cancelled, pending in self._select(sql, tuple(params), limit):
            row = json.loads(data)
            row.update(seq=seq, cancelled=bool(cancelled), pending=bool(pending))
            result.append(row)
        return result

    def events(
        self, event: Optional[str], user_id: Optional[str], limit: Optional[int] = None
    ) -> list[dict[str, Any]]:
        """Accepted analytics events, oldest first, optionally filtered."""
        sql = "SELECT seq, data FROM events WHERE 1 = 1"
        params: list[Any] = []
        if event is not None:
            sql += " AND event = ?"
            params.append(event)
        if user_id is not None:
            sql += " AND user_id = ?"
            params.append(user_id)
        return [json.loads(data) for _seq, data in self._select(sql, tuple(params), limit)]

    def records(self, kind: str, limit: Optional[int] = None) -> list[dict[str, Any]]:
        """Records of ``kind``, oldest first."""
        rows = self._select("SELECT seq, data FROM records WHERE kind = ?", (kind,), limit)
        return [json.loads(data) for _seq, data in rows]

    def counters(self) -> dict[str, int]:
        """Every counter (zero when never bumped)."""
        with self._lock:
            rows = self._conn.execute("SELECT name, value FROM counters").fetchall()
        result = dict.fromkeys(COUNTERS, 0)
        result.update({name: int(value) for name, value in rows})
        return result

    # -- lifecycle ------------------------------------------------------------------------

    def reset(self) -> None:
        """Forget everything."""
        with self._lock:
            with self._conn:
                for table in _TABLES:
                    self._conn.execute(f"DELETE FROM {table}")
                self._seed_counters()
            # Give the pages back: a reset must free the memory the data held.
            self._conn.execute("VACUUM")
            self._measure()

    def close(self) -> None:
        """Close the database connection."""
        with self._lock:
            self._conn.close()
