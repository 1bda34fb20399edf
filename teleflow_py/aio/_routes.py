"""How the async client's bytes travel: its own asyncio connections, or httpx behind a proxy.

The direct route mirrors the sync client's (``teleflow_py._connection``): keep-alive
connections to the API host, request head and body in one write, and no general-purpose
HTTP client's per-request machinery, which on a fast network costs more than the exchange.
It speaks just the HTTP/1.1 the API answers with (``Content-Length``, chunked, or until
close). Every socket operation is bounded by its timeout cut to the call's deadline, and
the answer by ``max_response_bytes`` (:class:`~teleflow_py._bounded.ReadBudget`).

When the environment names a proxy for the API (by requests' rules, as the sync client
decides), requests go through ``httpx.AsyncClient`` instead, which speaks to proxies.

Connections belong to the event loop that opened them: used from another loop (a second
``asyncio.run``), a route forgets them and connects anew.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import sys
from typing import Any, Awaitable, Dict, List, Optional, Tuple, TypeVar, Union
from urllib.parse import urlsplit

import httpx
from requests.structures import CaseInsensitiveDict

from .._bounded import ReadBudget
from .._connection import POOL_SIZE, Answer, Limits
from .._credential import ApiKeyCredential
from .._deadline import LONGEST_WAIT
from ..errors import ResponseTooLargeError

T = TypeVar("T")

#: Connections one client opens at most per event loop; more concurrent calls wait for
#: one (within their deadline). Far below the usual 1,024 open files of a process.
MAX_CONNECTIONS = 100

#: Longest status line or header line, and most header lines, read from an answer.
_MAX_LINE = 65536
_MAX_HEADERS = 200

if sys.version_info >= (3, 11):

    async def within(seconds: float, awaitable: Awaitable[T]) -> T:
        """``await awaitable``, or ``TimeoutError`` after ``seconds``."""
        async with asyncio.timeout(seconds):
            return await awaitable

else:  # pragma: no cover - exercised on Python < 3.11 only

    async def within(seconds: float, awaitable: Awaitable[T]) -> T:
        """``await awaitable``, or ``asyncio.TimeoutError`` after ``seconds``."""
        return await asyncio.wait_for(awaitable, seconds)


class ProtocolError(Exception):
    """The server's answer is not HTTP/1.1 we can read (retryable, like a dropped one)."""


class _AnswerReader(asyncio.StreamReader):
    """A stream reader that keeps what arrived before a reset.

    asyncio's reader raises a connection error before returning data it already holds.
    A server may answer early (a 413 or 401) and close without reading the whole body,
    which resets the connection: its answer, already received, is the one to report. So
    a connection error ends the stream like a close, after the data received before it.
    """

    def set_exception(self, exc: Exception) -> None:
        if isinstance(exc, OSError):
            self.feed_eof()
        else:
            super().set_exception(exc)


class _Stream:
    __slots__ = ("reader", "writer")

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    def usable(self) -> bool:
        return not self.reader.at_eof() and not self.writer.is_closing()

    def close(self) -> None:
        with contextlib.suppress(RuntimeError):  # its loop is closed: nothing to release
            self.writer.close()


