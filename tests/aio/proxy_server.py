"""A forward proxy on 127.0.0.1 for the proxy tests of both clients.

- An absolute-form request (``POST http://host/path HTTP/1.1``) is forwarded in origin form,
  without the proxy's own headers, to ``127.0.0.1:upstream``, one request per connection;
  the answer is relayed as it arrives (a trickling server trickles through).
- ``CONNECT host:port`` opens a tunnel to ``127.0.0.1:port`` and pipes bytes both ways.
- With ``credentials``, a request without the matching ``Proxy-Authorization`` gets a 407.
- ``trickle_connect``: the answer to ``CONNECT`` comes one byte every 50 ms, forever.

What a logging proxy could keep is in :attr:`ForwardProxy.log`: every byte it read from its
clients (heads, bodies and the bytes it tunnelled), and the request heads in ``heads``.
"""

from __future__ import annotations

import base64
import contextlib
import socket
import threading
import time
from typing import Dict, List, Optional, Tuple
from urllib.parse import quote, urlsplit


class Head:
    """One request head the proxy received."""

    def __init__(self, line: bytes, headers: Dict[str, str]) -> None:
        self.line = line
        self.headers = headers  # names in lower case


class ForwardProxy:
    """Serves until closed; :attr:`url` names it (with the credentials, when any)."""

    def __init__(
        self,
        upstream: int,
        credentials: Optional[Tuple[str, str]] = None,
        trickle_connect: bool = False,
    ) -> None:
        self.upstream = upstream
        self.credentials = credentials
        self.trickle_connect = trickle_connect
        self.heads: List[Head] = []
        self.log = bytearray()
        self._lock = threading.Lock()
        self._sockets: List[socket.socket] = []
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def url_with(self, credentials: Optional[Tuple[str, str]]) -> str:
        """The proxy's URL carrying ``credentials`` (percent-encoded), as a user writes it."""
        if credentials is None:
            return f"http://127.0.0.1:{self.port}"
        user, password = (quote(part, safe="") for part in credentials)
        return f"http://{user}:{password}@127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        return self.url_with(self.credentials)

    def close(self) -> None:
        self._listener.close()
        for sock in list(self._sockets):
            with contextlib.suppress(OSError):
                sock.close()

    def __enter__(self) -> ForwardProxy:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _record(self, data: bytes) -> None:
        with self._lock:
            self.log += data

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self._listener.accept()
            except OSError:
                return
            self._sockets.append(conn)
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _authorized(self, headers: Dict[str, str]) -> bool:
        if self.credentials is None:
            return True
        token = base64.b64encode(":".join(self.credentials).encode()).decode()
        return headers.get("proxy-authorization") == f"Basic {token}"

    def _serve(self, conn: socket.socket) -> None:
        with contextlib.suppress(OSError), conn, conn.makefile("rb") as stream:
            line = stream.readline()
            self._record(line)
            lines: List[bytes] = []
            headers: Dict[str, str] = {}
            while (header := stream.readline()) not in (b"\r\n", b"\n", b""):
                self._record(header)
                lines.append(header.rstrip(b"\r\n"))
                name, _, value = header.decode("latin-1").partition(":")
                headers[name.strip().lower()] = value.strip()
            self.heads.append(Head(line.strip(), headers))
            if not self._authorized(headers):
                conn.sendall(
                    b"HTTP/1.1 407 Proxy Authentication Required\r\n"
                    b'Proxy-Authenticate: Basic realm="test"\r\n'
                    b"Content-Length: 0\r\nConnection: close\r\n\r\n"
                )
                return
            method, target, version = line.strip().split(b" ", 2)
            if method == b"CONNECT":
                self._tunnel(conn, stream, int(target.rsplit(b":", 1)[1]))
                return
            body = stream.read(int(headers.get("content-length", "0")))
            self._record(body)
            path = urlsplit(target.decode()).path.encode()
            kept = [h for h in lines if not h.lower().startswith((b"connection:", b"proxy-"))]
            forwarded = [b"%s %s %s" % (method, path, version), *kept, b"Connection: close"]
            with socket.create_connection(("127.0.0.1", self.upstream)) as upstream:
                self._sockets.append(upstream)
                upstream.sendall(b"\r\n".join([*forwarded, b"", b""]) + body)
                while chunk := upstream.recv(65536):
                    conn.sendall(chunk)

    def _tunnel(self, conn: socket.socket, stream: object, port: int) -> None:
        if self.trickle_connect:
            for byte in b"HTTP/1.1 200 Connection established\r\n":
                conn.sendall(bytes([byte]))
                time.sleep(0.05)
            while True:  # the head never ends
                conn.sendall(b"X")
                time.sleep(0.05)
        upstream = socket.create_connection(("127.0.0.1", port))
        self._sockets.append(upstream)
        conn.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")

        def to_client() -> None:
            with contextlib.suppress(OSError):
                while chunk := upstream.recv(65536):
                    conn.sendall(chunk)
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_WR)

        threading.Thread(target=to_client, daemon=True).start()
        with upstream:
            while chunk := stream.read1(65536):  # type: ignore[attr-defined]
                self._record(chunk)
                upstream.sendall(chunk)
