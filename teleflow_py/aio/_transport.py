"""The async driver: runs the attempt loop of :mod:`teleflow_py._core.attempts` with awaited I/O.

Everything but the I/O is the core's, as for the sync client (:mod:`teleflow_py._transport`):
the headers, one idempotency key for every attempt, ``X-Teleflow-Retry-Count``, the retry
policy, the deadline, the shared pause of a bulk call, the error of a status or a failure,
the :class:`~teleflow_py.response.Response`, the observer hooks. Here a "send" step goes
through aiohttp (:mod:`teleflow_py.aio._session`) and a "sleep" step is ``asyncio.sleep``.
See docs/architecture.rst.
"""

from __future__ import annotations

import asyncio
from functools import partial
from typing import Any, Awaitable, Callable, Coroutine, Optional

from .._core.attempts import Attempts
from .._core.calls import Call
from .._core.deadline import SharedPause
from .._core.failures import reason
from .._core.hooks import NO_OBSERVER, AttemptObserver
from .._core.limits import Answer
from .._core.sending import Sending
from ..config import ClientConfig
from ..errors import APIConnectionError
from ..response import Response
from ._session import AIO_FAILURES, SessionRoute, named


class AsyncTransport:
    """Sends the async client's Events API requests: the attempt loop, awaited."""

    def __init__(
        self,
        config: ClientConfig,
        sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep,
        *,
        route: Optional[SessionRoute] = None,
        observer: AttemptObserver = NO_OBSERVER,
    ) -> None:
        self._config = config
        self._sleep = sleep
        self._route = route
        # Made once: a bound method made per call is one more object held per call in
        # flight (and one more for the garbage collector to count). Not a bound method of
        # this transport kept on it, which would be a cycle: an unclosed client (its key)
        # would then wait for a collection to be let go.
        self._wait = partial(_wait, sleep)
        self._route_send: Optional[Callable[..., Awaitable[Answer]]] = (
            None if route is None else route.send
        )
        sending = Sending.of(config, AIO_FAILURES, observer)
        self.sending = sending._replace(base_headers=named(sending.base_headers))

    def with_config(self, config: ClientConfig) -> AsyncTransport:
        """A transport with other settings on the same connections (``with_options``)."""
        return AsyncTransport(
            config, self._sleep, route=self._open(), observer=self.sending.observer
        )

    def __repr__(self) -> str:
        return f"AsyncTransport(base_url={self._config.base_url!r})"

    def _open(self) -> SessionRoute:
        if self._route is None:
            try:
                self._route = SessionRoute(self._config.base_url, self._config.credential)
            except Exception as exc:
                # For example REQUESTS_CA_BUNDLE naming a missing or broken file.
                raise APIConnectionError(
                    f"cannot connect to {self._config.base_url}: {reason(exc)}",
                    url=self._config.base_url,
                    retryable=False,
                ) from exc
            self._route_send = self._route.send
        return self._route

    async def close(self) -> None:
        """Close the connections of this transport. Idempotent; never raises for a route
        the environment would not let it open (a broken CA bundle or proxy URL)."""
        try:
            route = self._open()
        except APIConnectionError:
            return  # nothing was opened; later calls raise the same error
        await route.close()

    def send(
        self, call: Call, pause: Optional[SharedPause] = None
    ) -> Coroutine[Any, Any, Response]:
        """Send ``call`` with retries within its deadline; await the accepted (2xx) answer.

        A plain function returning the attempt loop's coroutine: one coroutine frame less
        on every step of every call.

        Args:
            call: what to send (:mod:`teleflow_py._core.calls`).
            pause: a pause shared by the requests of one bulk call.

        Raises:
            APIError: the server answered an error status (after retries, where retryable).
            APIConnectionError: no answer after retries (``APITimeoutError`` for timeouts
                and for the deadline); at once, without awaiting, when the route cannot
                be set up (a bad CA bundle).
        """
        send = self._route_send
        if send is None:
            send = self._open().send
        return Attempts(call, self.sending, pause).arun(send, self._wait)


async def _wait(sleep: Callable[[float], Awaitable[Any]], seconds: float) -> None:
    """The attempt loop's wait: ``sleep(seconds)``, and nothing for 0 or less."""
    if seconds > 0:
        await sleep(seconds)
