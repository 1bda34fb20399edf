"""The sync driver's reading of an answer within a size cap and a deadline.

A socket timeout bounds each read, not the whole answer: a server that trickles one byte a
second, or streams an endless chunked body, would otherwise hold the call (and grow its
memory) for as long as it likes. Both routes to the API read through here:

- the SDK's own ``http.client`` connections read the status line, headers and body through
  :class:`BoundedReader`, which sets each read's socket timeout to what the deadline leaves
  and counts every byte (a :class:`~teleflow_py._core.limits.ReadBudget`). On the main
  thread it waits for the socket in slices (:mod:`teleflow_py._waits`), so a Ctrl-C that
  lands just as a read begins ends the call at once, not when the read times out;
- a ``requests`` session (the caller's, or ours behind a proxy) is read with
  ``stream=True`` and :func:`read_session_body`, in pieces, with the same two limits.

See docs/architecture.rst for how a call travels and the module map.
"""

from __future__ import annotations

import http.client
import io
import socket
import time
from typing import Any, List, Optional

from ._core.limits import ReadBudget
from ._waits import WAIT_SLICE, on_main_thread
from .errors import ResponseTooLargeError


class BoundedReader(io.RawIOBase):
    """The raw byte stream of one answer on a socket, within a :class:`ReadBudget`.

    Closing it leaves the socket open (the connection may be kept alive).
    """

    def __init__(self, sock: socket.socket, budget: ReadBudget) -> None:
        super().__init__()
        self._sock = sock
        self._budget = budget
        self._timeout: Optional[float] = None
        # Asked once per answer: the thread that reads it does not change.
        self._in_slices = on_main_thread()

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        timeout = self._budget.next_timeout()
        if self._in_slices and timeout > WAIT_SLICE:
            size = self._recv_into_in_slices(buffer, time.monotonic() + timeout)
        else:
            self._set_timeout(timeout)
            size = self._sock.recv_into(buffer)
        self._budget.count(size)
        return size

    def _recv_into_in_slices(self, buffer: Any, ends: float) -> int:
        """Wait for the bytes in slices until ``ends``, a pending Ctrl-C handled between them.

        A socket timeout leaves a plain or TLS socket as it was: the next read goes on.
        """
        self._set_timeout(WAIT_SLICE)
        while True:
            try:
                return self._sock.recv_into(buffer)
            except socket.timeout:
                left = ends - time.monotonic()
                if left <= 0:
                    raise
                self._set_timeout(min(left, WAIT_SLICE))

    def _set_timeout(self, timeout: float) -> None:
        if timeout != self._timeout:
            self._sock.settimeout(timeout)
            self._timeout = timeout


class BoundedResponse(http.client.HTTPResponse):
    """An ``http.client`` answer read through a :class:`BoundedReader`."""

    def __init__(
        self,
        sock: socket.socket,
        debuglevel: int = 0,
        method: Optional[str] = None,
        url: Optional[str] = None,
        *,
        budget: ReadBudget,
    ) -> None:
        super().__init__(sock, debuglevel, method, url)
        # The base class's makefile() reader is kept open (unused), not for reading: while
        # it is, a socket closed by http.client (an answer with "Connection: close") stays
        # open underneath until the body is read, as with the stock response.
        self._socket_ref = self.fp
        self.fp = io.BufferedReader(BoundedReader(sock, budget))

    def _close_conn(self) -> None:  # called when the body is read to its end
        super()._close_conn()  # type: ignore[misc]
        self._socket_ref.close()

    def close(self) -> None:
        super().close()
        self._socket_ref.close()


def read_body(answer: http.client.HTTPResponse, budget: ReadBudget) -> bytes:
    """The body of an answer read through a :class:`BoundedResponse`, in pieces.

    Pieces, because ``http.client`` allocates the whole of a declared length (or chunk
    size) at once when asked for everything: a server declaring 10 GB would get it.

    Raises:
        ResponseTooLargeError: the body declared, or reached, more than the cap.
        TimeoutError: the deadline passed while reading.
    """
    if answer.length is not None and answer.length > budget.max_bytes:
        raise ResponseTooLargeError(budget.max_bytes)
    pieces: List[bytes] = []
    while True:
        piece = answer.read(65536)
        if not piece:
            return b"".join(pieces)
        pieces.append(piece)


def read_session_body(answer: Any, budget: ReadBudget) -> bytes:
    """The body of a streamed ``requests`` answer, read in pieces within ``budget``.

    Each piece is one socket read at most (``read1``), so a trickled answer is checked
    against the deadline between reads; where urllib3 exposes the socket, each read's
    timeout is also cut to the time left. Decoded (gunzipped) bytes are counted, so a small
    compressed answer cannot unpack past the cap.

    Raises:
        ResponseTooLargeError: the body passed the cap (or declared a longer length).
        TimeoutError: the deadline passed while reading.
    """
    declared = answer.headers.get("Content-Length")
    if declared is not None and declared.strip().isdigit() and int(declared) > budget.max_bytes:
        raise ResponseTooLargeError(budget.max_bytes)
    raw = answer.raw
    sock = getattr(getattr(raw, "connection", None), "sock", None)
    pieces: List[bytes] = []
    while True:
        timeout = budget.next_timeout()
        if sock is not None:
            sock.settimeout(timeout)
        piece = raw.read1(65536, decode_content=True)
        if not piece:  # only at the end of the body
            break
        budget.count(len(piece))
        pieces.append(piece)
    return b"".join(pieces)
