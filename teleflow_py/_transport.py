"""The sync driver: runs the attempt loop of :mod:`teleflow_py._core.attempts` with blocking I/O.

Everything but the I/O is the core's (headers, idempotency key, retry policy, deadline,
shared pause, error mapping, observer hooks); here a "send" step goes through
:class:`~teleflow_py._connection.Connection` (the SDK's keep-alive ``http.client``
connections, or a ``requests`` session) and a "sleep" step is ``time.sleep``. The Events
mixin (:mod:`teleflow_py.events`) and the analytics worker
(:mod:`teleflow_py.analytics.delivery`) both send through :meth:`Transport.send`.

See docs/architecture.rst for how a call travels and the module map.
"""

from __future__ import annotations

import time
import weakref
from typing import Any, Callable, Optional

import requests

from ._connection import SYNC_FAILURES, Connection
from ._core.attempts import Attempts
from ._core.calls import Call
from ._core.deadline import SharedPause
from ._core.hooks import NO_OBSERVER, AttemptObserver
from ._core.sending import Sending
from ._fork import on_fork
from .config import ClientConfig
from .response import Response

_live_transports: weakref.WeakSet[Transport] = weakref.WeakSet()


def _reset_all_after_fork() -> None:
    for transport in list(_live_transports):
        transport._connection.after_fork()


on_fork(after_in_child=_reset_all_after_fork)


class Transport:
    """Sends requests for one client: the attempt loop driven with blocking I/O."""

    def __init__(
        self,
        config: ClientConfig,
        session: Optional[requests.Session] = None,
        sleep: Callable[[float], Any] = time.sleep,
        *,
        connection: Optional[Connection] = None,
        observer: AttemptObserver = NO_OBSERVER,
    ) -> None:
        self._config = config
        self._connection = connection or Connection(config.base_url, config.credential, session)
        self._sleep = sleep
        self.sending = Sending.of(config, SYNC_FAILURES, observer)
        _live_transports.add(self)

    def with_config(self, config: ClientConfig) -> Transport:
        """A transport with other settings on the same connections (``with_options``)."""
        return Transport(
            config,
            sleep=self._sleep,
            connection=self._connection,
            observer=self.sending.observer,
        )

    @property
    def config(self) -> ClientConfig:
        """The settings this transport sends with."""
        return self._config

    @property
    def base_url(self) -> str:
        """The API root every path is joined to."""
        return self._config.base_url

    def __repr__(self) -> str:
        return f"Transport(base_url={self.base_url!r})"

    def close(self) -> None:
        """Close the connections this transport opened (never the caller's own session)."""
        self._connection.close()

    def attempts(self, call: Call, pause: Optional[SharedPause] = None) -> Attempts:
        """The attempt loop of ``call`` with this transport's settings (not started)."""
        return Attempts(call, self.sending, pause)

    def send(self, call: Call, pause: Optional[SharedPause] = None) -> Response:
        """Send ``call`` with retries within its deadline; the accepted (2xx) answer.

        The same headers, idempotency key included, go out on every attempt; ``pause``,
        shared by the requests of one bulk call, makes each wait out a 429's
        ``Retry-After`` (see :class:`~teleflow_py._core.attempts.Attempts`).

        Args:
            call: what to send (:mod:`teleflow_py._core.calls`).
            pause: a pause shared by the requests of one bulk call.

        Raises:
            APIError: the server answered an error status (after retries, where retryable).
            APIConnectionError: no answer after retries (``APITimeoutError`` for timeouts
                and for the deadline).
        """
        return self.run(self.attempts(call, pause), self._wait)

    def run(self, attempts: Attempts, sleep: Callable[[float], Any]) -> Response:
        """Drive ``attempts`` over this transport's connections, waiting with ``sleep``.

        The analytics worker passes its own ``sleep``, which refuses a wait past its
        shutdown deadline (see :meth:`~teleflow_py._core.attempts.Attempts.run`).
        """
        return attempts.run(self._connection.send, sleep)

    def _wait(self, seconds: float) -> None:
        if seconds > 0:
            self._sleep(seconds)
