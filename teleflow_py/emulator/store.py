"""Everything the emulator received, in SQLite (``:memory:`` by default, a file to survive restarts).

One connection guarded by one lock: handler threads write, tests and the dashboard read. Rows
keep their JSON as text and an integer ``seq`` so every listing comes back in arrival order.
Counters live in the same database, so they survive a restart together with the data.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from typing import Any, Optional

_SCHEMA = """
CREATE TABLE IF NOT EXISTS requests (
    seq INTEGER PRIMARY KEY, method TEXT, path TEXT, data TEXT,
    status INTEGER, fault TEXT, replayed INTEGER DEFAULT 0);
CREATE TABLE IF NOT EXISTS notifications (
    seq INTEGER PRIMARY KEY, kind TEXT, name TEXT, transaction_id TEXT,
    cancelled INTEGER DEFAULT 0, data TEXT);
CREATE INDEX IF NOT EXISTS notifications_tid ON notifications (transaction_id);
CREATE TABLE IF NOT EXISTS events (
    seq INTEGER PRIMARY KEY, message_id TEXT UNIQUE, event TEXT, user_id TEXT, data TEXT);
CREATE TABLE IF NOT EXISTS records (seq INTEGER PRIMARY KEY, kind TEXT, data TEXT);
CREATE INDEX IF NOT EXISTS records_kind ON records (kind);
CREATE TABLE IF NOT EXISTS counters (name TEXT PRIMARY KEY, value INTEGER);
CREATE TABLE IF NOT EXISTS idempotency (
    route TEXT, key TEXT, fingerprint TEXT, status INTEGER, headers TEXT, body BLOB,
    PRIMARY KEY (route, key));
