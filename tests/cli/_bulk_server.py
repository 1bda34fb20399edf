"""A loopback server that answers bulk triggers and keeps nothing: for memory bounds.

The emulator stores every event it is sent, which is right for checking what arrived but
would make a test of a large file measure the emulator. This one only counts.
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Optional, Type


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: CountingServer

    def do_POST(self) -> None:  # the name http.server looks up
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        count = len(body["events"])
        self.server.add(count)
        result = {"acknowledged": True, "status": "processed", "transactionId": "t"}
        answer = json.dumps({"data": [result] * count}).encode("utf-8")
        self.send_response(201)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)

    def log_message(self, format: str, *args: object) -> None:
        pass


class CountingServer(ThreadingHTTPServer):
    """Answers ``POST /v1/events/trigger/bulk`` with one processed result per event."""

    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.events = 0
        self.requests = 0
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self.serve_forever, daemon=True)

    def add(self, count: int) -> None:
        with self._lock:
            self.events += count
            self.requests += 1

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def __enter__(self) -> CountingServer:
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: Optional[Type[BaseException]],
        exc: Optional[BaseException],
        traceback: Optional[TracebackType],
    ) -> None:
        self.shutdown()
        self.server_close()
