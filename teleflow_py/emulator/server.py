"""Sockets and HTTP/1.1 framing: keep-alive, Content-Length, timeouts, one write per reply.

The handler frames a request (refusing what cannot be framed: 411, 413, a short body) and
hands it to ``Service.handle``. Everything about what the request means lives there.
"""

from __future__ import annotations

import contextlib
import socket
import socketserver
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Optional

from .app import Service
from .wire import Incoming, Reply, error_reply, parse_decimal, reason

# How long a client may take to send the whole body it announced, however it trickles it in
# (a stalled or trickled upload frees its thread).
BODY_READ_TIMEOUT = 10.0
# How long an idle keep-alive connection is kept; SDK pools reuse connections between calls.
IDLE_TIMEOUT = 120.0
# After refusing a body, read and discard what the client still sends for this long, so it
# receives our answer instead of a reset (the "lingering close" of nginx and Apache).
LINGER_SECONDS = 2.0
_BODYLESS_STATUSES = (204, 304)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "TeleflowEmulator"
    sys_version = ""
    timeout = IDLE_TIMEOUT
    server: EmulatorHTTPServer

    def setup(self) -> None:
        super().setup()
        # Small replies must not wait for the client's delayed ACK (Nagle): latency matters here.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_message(self, format: str, *args: Any) -> None:
        """Stay quiet: a test run or a benchmark must not print a line per request."""

    def send_error(
        self, code: int, message: Optional[str] = None, explain: Optional[str] = None
    ) -> None:
        """Answer what http.server itself refuses (bad request line, unknown method) in JSON."""
        reply = error_reply(code, message or reason(code))
        reply.close = True
        self._send(reply)

    def handle_expect_100(self) -> bool:
        """Refuse an oversized body before the client sends it, else let it continue."""
        declared = parse_decimal(self.headers.get("Content-Length", ""))
        if declared is not None and declared > self.server.max_body_bytes:
            self._refuse(self._incoming(), 413, "Payload Too Large")
            return False
        return super().handle_expect_100()

    def _incoming(self) -> Incoming:
        target = self.path.split("#", 1)[0]
        path, _, query = target.partition("?")
        headers: dict[str, str] = {}
        for name, value in self.headers.items():
            key = name.lower()
            headers[key] = f"{headers[key]}, {value}" if key in headers else value
        return Incoming(self.command, path, query, headers, b"")

    def _serve(self) -> None:
        incoming = self._incoming()
        declared = incoming.headers.get("content-length")
        if "transfer-encoding" in incoming.headers:
            # Chunked uploads are not supported; the SDK always sends a length.
            return self._refuse(incoming, 411, "Content-Length required (no chunked bodies)")
        if declared is None:
            if self.command in ("POST", "PUT", "PATCH"):
                return self._refuse(incoming, 411, "Content-Length required")
            return self._send(self.server.service.handle(incoming))
        length = parse_decimal(declared)
        if length is None:
            return self._refuse(incoming, 400, "Content-Length must be a non-negative integer")
        if length > self.server.max_body_bytes:
            # Refused unread: reading a huge body just to reject it is the attack.
            return self._refuse(incoming, 413, "Payload Too Large")
        body = self._read_body(length)
        if len(body) < length:
            incoming.raw_body = body
            return self._refuse(incoming, 400, "Request body shorter than its Content-Length")
        incoming.raw_body = body
        self._send(self.server.service.handle(incoming))

    def _read_body(self, length: int) -> bytes:
        """Read ``length`` bytes within one deadline for the whole body (short on timeout)."""
        deadline = time.monotonic() + self.server.body_read_timeout
        chunks: list[bytes] = []
        received = 0
        try:
            while received < length:
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self.connection.settimeout(left)
                chunk = self.rfile.read1(min(length - received, 1 << 20))
                if not chunk:
                    break
                chunks.append(chunk)
                received += len(chunk)
        except OSError:
            pass  # timed out or reset: a short body, refused by the caller
        finally:
            with contextlib.suppress(OSError):
                self.connection.settimeout(IDLE_TIMEOUT)
        return b"".join(chunks)

    # Express routes every method; a HEAD answer has the GET answer's headers, no body.
    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_OPTIONS = do_HEAD = do_TRACE = _serve

    def do_CONNECT(self) -> None:
        """Close without answering: Node's HTTP server destroys the socket of a CONNECT
        request when nothing listens for ``connect`` (``lib/_http_server.js``), and the
        server's Express app never sees it."""
        self.close_connection = True

    def _refuse(self, incoming: Incoming, status: int, message: str) -> None:
        self._send(self.server.service.reject(incoming, status, message))
        self._linger()

    def _send(self, reply: Reply) -> None:
        if reply.drop:
            self.close_connection = True
            return
        if reply.close:
            self.close_connection = True
        lines = [
            f"HTTP/1.1 {reply.status} {reason(reply.status)}",
            f"Server: {self.server_version}",
            f"Date: {self.date_time_string()}",
        ]
        lines.extend(f"{name}: {value}" for name, value in reply.headers.items())
        if reply.status not in _BODYLESS_STATUSES:
            lines.append(f"Content-Length: {len(reply.body)}")
        if self.close_connection:
            lines.append("Connection: close")
        elif self.request_version == "HTTP/1.0":
            lines.append("Connection: keep-alive")
        head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1", "replace")
        body = b"" if self.command == "HEAD" else reply.body
        try:
            # One write: headers and body leave in the same segment.
            self.wfile.write(head + body)
        except OSError:
            self.close_connection = True

    def _linger(self) -> None:
        try:
            self.connection.shutdown(socket.SHUT_WR)
            self.connection.settimeout(0.5)
            deadline = time.monotonic() + LINGER_SECONDS
            while time.monotonic() < deadline and self.connection.recv(65536):
                pass
        except OSError:
            pass


class EmulatorHTTPServer(ThreadingHTTPServer):
    """A threading HTTP server that counts connections and can close the open ones."""

    daemon_threads = True
    allow_reuse_address = True  # come_back() rebinds the same port at once
    request_queue_size = 128  # benchmarks open many connections at once

    def __init__(
        self,
        address: tuple[str, int],
        service: Service,
        max_body_bytes: int,
        body_read_timeout: float = BODY_READ_TIMEOUT,
    ) -> None:
        self.service = service
        self.max_body_bytes = max_body_bytes
        self.body_read_timeout = body_read_timeout
        self._open: set[Any] = set()
        self._open_lock = threading.Lock()
        super().__init__(address, _Handler)

    def server_bind(self) -> None:
        """Bind without HTTPServer's reverse DNS lookup (getfqdn can stall for seconds)."""
        socketserver.TCPServer.server_bind(self)
        host, port = self.server_address[:2]
        self.server_name = str(host)
        self.server_port = int(port)

    def process_request(self, request: Any, client_address: Any) -> None:
        """Count and track the connection, then serve it on a daemon thread."""
        self.service.count_connection()
        with self._open_lock:
            self._open.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        """Forget the connection and close it."""
        with self._open_lock:
            self._open.discard(request)
        super().shutdown_request(request)

    def close_open_connections(self) -> None:
        """End every kept-alive connection (going down must not leave a back door open)."""
        with self._open_lock:
            connections = list(self._open)
        for connection in connections:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Ignore clients that vanish mid-request; print anything else (an emulator bug)."""
        if isinstance(sys.exc_info()[1], OSError):
            return
        super().handle_error(request, client_address)
