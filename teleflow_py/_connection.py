"""How a request reaches the server: the SDK's own keep-alive connections, or a session.

The SDK's own route skips requests' and urllib3's per-request machinery (merging settings,
preparing the request, hooks, cookies, URL re-parsing), which on a fast network costs more
than the exchange itself, and sends headers and body in one write. It resolves the
environment's settings once, by requests' own rules (``REQUESTS_CA_BUNDLE``,
``CURL_CA_BUNDLE``, ``NO_PROXY``...: :mod:`teleflow_py._core.environment`), and verifies
TLS against the same CA bundle requests would use. Failures are raised as they are met;
the attempt loop maps them to the SDK's errors with :data:`SYNC_FAILURES`.

When the environment names a proxy for the API, or the caller passes their own
``requests.Session``, every request goes through ``requests`` as usual, so proxies, custom
adapters and CA settings keep working.

The connections are shared by every thread of the client (one in use by one thread at a
time). After ``fork()`` the child drops what it inherited (those sockets belong to the
parent) and connects anew.
"""

from __future__ import annotations

import http.client
import os
import select
import socket
import ssl
import threading
from functools import partial
from typing import Any, Dict, List, Mapping, Optional, Union
from urllib.parse import urlsplit

import requests
import urllib3
from requests.adapters import HTTPAdapter

from ._bounded import BoundedResponse, read_body, read_session_body
from ._core.environment import route_for
from ._core.failures import ConnectTimedOut, FailureKinds, reason
from ._core.headers import CaseInsensitiveDict
from ._core.limits import Answer, Limits
from ._credential import ApiKeyCredential
from .errors import APIConnectionError, TeleflowError

#: Idle keep-alive connections kept per client (more threads at once open short-lived ones).
POOL_SIZE = 32

#: What the failures of both routes mean, for the core's one mapping
#: (:func:`teleflow_py._core.failures.api_error`); the standard library's are known there.
SYNC_FAILURES = FailureKinds(
    timeouts=(requests.Timeout, urllib3.exceptions.TimeoutError),
    # No retry fixes these (requests' SSLError: a wrong certificate stays wrong).
    permanent=(
        requests.exceptions.InvalidHeader,
        requests.exceptions.InvalidURL,
        requests.exceptions.InvalidSchema,
        requests.exceptions.MissingSchema,
        requests.exceptions.SSLError,
    ),
    transient=(
        requests.RequestException,
        urllib3.exceptions.HTTPError,  # reading a streamed body on the requests route
    ),
    # Connecting failed (refused, DNS, timed out): nothing was sent.
    unsent=(requests.ConnectTimeout, urllib3.exceptions.ConnectTimeoutError),
)


class _ApiKeyAuth(requests.auth.AuthBase):
    """Sets ``Authorization: ApiKey ...`` on each request of the requests route.

    Passed as ``auth=``, it wins over ``session.auth`` and ``~/.netrc``, which requests would
    otherwise apply on top of a plain header. Its repr never shows the key.
    """

    def __init__(self, credential: ApiKeyCredential) -> None:
        self._credential = credential

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        # The credential itself: http.client calls its encode() as it writes the header,
        # so requests' and urllib3's frames (and their locals) hold only its masked repr.
        request.headers["Authorization"] = self._credential  # type: ignore[assignment]
        return request

    def __repr__(self) -> str:
        return "_ApiKeyAuth(***)"


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


class _DirectRoute:
    """Keep-alive ``http.client`` connections to the API host, shared by threads."""

    def __init__(
        self, base_url: str, credential: ApiKeyCredential, tls: Optional[ssl.SSLContext]
    ) -> None:
        parts = urlsplit(base_url)
        self._host = parts.hostname or ""
        # Explicit: http.client would misread an IPv6 literal without a port.
        self._port = parts.port or (443 if tls is not None else 80)
        self._prefix = parts.path.rstrip("/")
        self._tls = tls
        self._credential = credential
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
                connection.request(method, self._prefix + path, body=body, headers=sent)
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
        connection: http.client.HTTPConnection = (
            _HTTPSConnection(self._host, self._port, timeout=timeout, context=self._tls)
            if self._tls is not None
            else _HTTPConnection(self._host, self._port, timeout=timeout)
        )
        try:
            connection.connect()
        except (socket.timeout, TimeoutError) as exc:
            raise ConnectTimedOut(f"connecting timed out ({exc})") from exc
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


