"""How the async client's bytes travel: an aiohttp ``ClientSession`` per event loop.

- **Proxies and TLS** are read once per client from the environment by the core's rules
  (:func:`teleflow_py._core.environment.route_for`, the sync client's): the proxy is
  passed as ``proxy=`` (``trust_env=True`` would look the environment up again on every
  request), https is verified against the same CA bundle.
- **One timer for all attempts**: aiohttp's own session timeout is off; each attempt runs
  under an :class:`~teleflow_py.aio._timer.AttemptTimer` (one ``call_at`` handle per loop,
  shared through a :class:`~teleflow_py.aio._timer.Watchdog`): the deadline
  while waiting for one of the connections, the read timeout once the connection is ours
  (the session's request class tells it), and again for each read of the body that must wait. A
  new connection's TCP and TLS setup is bounded by ``open_timeout`` (aiohttp's
  ``sock_connect``, which only runs for a new connection).
- **The answer's size**: a declared length over ``max_response_bytes`` is refused before
  reading; the body is read as it streams in and counted
  (:class:`~teleflow_py._core.limits.ReadBudget`), so an endless answer stops at the cap.
- **The key** goes out as a ``str`` whose ``repr`` is masked (:class:`~teleflow_py._core.headers.SecretHeader`), so
  aiohttp's frames and header maps, as an error reporter records them, never show it.

Connections belong to the event loop that opened them: used from another loop (a second
``asyncio.run``), the route forgets the old session and opens a new one.

See docs/architecture.rst for how a call travels and the module map.
"""

from __future__ import annotations

import asyncio
from itertools import chain
from typing import Any, Coroutine, Dict, List, Mapping, Optional, Type

import aiohttp
from multidict import istr

from .._core.environment import parse_proxy, route_for
from .._core.failures import FailureKinds
from .._core.headers import CaseInsensitiveDict, SecretHeader
from .._core.limits import Answer, Limits, ReadBudget
from .._credential import ApiKeyCredential
from ..errors import TeleflowError
from ._timer import AttemptTimer, Watchdog

#: Connections one client opens at most per event loop; more concurrent calls wait for
#: one (within their deadline). Far below the usual 1,024 open files of a process.
MAX_CONNECTIONS = 100

#: A body above this size may take longer to write than to be answered: the wait for the
#: answer's head then also allows ``write_timeout``.
_LARGE_BODY = 64 * 1024

#: What aiohttp's failures mean, for the core's one mapping (the standard library's
#: timeouts, TLS and OS errors are known there). Before Python 3.11 the timer's
#: ``asyncio.TimeoutError`` is not the built-in ``TimeoutError``.
AIO_FAILURES = FailureKinds(
    timeouts=(aiohttp.ServerTimeoutError, asyncio.TimeoutError),
    permanent=(aiohttp.InvalidURL, aiohttp.ClientConnectorCertificateError),
    transient=(aiohttp.ClientError,),
    # Connecting failed (refused, DNS, timed out): nothing was sent. (aiohttp < 3.10 has
    # no class of its own for a connect timeout.)
    unsent=(
        aiohttp.ClientConnectorError,
        getattr(aiohttp, "ConnectionTimeoutError", aiohttp.ClientConnectorError),
    ),
)


def _request_class(watchdog: Watchdog) -> Type[aiohttp.ClientRequest]:
    """aiohttp's request class for a session whose attempts ``watchdog`` times.

    Its requests move the attempt's timer once the connection is ours: aiohttp sends a
    request on a connection right after its connector handed it one (a proxy's tunnel
    included). ``send`` is not a coroutine here: it returns aiohttp's, so the 900 of 1,000
    calls of a burst that wait for one of the 100 connections do not each hold a frame of
    ours. One class per session (per loop), so the watchdog is the class's, not looked up
    per request.
    """

    class _Request(aiohttp.ClientRequest):
        def send(self, conn: Any) -> Coroutine[Any, Any, aiohttp.ClientResponse]:
            timer = watchdog.current()
            if timer is not None:
                timer.phase(timer.first_check)
            return super().send(conn)

    return _Request


def named(headers: Mapping[str, str]) -> Dict[str, str]:
    """``headers`` with each name as multidict's ``istr``, for the headers of every request.

    aiohttp copies a request's headers into its own case-insensitive maps, which make a
    lower-case twin of every plain ``str`` name; an ``istr`` carries its own. About 100
    bytes less per header for each request in flight.
    """
    return {istr(name): value for name, value in headers.items()}


