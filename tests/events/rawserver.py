"""A raw-socket loopback server that misbehaves on purpose, for deadline and size tests.

Behaviours (one per server):

- ``silent``: reads the request, never answers (the connection stays open);
- ``trickle_body``: answers headers at once, then the body one byte at a time, forever;
- ``trickle_headers``: sends the status line and headers one byte at a time, forever;
- ``endless``: a chunked body of 64 KiB chunks as fast as the socket takes them, forever;
- ``huge_length``: declares a 10 GB ``Content-Length`` and streams zeros;
- ``close_after``: a normal trigger answer with ``Connection: close``, then closes;
- ``until_eof``: a trigger answer without a length, ended by closing the connection;
- ``held_first``: the first request's answer waits until :attr:`RawServer.release` is set
  (:attr:`RawServer.first_arrived` says it came); later ones are answered at once, each
  with ``Connection: close``.

Runs in a thread of the test process, or as ``python rawserver.py BEHAVIOUR`` (prints the
port on its first line) for subprocess tests.
"""

from __future__ import annotations

import contextlib
import socket
import sys
import threading
import time
from typing import List

BEHAVIOURS = (
    "silent",
    "trickle_body",
    "trickle_headers",
    "endless",
    "huge_length",
    "close_after",
    "until_eof",
    "held_first",
)
_RESULT = b'{"data":{"acknowledged":true,"status":"processed","transactionId":"t-1"}}'
_HEAD = b"HTTP/1.1 201 Created\r\nContent-Type: application/json\r\n"


class RawServer:
    """Serves one behaviour on 127.0.0.1 until closed."""

    def __init__(self, behaviour: str, interval: float = 0.05) -> None:
        assert behaviour in BEHAVIOURS, behaviour
        self.behaviour = behaviour
        self.interval = interval
        self.requests = 0
        self.first_arrived = threading.Event()
        self.release = threading.Event()
        self._stop = threading.Event()
        self._sockets: List[socket.socket] = []
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        threading.Thread(target=self._accept, daemon=True).start()

    def __enter__(self) -> RawServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._stop.set()
        self.release.set()
        self._listener.close()
        for sock in list(self._sockets):
            with contextlib.suppress(OSError):
                sock.close()

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._listener.accept()
            except OSError:
                return
            self._sockets.append(conn)
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        try:
            data = b""
            while b"\r\n\r\n" not in data:
                piece = conn.recv(65536)
                if not piece:
                    return
                data += piece
            head, _, body = data.partition(b"\r\n\r\n")
            length = 0
            for line in head.split(b"\r\n")[1:]:
                name, _, value = line.partition(b":")
                if name.strip().lower() == b"content-length":
                    length = int(value.strip())
            while len(body) < length:  # unread bytes would turn our close into a reset
                piece = conn.recv(65536)
                if not piece:
                    return
                body += piece
            self.requests += 1
            getattr(self, "_" + self.behaviour)(conn)
        except OSError:
            pass
        finally:
            conn.close()

    def _silent(self, conn: socket.socket) -> None:
        self._stop.wait()

    def _trickle_body(self, conn: socket.socket) -> None:
        conn.sendall(_HEAD + b"Content-Length: 1000000\r\n\r\n")
        while not self._stop.wait(self.interval):
            conn.sendall(b" ")

    def _trickle_headers(self, conn: socket.socket) -> None:
        for byte in _HEAD + b"X-Slow: " + b"a" * 1000000:
            if self._stop.wait(self.interval):
                return
            conn.sendall(bytes([byte]))

    def _endless(self, conn: socket.socket) -> None:
        conn.sendall(_HEAD + b"Transfer-Encoding: chunked\r\n\r\n")
        chunk = b"10000\r\n" + b"[" * 65536 + b"\r\n"
        while not self._stop.is_set():
            conn.sendall(chunk)

    def _close_after(self, conn: socket.socket) -> None:
        length = f"Content-Length: {len(_RESULT)}\r\n".encode()
        conn.sendall(_HEAD + length + b"Connection: close\r\n\r\n" + _RESULT)

    def _held_first(self, conn: socket.socket) -> None:
        if self.requests == 1:
            self.first_arrived.set()
            self.release.wait()
        self._close_after(conn)

    def _until_eof(self, conn: socket.socket) -> None:
        conn.sendall(_HEAD + b"Connection: close\r\n\r\n" + _RESULT)

    def _huge_length(self, conn: socket.socket) -> None:
        conn.sendall(_HEAD + b"Content-Length: 10000000000\r\n\r\n")
        zeros = b"0" * 65536
        while not self._stop.is_set():
            conn.sendall(zeros)


if __name__ == "__main__":
    server = RawServer(sys.argv[1])
    print(server.port, flush=True)
    while True:
        time.sleep(3600)
