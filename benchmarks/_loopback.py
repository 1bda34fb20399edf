"""A fast loopback HTTP server for the benchmarks, in a process of its own.

It speaks just enough HTTP/1.1 (keep-alive, Content-Length bodies) to answer any SDK, and
counts the events it receives. It runs in its own process, as a real server would: in the
benchmark's process it would take the GIL from the SDK under test and blur the measurement.
Python's ``http.server`` is not used: it spends more per request than the clients measured.
"""

from __future__ import annotations

import gzip
import json
import multiprocessing
import socket
import threading
import time
from typing import Any

TRIGGER_ANSWER = json.dumps(
    {"data": {"acknowledged": True, "status": "processed", "transactionId": "tx-bench"}}
).encode()


BULK_RESULT = json.dumps(
    {"acknowledged": True, "status": "processed", "transactionId": "tx-bench"}
).encode()


def _count_events(raw: bytes) -> int:
    try:
        body = json.loads(raw)
    except ValueError:
        return 0
    if isinstance(body, dict):
        for key in ("events", "batch"):
            if isinstance(body.get(key), list):
                return len(body[key])
        return 1
    return len(body) if isinstance(body, list) else 0


def _answer(status: int, payload: bytes) -> bytes:
    return (
        f"HTTP/1.1 {status} OK\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(payload)}\r\n\r\n"
    ).encode() + payload


def _serve_connection(conn: socket.socket, kind: str, delay: float, events: Any) -> None:
    buffer = b""
    with conn:
        while True:
            while b"\r\n\r\n" not in buffer:
                chunk = conn.recv(262144)
                if not chunk:
                    return
                buffer += chunk
            head, _, buffer = buffer.partition(b"\r\n\r\n")
            length, gzipped = 0, False
            for line in head.split(b"\r\n")[1:]:
                name, _, value = line.partition(b":")
                name = name.strip().lower()
                if name == b"content-length":
                    length = int(value.strip())
                elif name == b"content-encoding" and b"gzip" in value:
                    gzipped = True
            while len(buffer) < length:
                chunk = conn.recv(262144)
                if not chunk:
                    return
                buffer += chunk
            body, buffer = buffer[:length], buffer[length:]
            if delay:
                time.sleep(delay)
            if kind == "trigger":
                conn.sendall(_answer(201, TRIGGER_ANSWER))
                continue
            count = _count_events(gzip.decompress(body) if gzipped else body)
            with events.get_lock():
                events.value += count
            if kind == "bulk":  # one result per event, as the API answers a bulk trigger
                conn.sendall(_answer(201, b'{"data":[' + b",".join([BULK_RESULT] * count) + b"]}"))
                continue
            payload = json.dumps({"accepted": count, "rejected": 0, "errors": []}).encode()
            conn.sendall(_answer(200, payload))


def _serve(kind: str, delay: float, events: Any, ready: Any) -> None:
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(128)
    ready.put(listener.getsockname()[1])
    while True:
        conn, _ = listener.accept()
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        threading.Thread(
            target=_serve_connection, args=(conn, kind, delay, events), daemon=True
        ).start()


class LoopbackServer:
    """``kind="batch"`` counts analytics events; ``kind="trigger"`` answers a trigger;
    ``kind="bulk"`` answers a bulk trigger (one result per event). ``delay`` seconds are
    added to every request."""

    def __init__(self, kind: str = "batch", delay: float = 0.0) -> None:
        context = multiprocessing.get_context("spawn")
        self._events = context.Value("q", 0)
        ready = context.Queue()
        self._process = context.Process(
            target=_serve, args=(kind, delay, self._events, ready), daemon=True
        )
        self._process.start()
        self.url = f"http://127.0.0.1:{ready.get(timeout=60)}"

    @property
    def events(self) -> int:
        """Events counted so far."""
        return int(self._events.value)

    def reset(self) -> None:
        """Start counting from zero."""
        with self._events.get_lock():
            self._events.value = 0

    def wait_for(self, count: int, guard: float) -> bool:
        """Wait until ``count`` events were counted; ``False`` after ``guard`` seconds."""
        end = time.monotonic() + guard
        while self.events < count:
            if time.monotonic() > end:
                return False
            time.sleep(0.001)
        return True

    def close(self) -> None:
        """Stop the server process."""
        self._process.terminate()
        self._process.join(timeout=10)
