"""The sync driver's own route: keep-alive ``http.client`` connections, direct or via a proxy.

It skips requests' and urllib3's per-request machinery (merging settings, preparing the
request, hooks, cookies, URL re-parsing), which on a fast network costs more than the
exchange itself, and sends headers and body in one write. Every read goes through
:mod:`teleflow_py._bounded`, so the call's deadline and the answer's size cap hold on each
byte, whether the bytes come from the API host or through an HTTP proxy:

- **directly** to the API host;
- **through an** ``http://`` **proxy** (:class:`~teleflow_py._core.environment.Proxy`): an
  ``http://`` API is asked in absolute form (``POST http://host/v1/... HTTP/1.1``, with
  ``Proxy-Authorization`` when the proxy URL has credentials); an ``https://`` API through a
  ``CONNECT`` tunnel (``http.client``'s ``set_tunnel``, the credentials on the ``CONNECT``
  only), TLS verified end to end against the API host's name. The proxy's answer to
  ``CONNECT`` is read within the deadline too.

The connections are shared by every thread of the client (one in use by one thread at a
time); :class:`~teleflow_py._connection.Connection` drops them after ``fork()``. See
docs/architecture.rst.
"""

from __future__ import annotations

import http.client
import select
import socket
import ssl
import threading
from functools import partial
from typing import Any, Dict, List, Mapping, Optional
from urllib.parse import urlsplit

from ._bounded import BoundedResponse, read_body
from ._core.environment import Proxy
from ._core.failures import ConnectTimedOut
from ._core.headers import CaseInsensitiveDict
from ._core.limits import Answer, Limits
from ._credential import ApiKeyCredential

#: Idle keep-alive connections kept per client (more threads at once open short-lived ones).
POOL_SIZE = 32


class _OneWrite:
    """``http.client``'s ``_send_output`` that sends head and body in one write.

    It also keeps the request head (which carries the ``Authorization`` header) out of
    every local variable: the stock version holds it in ``msg`` while it writes, where an
    error reporter that records locals would find it.
    """

    sock: Optional[socket.socket]
    _buffer: List[bytes]

    def _send_output(self, message_body: Any = None, encode_chunked: bool = False) -> None:
        self._buffer.extend((b"", b""))
        head = _Sealed(b"\r\n".join(self._buffer))
        del self._buffer[:]
        if self.sock is None:
            raise http.client.NotConnected()
        self.sock.sendall(head.followed_by(message_body or b""))


class _Sealed:
    """Bytes shown as ``<sealed>``: the request head, which carries the key."""

    __slots__ = ("_data",)

    def __init__(self, data: bytes) -> None:
        self._data = data

    def followed_by(self, body: bytes) -> bytes:
        return self._data + body

    def __repr__(self) -> str:
        return "<sealed>"


class _HTTPConnection(_OneWrite, http.client.HTTPConnection):
    pass


class _HTTPSConnection(_OneWrite, http.client.HTTPSConnection):
    pass


class KeepAliveRoute:
    """Keep-alive ``http.client`` connections to the API (or its proxy), shared by threads.

    ``tls`` is the https API's TLS settings (``None`` for http); ``proxy`` an HTTP proxy.
    """

    def __init__(
        self,
        base_url: str,
        credential: ApiKeyCredential,
        tls: Optional[ssl.SSLContext],
        proxy: Optional[Proxy] = None,
    ) -> None:
        parts = urlsplit(base_url)
        self._host = parts.hostname or ""
        # Explicit: http.client would misread an IPv6 literal without a port.
        self._port = parts.port or (443 if tls is not None else 80)
        prefix = parts.path.rstrip("/")
        self._tls = tls
        self._credential = credential
        self._proxy = proxy
        # Where the sockets go, what the request line names, what every request adds.
        self._address = (self._host, self._port) if proxy is None else (proxy.host, proxy.port)
        self._target = prefix
        self._extra: Mapping[str, str] = {}
        if proxy is not None and tls is None:  # http through the proxy: absolute form
            self._target = f"http://{parts.netloc.rpartition('@')[2]}{prefix}"
            self._extra = proxy.headers
        self._idle: List[http.client.HTTPConnection] = []
        self._lock = threading.Lock()
        self._closed = False

    def send(
        self,
        method: str,
        path: str,
        body: Optional[bytes],
        headers: Mapping[str, str],
        limits: Limits,
    ) -> Answer:
        sent: Dict[str, Any] = dict(headers)
        sent["Authorization"] = self._credential
        if self._extra:
            sent.update(self._extra)
        connection = self._checkout(limits)
        sock = connection.sock
        budget = limits.budget()
        try:
            # Headers and body go out in one write, bounded by the write timeout (and the
            # deadline); the answer is read within the budget's deadline and size cap.
            if sock is not None:
                sock.settimeout(limits.timeout(limits.timeouts.write, "sending"))
            unsent: Optional[OSError] = None
            try:
                connection.request(method, self._target + path, body=body, headers=sent)
            except (BrokenPipeError, ConnectionResetError) as exc:
                # The server may have answered early (a 413 or 401) and closed before
                # reading the whole body: its answer, if any, is the one to report.
                unsent = exc
            connection.response_class = partial(BoundedResponse, budget=budget)  # type: ignore[assignment]
            try:
                answer = connection.getresponse()
            except (OSError, http.client.HTTPException):
                if unsent is not None:
                    raise unsent from None
                raise
            content = read_body(answer, budget)
        except BaseException:
            connection.close()
            raise
        with self._lock:
            keep = (
                not self._closed
                and unsent is None
                and not answer.will_close
                and len(self._idle) < POOL_SIZE
            )
            if keep:
                self._idle.append(connection)
        if not keep:
            connection.close()
        return Answer(answer.status, CaseInsensitiveDict(answer.getheaders()), content)

    def _checkout(self, limits: Limits) -> http.client.HTTPConnection:
        with self._lock:
            while self._idle:
                idle = self._idle.pop()
                if not _closed_by_peer(idle):
                    return idle
                idle.close()
        timeout = limits.timeout(limits.timeouts.connect, "connecting")
        host, port = self._address
        connection: http.client.HTTPConnection
        if self._tls is None:
            connection = _HTTPConnection(host, port, timeout=timeout)
        else:
            connection = _HTTPSConnection(host, port, timeout=timeout, context=self._tls)
            if self._proxy is not None:
                connection.set_tunnel(self._host, self._port, headers=dict(self._proxy.headers))
                # The proxy's answer to CONNECT is read like any answer: within the
                # deadline and the size cap (a proxy can trickle too).
                connection.response_class = partial(BoundedResponse, budget=limits.budget())  # type: ignore[assignment]
        try:
            connection.connect()
        except (socket.timeout, TimeoutError) as exc:
            connection.close()
            # Nothing was sent: a server that does not deduplicate may still be retried.
            raise ConnectTimedOut(f"connecting timed out ({exc})") from exc
        except BaseException:
            connection.close()
            raise
        sock = connection.sock
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return connection

    def close(self) -> None:
        with self._lock:
            self._closed = True
            idle, self._idle = self._idle, []
        for connection in idle:
            connection.close()


def _closed_by_peer(connection: http.client.HTTPConnection) -> bool:
    """Whether an idle keep-alive connection was closed by the server (or sent junk)."""
    sock = connection.sock
    if sock is None:
        return True
    try:
        if hasattr(select, "poll"):
            poller = select.poll()
            poller.register(sock, select.POLLIN)
            return bool(poller.poll(0))
        return bool(select.select([sock], [], [], 0)[0])
    except (OSError, ValueError):
        return True
