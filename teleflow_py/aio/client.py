"""AsyncClient: the Events API as coroutines, analytics through the same background queue.

Its settings come from :class:`~teleflow_py._base_client.BaseClient` (shared with
:class:`~teleflow_py.Client`); here is what is its own: the aiohttp driver
(:class:`~teleflow_py.aio._transport.AsyncTransport`) and the settings it runs fixed. See
docs/architecture.rst.
"""

from __future__ import annotations

import asyncio
from types import TracebackType
from typing import Optional, Type

import requests

from .._base_client import BaseClient
from .._observing import ClientObserver, RateLimitView
from .._transport import Transport
from ..analytics.batcher import Batcher
from ..analytics.mixin import AnalyticsQueueMixin
from ..analytics.stats import FlushResult
from ..config import ClientConfig
from ..integrations.otel import telemetry as process_telemetry
from ._transport import AsyncTransport
from .events import AsyncEventsMixin


class AsyncClient(AsyncEventsMixin, AnalyticsQueueMixin, RateLimitView, BaseClient):
    """Asynchronous client of the Teleflow API (needs ``pip install teleflow-py[async]``).

    The Events API methods are coroutines with the sync :class:`~teleflow_py.Client`'s
    arguments, idempotency keys, retries, deadline, errors and results; requests go over
    aiohttp (one session per event loop; a proxy named by the environment is read once and
    used). ``track``, ``identify`` and ``alias`` are plain methods that queue and
    return at once, never doing I/O on the event loop: the same background thread as the
    sync client's sends them, over its own (synchronous) connection. ``flush`` and
    ``shutdown`` are coroutines that wait for that thread in a worker thread, so the loop
    keeps running meanwhile.

    Use it as ``async with AsyncClient() as client:``, or ``await client.close()``. One
    client serves any number of concurrent tasks of one event loop (at most 100
    connections at once; further calls wait for a free one).

    The settings are :class:`~teleflow_py.Client`'s, but for the three that would make
    the event loop wait or that belong to requests: ``session``, ``queue_full_timeout``
    (always 0: a full queue drops at once) and ``spool_mode`` (always ``"group"``: a
    background thread commits, never the loop); another value is refused.
    """

    _FIXED = {
        "session": (None, "it sends with aiohttp; a requests.Session is for Client"),
        "queue_full_timeout": (0.0, "track() would wait for room on the event loop"),
        "spool_mode": ("group", "track() would wait for an fsync on the event loop"),
    }

    def _connect(self, session: Optional[requests.Session]) -> None:
        # One pacer and one set of spans for the loop's tasks and the analytics thread.
        self._observer = ClientObserver(
            self._config.credential, self._config.base_url, process_telemetry()
        )
        self._aio = AsyncTransport(self._config, observer=self._observer)
        # The analytics worker thread sends with the sync transport; it connects (and
        # starts its thread) only on the first track(), identify() or alias().
        self._transport = Transport(self._config, observer=self._observer)
        self._batcher = Batcher(self._config, self._transport)

    def _use_config(self, config: ClientConfig) -> None:
        self._aio = self._aio.with_config(config)

    async def flush(self, timeout: Optional[float] = None) -> FlushResult:
        """Send the queued analytics now; wait until done, or at most ``timeout`` seconds.

        The wait happens in a worker thread; the event loop keeps running.

        Args:
            timeout: seconds to wait at most (``None``: until done).

        Raises:
            ValidationError: ``timeout`` is not ``None`` or a number >= 0.
        """
        return await asyncio.to_thread(self._batcher.flush, timeout)

    async def shutdown(self, timeout: Optional[float] = None) -> FlushResult:
        """Flush analytics within ``timeout`` (default ``shutdown_timeout``), stop the worker.

        The wait happens in a worker thread; the event loop keeps running. Idempotent.

        Args:
            timeout: seconds to wait at most (``None``: ``shutdown_timeout``).

        Raises:
            ValidationError: ``timeout`` is not ``None`` or a number >= 0.
        """
        return await asyncio.to_thread(self._batcher.shutdown, timeout)

    async def close(self) -> None:
        """Deliver queued analytics (see :meth:`shutdown`), then close every connection.

        Safe to call more than once; Events API calls afterwards raise ``TeleflowError``.
        """
        try:
            await self.shutdown()
        finally:
            self._transport.close()
            await self._aio.close()

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(
        self,
        exc_type: Optional[Type[BaseException]],
        exc: Optional[BaseException],
        traceback: Optional[TracebackType],
    ) -> None:
        await self.close()