class _SessionRoute:
    """Sends through a ``requests.Session``: the caller's, or ours when a proxy applies."""

    def __init__(
        self, session: requests.Session, base_url: str, credential: ApiKeyCredential
    ) -> None:
        self.session = session
        self._base_url = base_url
        self._auth = _ApiKeyAuth(credential)

    def send(
        self,
        method: str,
        path: str,
        body: Optional[bytes],
        headers: Mapping[str, str],
        limits: Limits,
    ) -> Answer:
        # requests takes a connect and a read timeout only (see Client's docstring).
        timeouts = limits.timeouts
        timeout = (
            limits.timeout(timeouts.connect, "connecting"),
            limits.timeout(timeouts.read, "sending"),
        )
        answer = self.session.request(
            method,
            self._base_url + path,
            data=body,
            headers=headers,
            auth=self._auth,
            timeout=timeout,
            allow_redirects=False,
            stream=True,
        )
        try:
            content = read_session_body(answer, limits.budget())
        finally:
            answer.close()
        return Answer(answer.status_code, answer.headers, content)


Route = Union[_DirectRoute, _SessionRoute]


class Connection:
    """The way to the API for one client: opened on first use, again after a fork."""

    def __init__(
        self,
        base_url: str,
        credential: ApiKeyCredential,
        session: Optional[requests.Session] = None,
    ) -> None:
        self._base_url = base_url
        self._credential = credential
        self._user_session = session
        self._route: Optional[Route] = None
        self._lock = threading.Lock()
        self._pid = os.getpid()
        self._closed = False

    def __repr__(self) -> str:
        return f"Connection(base_url={self._base_url!r})"

    def send(
        self,
        method: str,
        path: str,
        body: Optional[bytes],
        headers: Mapping[str, str],
        limits: Limits,
    ) -> Answer:
        """One attempt, no retry, within ``limits`` (timeouts, deadline, answer size).

        Raises:
            TeleflowError: the client was closed.
            APIConnectionError: the environment's CA bundle cannot be used (not retryable).
            ResponseTooLargeError: the answer passed ``limits.max_response_bytes``.
            Exception: the route's own failure (``OSError``, ``http.client`` and
                ``requests`` errors, ``TimeoutError``), which the attempt loop maps with
                :data:`SYNC_FAILURES`.
        """
        url = self._base_url + path
        route = self._route
        if route is None or self._pid != os.getpid():
            try:
                route = self._open()
            except TeleflowError:
                raise
            except Exception as exc:
                # For example REQUESTS_CA_BUNDLE naming a missing or broken file.
                raise APIConnectionError(
                    f"{method} {url} cannot connect: {reason(exc)}", url=url, retryable=False
                ) from exc
        return route.send(method, path, body, headers, limits)

    def _open(self) -> Route:
        with self._lock:
            if self._closed:
                raise TeleflowError("the client is closed")
            if self._pid != os.getpid():  # the fork hook did not run (or not yet)
                self._forget_locked()
            if self._route is None:
                self._route = self._new_route()
            return self._route

    def _new_route(self) -> Route:
        if self._user_session is not None:
            return _SessionRoute(self._user_session, self._base_url, self._credential)
        proxy, tls = route_for(self._base_url)
        if proxy is not None:
            session = requests.Session()
            session.mount("http://", HTTPAdapter(pool_maxsize=POOL_SIZE))
            session.mount("https://", HTTPAdapter(pool_maxsize=POOL_SIZE))
            return _SessionRoute(session, self._base_url, self._credential)
        return _DirectRoute(self._base_url, self._credential, tls)

    def after_fork(self) -> None:
        """In a forked child: never use a connection that belongs to the parent.

        The SDK's own session is dropped (its sockets are the parent's); a caller's session
        has its pools emptied in the child, which leaves the parent's connections intact.
        """
        self._lock = threading.Lock()
        self._forget_locked()

    def _forget_locked(self) -> None:
        self._route = None
        self._pid = os.getpid()
        if self._user_session is not None:
            for adapter in self._user_session.adapters.values():
                adapter.close()

    def close(self) -> None:
        """Close the SDK's own connections (never the caller's session). Idempotent."""
        with self._lock:
            self._closed = True
            route, self._route = self._route, None
        if isinstance(route, _DirectRoute):
            route.close()
        elif route is not None and route.session is not self._user_session:
            route.session.close()