"""
_TABLES = ("requests", "notifications", "events", "records", "counters", "idempotency")

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

    def __init__(self, db_path: Optional[str] = None) -> None:
        self._lock = threading.Lock()
        self._conn = sqlite3.connect(db_path or ":memory:", check_same_thread=False)
        if db_path:
            # WAL without fsync per commit: durable across a process restart, fast per request.
            self._conn.execute("PRAGMA journal_mode=WAL")
            self._conn.execute("PRAGMA synchronous=NORMAL")
        with self._lock, self._conn:
            self._conn.executescript(_SCHEMA)
            self._seed_counters()

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
        with self._lock, self._conn:
            cursor = self._conn.execute(
                "INSERT INTO requests (method, path, data) VALUES (?, ?, ?)",
                (method, path, _dump(data)),
            )
            self._bump("requests")
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
        """Store triggers/broadcasts; each row's ``source`` is trigger, bulk or broadcast."""
        with self._lock, self._conn:
            self._conn.executemany(
                "INSERT INTO notifications (kind, name, transaction_id, data) VALUES (?, ?, ?, ?)",
                [(row["source"], row["name"], row["transactionId"], _dump(row)) for row in rows],
            )
            for row in rows:
                self._bump("broadcasts" if row["source"] == "broadcast" else "triggers")

    def cancel(self, transaction_id: str) -> bool:
        """Mark a live transaction cancelled; record the call; True if something was cancelled."""
        with self._lock, self._conn:
            cursor = self._conn.execute(
                "UPDATE notifications SET cancelled = 1 WHERE transaction_id = ? AND cancelled = 0",
                (transaction_id,),
            )
            result = cursor.rowcount > 0
            self._add_record("cancellation", {"transactionId": transaction_id, "result": result})
            return result

    def add_events(self, events: list[dict[str, Any]]) -> int:
        """Store analytics events not seen before (by message_id); return how many were dupes."""
        duplicates = 0
        with self._lock, self._conn:
            for event in events:
                cursor = self._conn.execute(
                    "INSERT OR IGNORE INTO events (message_id, event, user_id, data) "
                    "VALUES (?, ?, ?, ?)",
                    (event["message_id"], event["event"], event.get("user_id"), _dump(event)),
                )
                if cursor.rowcount == 0:
                    duplicates += 1
            self._bump("events", len(events) - duplicates)
            self._bump("duplicates_ignored", duplicates)
        return duplicates

    def _add_record(self, kind: str, data: dict[str, Any]) -> None:
        self._conn.execute("INSERT INTO records (kind, data) VALUES (?, ?)", (kind, _dump(data)))
        self._bump(_RECORD_COUNTERS[kind])

    def add_record(self, kind: str, data: dict[str, Any]) -> None:
        """Append a record of ``kind`` (bulk_call, batch, alias, replay, fault)."""
        with self._lock, self._conn:
            self._add_record(kind, data)

    # -- idempotency ----------------------------------------------------------------------

    def idempotency_lookup(self, route: str, key: str) -> Optional[StoredResponse]:
        """Return the first response kept for ``key`` on ``route``, if any."""
        with self._lock:
            row = self._conn.execute(
                "SELECT fingerprint, status, headers, body FROM idempotency "
                "WHERE route = ? AND key = ? AND status IS NOT NULL",
                (route, key),
            ).fetchone()
        if row is None:
            return None
        return StoredResponse(row[0], int(row[1]), json.loads(row[2]), bytes(row[3]))

    def idempotency_seen(self, route: str, key: str) -> bool:
        """Remember that ``key`` was used on ``route``; True if it had been used before.

        A repeat bumps the ``retries_seen`` counter.
        """
        with self._lock, self._conn:
            cursor = self._conn.execute(
                "INSERT OR IGNORE INTO idempotency (route, key) VALUES (?, ?)", (route, key)
            )
            repeated = cursor.rowcount == 0
            if repeated:
                self._bump("retries_seen")
            return repeated

    def idempotency_keep(self, route: str, key: str, response: StoredResponse) -> None:
        """Keep the first successful response to ``key`` on ``route`` for replay."""
        with self._lock, self._conn:
            self._conn.execute(
                "INSERT OR REPLACE INTO idempotency (route, key, fingerprint, status, headers, body)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                (
                    route,
                    key,
                    response.fingerprint,
                    response.status,
                    _dump(response.headers),
                    response.body,
                ),
            )

    # -- reads ----------------------------------------------------------------------------

    def _select(self, sql: str, params: tuple[Any, ...], limit: Optional[int]) -> list[Any]:
        if limit is not None:
            sql = f"SELECT * FROM ({sql} ORDER BY seq DESC LIMIT {int(limit)}) ORDER BY seq"
        else:
            sql += " ORDER BY seq"
        with self._lock:
            return self._conn.execute(sql, params).fetchall()

    def requests(
        self, path: Optional[str], method: Optional[str], limit: Optional[int] = None
    ) -> list[dict[str, Any]]:
        """Logged requests, oldest first, optionally filtered by exact path and method."""
        sql = "SELECT seq, data, status, fault, replayed FROM requests WHERE 1 = 1"
        params: list[Any] = []
        if path is not None:
            sql += " AND path = ?"
            params.append(path)
        if method is not None:
            sql += " AND method = ?"
            params.append(method.upper())
        result = []
        for _seq, data, status, fault, replayed in self._select(sql, tuple(params), limit):
            entry = json.loads(data)
            entry["body"] = _parsed(entry["raw_body"])
            entry.update(status=status, fault=fault, replayed=bool(replayed))
            result.append(entry)
        return result

    def notifications(
        self, kinds: tuple[str, ...], name: Optional[str], limit: Optional[int] = None
    ) -> list[dict[str, Any]]:
        """Triggers or broadcasts, oldest first, with their current ``cancelled`` flag."""
        marks = ", ".join("?" for _ in kinds)
        sql = f"SELECT seq, data, cancelled FROM notifications WHERE kind IN ({marks})"
        params: list[Any] = list(kinds)
        if name is not None:
            sql += " AND name = ?"
            params.append(name)
        result = []
        for _seq, data, cancelled in self._select(sql, tuple(params), limit):
            row = json.loads(data)
            row["cancelled"] = bool(cancelled)
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
        with self._lock, self._conn:
            for table in _TABLES:
                self._conn.execute(f"DELETE FROM {table}")
            self._seed_counters()

    def close(self) -> None:
        """Close the database connection."""
        with self._lock:
            self._conn.close()