class DirectRoute:
    """Keep-alive asyncio connections to the API host, shared by the tasks of one loop."""

    def __init__(
        self, base_url: str, credential: ApiKeyCredential, tls: Optional[ssl.SSLContext]
    ) -> None:
        parts = urlsplit(base_url)
        self._host = parts.hostname or ""
        self._port = parts.port or (443 if tls is not None else 80)
        self._prefix = parts.path.rstrip("/")
        self._host_header = parts.netloc.encode("idna" if not parts.netloc.isascii() else "ascii")
        self._tls = tls
        self._credential = credential
        self._idle: List[_Stream] = []
        self._loop: Optional[asyncio.AbstractEventLoop] = None
        self._slots: Optional[asyncio.Semaphore] = None
        self.closed = False

    async def send(
        self,
        method: str,
        path: str,
        body: Optional[bytes],
        headers: Dict[str, str],
        limits: Limits,
    ) -> Answer:
        """One exchange. Raises ``TimeoutError``/``socket.timeout`` for timeouts,
        :class:`ProtocolError`, ``OSError``/``ssl.SSLError`` for the connection, and
        :class:`~teleflow_py.errors.ResponseTooLargeError`."""
        slots = self._slots_of_this_loop()
        await within(limits.timeout(LONGEST_WAIT, "waiting for a connection"), slots.acquire())
        try:
            stream = await self._checkout(limits)
            unsent: Optional[OSError] = None
            try:
                stream.writer.write(self._head(method, path, body, headers) + (body or b""))
                try:
                    await within(
                        limits.timeout(limits.timeouts.write, "sending"), stream.writer.drain()
                    )
                except (BrokenPipeError, ConnectionResetError) as exc:
                    unsent = exc  # the server may have answered early: read that answer
                try:
                    status, answer_headers, content, keep = await _read_answer(
                        stream.reader, method, limits.budget()
                    )
                except (OSError, ProtocolError):
                    if unsent is not None:
                        raise unsent from None
                    raise
                keep = keep and unsent is None
            except BaseException:
                stream.close()
                raise
        finally:
            slots.release()
        if keep and not self.closed and len(self._idle) < POOL_SIZE:
            self._idle.append(stream)
        else:
            stream.close()
        return Answer(status, answer_headers, content)

    def _head(
        self, method: str, path: str, body: Optional[bytes], headers: Dict[str, str]
    ) -> bytes:
        lines = [
            f"{method} {self._prefix}{path} HTTP/1.1\r\n".encode("ascii"),
            b"Host: " + self._host_header + b"\r\n",
        ]
        for name, value in headers.items():
            lines.append(f"{name}: {value}\r\n".encode("latin-1"))
        lines.append(b"Authorization: " + self._credential.encode() + b"\r\n")
        lines.append(b"Content-Length: %d\r\n\r\n" % len(body or b""))
        return b"".join(lines)

    def _slots_of_this_loop(self) -> asyncio.Semaphore:
        """The connection slots of the running loop (a new loop forgets the old one's)."""
        loop = asyncio.get_running_loop()
        if self._loop is not loop or self._slots is None:
            self._forget()
            self._loop = loop
            self._slots = asyncio.Semaphore(MAX_CONNECTIONS)
        return self._slots

    async def _checkout(self, limits: Limits) -> _Stream:
        while self._idle:
            stream = self._idle.pop()
            if stream.usable():
                return stream
            stream.close()
        loop = asyncio.get_running_loop()
        reader = _AnswerReader(limit=_MAX_LINE, loop=loop)
        protocol = asyncio.StreamReaderProtocol(reader, loop=loop)
        transport, _ = await within(
            limits.timeout(limits.timeouts.connect, "connecting"),
            loop.create_connection(
                lambda: protocol,
                self._host,
                self._port,
                ssl=self._tls,
                server_hostname=self._host if self._tls is not None else None,
            ),
        )
        return _Stream(reader, asyncio.StreamWriter(transport, protocol, reader, loop))

    def _forget(self) -> None:
        idle, self._idle = self._idle, []
        for stream in idle:
            stream.close()

    async def close(self) -> None:
        """Close the idle connections; those in use close when their exchange ends."""
        self.closed = True
        self._forget()


async def _read_answer(
    reader: asyncio.StreamReader, method: str, budget: ReadBudget
) -> Tuple[int, CaseInsensitiveDict[str], bytes, bool]:
    """Status, headers, body and whether the connection may be reused."""
    while True:
        status, version, headers = await _read_head(reader, budget)
        if status >= 200 or status == 101:
            break  # 1xx (100 Continue, 103 Early Hints) precede the real answer
    keep = version == "HTTP/1.1"
    connection = headers.get("Connection", "").lower()
    if "close" in connection:
        keep = False
    elif "keep-alive" in connection:
        keep = True
    if method == "HEAD" or status in (204, 304) or 100 <= status < 200:
        return status, headers, b"", keep
    if "chunked" in headers.get("Transfer-Encoding", "").lower():
        return status, headers, await _read_chunked(reader, budget), keep
    length = headers.get("Content-Length")
    if length is not None:
        if not length.strip().isdigit():
            raise ProtocolError(f"bad Content-Length {length[:40]!r}")
        size = int(length)
        if size > budget.max_bytes:
            raise ResponseTooLargeError(budget.max_bytes)
        return status, headers, await _read_exactly(reader, size, budget), keep
    # No length: the body ends when the server closes.
    pieces: List[bytes] = []
    while True:
        piece = await within(budget.next_timeout(), reader.read(65536))
        if not piece:
            return status, headers, b"".join(pieces), False
        budget.count(len(piece))
        pieces.append(piece)


async def _read_line(reader: asyncio.StreamReader, budget: ReadBudget) -> bytes:
    try:
        line = await within(budget.next_timeout(), reader.readuntil(b"\n"))
    except asyncio.LimitOverrunError as exc:
        raise ProtocolError("a line of the answer is too long") from exc
    except asyncio.IncompleteReadError as exc:
        raise ProtocolError("the server closed the connection mid-answer") from exc
    budget.count(len(line))
    return line


async def _read_head(
    reader: asyncio.StreamReader, budget: ReadBudget
) -> Tuple[int, str, CaseInsensitiveDict[str]]:
    line = await _read_line(reader, budget)
    parts = line.decode("latin-1").split(None, 2)
    if len(parts) < 2 or not parts[0].startswith("HTTP/") or not parts[1].isdigit():
        raise ProtocolError(f"bad status line {line[:80]!r}")
    headers: CaseInsensitiveDict[str] = CaseInsensitiveDict()
    for _ in range(_MAX_HEADERS):
        raw = await _read_line(reader, budget)
        if raw in (b"\r\n", b"\n"):
            return int(parts[1]), parts[0], headers
        name, sep, value = raw.decode("latin-1").partition(":")
        if not sep or not name.strip():
            raise ProtocolError(f"bad header line {raw[:80]!r}")
        key = name.strip()
        value = value.strip()
        headers[key] = f"{headers[key]}, {value}" if key in headers else value
    raise ProtocolError(f"more than {_MAX_HEADERS} header lines")