class SessionRoute:
    """aiohttp sessions to the API, one per event loop, shared by its tasks."""

    def __init__(self, base_url: str, credential: ApiKeyCredential) -> None:
        self._base_url = base_url
        route = route_for(base_url)
        # The proxy's URL without its credentials (aiohttp's errors name it); they go in
        # a header: on each request to an http:// API, on the CONNECT of an https:// one.
        proxy = None if route.proxy is None else parse_proxy(route.proxy)
        self._proxy = None if proxy is None else proxy.url
        self._proxy_headers = None if proxy is None or route.tls is None else proxy.headers
        extra: Dict[str, str] = {} if proxy is None or route.tls else proxy.headers
        self._tls = route.tls
        #: Added to every request's headers: the key, the encoding the sync client asks for
        #: (http.client sends ``identity``; given here, aiohttp adds no ``Accept-Encoding``
        #: of its own, which a ``skip_auto_headers`` would cost on every request) and a
        #: proxy's credentials for a plain-http API. Not the session's default headers:
        #: aiohttp puts those on a proxy's request too, where an ``Authorization`` becomes
        #: the ``Proxy-Authorization`` (the key would go to the proxy).
        self._own = named(
            {
                "Authorization": SecretHeader(credential.encode().decode("latin-1")),
                "Accept-Encoding": "identity",
                **extra,
            }
        )
        self._timeouts: Dict[float, aiohttp.ClientTimeout] = {}
        self._session: Optional[aiohttp.ClientSession] = None
        self._loop: Optional[asyncio.AbstractEventLoop] = None
        self._watchdog: Optional[Watchdog] = None
        self.closed = False

    def _session_of(self, loop: asyncio.AbstractEventLoop) -> aiohttp.ClientSession:
        """A new session for ``loop`` (the running one); another loop's is let go."""
        if self._session is not None:
            _abandon(self._session, self._loop)
        watchdog = Watchdog(loop)
        session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(
                limit=MAX_CONNECTIONS,
                limit_per_host=0,
                ssl=self._tls if self._tls is not None else True,
            ),
            # No timer of aiohttp's own: the attempt's one timer bounds everything.
            timeout=aiohttp.ClientTimeout(total=None),
            trust_env=False,
            auto_decompress=True,
            request_class=_request_class(watchdog),
        )
        self._session, self._loop = session, loop
        self._watchdog = watchdog
        return session

    def _new_timeout(self, connect: float) -> aiohttp.ClientTimeout:
        """aiohttp's timeouts: ``connect`` for a new connection's setup, nothing else.

        The attempt's timer ends at the deadline whatever happens, so ``connect`` need not
        be cut to it; made once per value (kept in ``_timeouts``), not once per request.
        """
        timeout = self._timeouts[connect] = aiohttp.ClientTimeout(total=None, sock_connect=connect)
        return timeout

    async def send(
        self,
        method: str,
        path: str,
        body: Optional[bytes],
        headers: Dict[str, str],
        limits: Limits,
    ) -> Answer:
        """One exchange within ``limits``; raises aiohttp's, asyncio's and the OS's errors.

        Raises:
            TeleflowError: the client was closed.
            ResponseTooLargeError: the answer passed ``limits.max_response_bytes``.
        """
        if self.closed:
            raise TeleflowError("the client is closed")
        loop = asyncio.get_running_loop()
        session = self._session
        if session is None or self._loop is not loop:
            session = self._session_of(loop)
        timeouts = limits.timeouts
        head_wait = timeouts.read
        if body is not None and len(body) > _LARGE_BODY:
            head_wait += timeouts.write
        deadline = limits.deadline
        # Until the connection is ours (waiting for a free one included): the deadline.
        deadline_end = None if deadline.unlimited else loop.time() + deadline.remaining()
        assert self._watchdog is not None  # set with the session
        timeout = self._timeouts.get(timeouts.connect) or self._new_timeout(timeouts.connect)
        with AttemptTimer(self._watchdog, deadline_end, head_wait) as timer:
            response = await session.request(
                method,
                self._base_url + path,
                data=body,
                # Merged in the call, not kept in this frame while the answer is
                # awaited (aiohttp copies it first): 1,000 calls at once hold less.
                headers={**headers, **self._own},
                proxy=self._proxy,
                proxy_headers=self._proxy_headers,
                allow_redirects=False,
                timeout=timeout,
            )
            # The answer, read here rather than in a coroutine of its own (one frame less
            # per call): the head counts against the cap, then the body as it streams in.
            try:
                raw = response.raw_headers
                # The head's bytes as they came: ": " and CRLF are 4 more per line.
                budget = ReadBudget(
                    limits,
                    sum(map(len, chain.from_iterable(raw))) + 4 * len(raw),
                    response.content_length,
                )
                content = response.content
                pieces: List[bytes] = []
                while True:
                    # What already arrived: no wait, no timer move.
                    piece = content.read_nowait()
                    if not piece:
                        if content.at_eof():
                            break
                        timer.phase(timeouts.read)
                        piece = await content.readany()
                        if not piece:
                            break
                    budget.count(len(piece))
                    pieces.append(piece)
            except BaseException:
                response.close()  # a half-read answer leaves the connection unusable
                raise
            response.release()
        # aiohttp's headers are case-insensitive already: viewed, not copied.
        return Answer(response.status, CaseInsensitiveDict.over(response.headers), b"".join(pieces))

    async def close(self) -> None:
        """Close this loop's session (a session of a finished loop is abandoned)."""
        self.closed = True
        session, self._session = self._session, None
        if session is None:
            return
        if self._loop is asyncio.get_running_loop():
            await session.close()
        else:
            _abandon(session, self._loop)


def _abandon(session: aiohttp.ClientSession, loop: Optional[asyncio.AbstractEventLoop]) -> None:
    """Let go of a session of another event loop, which cannot be awaited from this one."""
    connector = session.connector
    session.detach()
    if connector is None or loop is None:
        return
    if loop.is_closed():
        # Its sockets went with the loop; mark the connector closed so that it does not
        # warn about them when collected.
        connector._close()
    else:
        # That loop may run again (it is not ours to close): close there when it does.
        async def close() -> None:
            await connector.close()

        loop.call_soon_threadsafe(loop.create_task, close())