async def _read_exactly(reader: asyncio.StreamReader, size: int, budget: ReadBudget) -> bytes:
    pieces: List[bytes] = []
    left = size
    while left > 0:
        piece = await within(budget.next_timeout(), reader.read(min(left, 65536)))
        if not piece:
            raise ProtocolError("the server closed the connection mid-answer")
        budget.count(len(piece))
        pieces.append(piece)
        left -= len(piece)
    return b"".join(pieces)


async def _read_chunked(reader: asyncio.StreamReader, budget: ReadBudget) -> bytes:
    pieces: List[bytes] = []
    while True:
        line = await _read_line(reader, budget)
        size_text = line.split(b";", 1)[0].strip()
        try:
            size = int(size_text, 16)
        except ValueError as exc:
            raise ProtocolError(f"bad chunk size {size_text[:20]!r}") from exc
        if size == 0:
            while await _read_line(reader, budget) not in (b"\r\n", b"\n"):
                pass  # trailers
            return b"".join(pieces)
        if budget.used + size > budget.max_bytes:
            raise ResponseTooLargeError(budget.max_bytes)
        pieces.append(await _read_exactly(reader, size, budget))
        await _read_line(reader, budget)  # the CRLF after the chunk


class _ApiKeyAuth(httpx.Auth):
    """Sets ``Authorization: ApiKey ...`` on each request; its repr never shows the key."""

    def __init__(self, credential: ApiKeyCredential) -> None:
        self._credential = credential

    def auth_flow(self, request: httpx.Request) -> Any:
        request.headers["Authorization"] = self._credential.encode().decode("latin-1")
        yield request

    def __repr__(self) -> str:
        return "_ApiKeyAuth(***)"


class ProxyRoute:
    """Sends through ``httpx.AsyncClient``, which honours the environment's proxy settings."""

    def __init__(self, base_url: str, credential: ApiKeyCredential) -> None:
        self._base_url = base_url
        self._auth = _ApiKeyAuth(credential)
        self._http: Optional[httpx.AsyncClient] = None
        self._loop: Optional[asyncio.AbstractEventLoop] = None
        self.closed = False

    def _client(self) -> httpx.AsyncClient:
        loop = asyncio.get_running_loop()
        if self._http is None or self._loop is not loop:
            # A client of a finished loop cannot be closed from this one; it is dropped.
            self._http = httpx.AsyncClient(
                base_url=self._base_url,
                limits=httpx.Limits(
                    max_connections=MAX_CONNECTIONS, max_keepalive_connections=POOL_SIZE
                ),
                follow_redirects=False,
            )
            self._loop = loop
        return self._http

    async def send(
        self,
        method: str,
        path: str,
        body: Optional[bytes],
        headers: Dict[str, str],
        limits: Limits,
    ) -> Answer:
        """One exchange through httpx (raises httpx's errors and ResponseTooLargeError)."""
        timeouts = limits.timeouts
        timeout = httpx.Timeout(
            connect=limits.timeout(timeouts.connect, "connecting"),
            read=limits.timeout(timeouts.read, "reading"),
            write=limits.timeout(timeouts.write, "sending"),
            pool=limits.timeout(timeouts.connect, "waiting for a connection"),
        )
        client = self._client()
        request = client.build_request(method, path, content=body, headers=headers, timeout=timeout)
        # httpx bounds each read, not the head: a head trickled byte by byte would not end.
        answer = await within(
            limits.timeout(LONGEST_WAIT, "waiting for the answer"),
            client.send(request, auth=self._auth, stream=True),
        )
        try:
            budget = limits.budget()
            declared = answer.headers.get("Content-Length", "")
            if declared.strip().isdigit() and int(declared) > budget.max_bytes:
                raise ResponseTooLargeError(budget.max_bytes)
            pieces: List[bytes] = []
            stream = answer.aiter_bytes()
            while True:
                try:
                    piece = await within(budget.next_timeout(), stream.__anext__())
                except StopAsyncIteration:
                    break
                budget.count(len(piece))
                pieces.append(piece)
        finally:
            await answer.aclose()
        return Answer(answer.status_code, CaseInsensitiveDict(answer.headers), b"".join(pieces))

    async def close(self) -> None:
        """Close httpx's connections."""
        self.closed = True
        http, self._http = self._http, None
        if http is not None:
            await http.aclose()


Route = Union[DirectRoute, ProxyRoute]
