"""AsyncClient: the Events API as coroutines, analytics through the same background queue."""

from __future__ import annotations

import asyncio
import os
from types import TracebackType
from typing import Any, Mapping, Optional, Type, Union

from .._core.environment import warn_if_key_in_clear
from .._observing import ClientObserver, RateLimitView
from .._transport import Transport
from ..analytics.batcher import Batcher
from ..analytics.mixin import AnalyticsQueueMixin
from ..analytics.stats import FlushResult
from ..client import _KEEP, config_with_options
from ..config import (
    DEFAULT_DEADLINE,
    DEFAULT_MAX_RESPONSE_BYTES,
    ClientConfig,
    DropCallback,
    ErrorCallback,
    mask_key,
)
from ..integrations.otel import telemetry as process_telemetry
from ._transport import AsyncTransport
from .events import AsyncEventsMixin


class AsyncClient(AsyncEventsMixin, AnalyticsQueueMixin, RateLimitView):
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

    Args:
        api_key: the API key; defaults to ``TELEFLOW_API_KEY``.
        base_url: the API root; defaults to ``TELEFLOW_BASE_URL``, then
            :data:`~teleflow_py.config.DEFAULT_BASE_URL`.
        max_retries: retries of a failed Events API request.
        timeout: seconds to wait for each read of the answer.
        open_timeout: seconds to connect.
        write_timeout: seconds for each write of the request.
        max_retry_wait: the longest server-requested wait slept through before a retry.
        deadline: seconds for one whole Events API call, retries and waits included
            (``None`` or ``math.inf``: no limit).
        max_response_bytes: the largest answer read; a longer one ends the call with
            :class:`~teleflow_py.errors.ResponseTooLargeError`.
        default_headers: extra headers on every Events API request (the same rules as
            :class:`~teleflow_py.Client`'s).
        telemetry: send the Python and OS versions in ``User-Agent``.
        telemetry_hostname: add the host name to ``User-Agent``.
        pace_by_rate_limit: space Events requests by the rate-limit budget the server
            announces (``RateLimit-*`` headers), so they meet no 429 (default ``True``;
            see :doc:`rate-limits`). No header, no pacing.
        flush_at: analytics messages that make a batch.
        flush_interval: seconds the oldest analytics message waits at most.
        max_queue_size: analytics messages waiting at most; more are dropped.
        max_queue_bytes: bytes of encoded analytics messages waiting at most; more are
            dropped like a full queue.
        batch_max_retries: retries of an analytics batch.
        shutdown_timeout: seconds :meth:`close` (and interpreter exit) waits for analytics.
        register_atexit: flush analytics at interpreter exit.
        on_error: called with ``(error, events)`` for analytics refused for good.
        on_drop: called with ``(event, reason)`` for analytics dropped before sending.
        spool_path: keep analytics in an SQLite file until the server accepted them (see
            :class:`~teleflow_py.Client`); a background thread commits them, never the
            event loop. The sync client's ``spool_mode="sync"`` and
            ``queue_full_timeout`` are not offered here: both would make ``track()`` wait
            (for an fsync, for room) on the loop.
        spool_max_bytes: the spool file's bound; beyond it new events are dropped.

    Raises:
        ValidationError: a setting is missing or invalid (the message names it).
    """

    def __init__(
        self,
        api_key: Optional[str] = None,
        *,
        base_url: Optional[str] = None,
        max_retries: int = 5,
        timeout: float = 10.0,
        open_timeout: float = 5.0,
        write_timeout: float = 30.0,
        max_retry_wait: float = 60.0,
        deadline: Optional[float] = DEFAULT_DEADLINE,
        max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES,
        default_headers: Optional[Mapping[str, str]] = None,
        telemetry: bool = True,
        telemetry_hostname: bool = False,
        pace_by_rate_limit: bool = True,
        flush_at: int = 100,
        flush_interval: float = 5.0,
        max_queue_size: int = 10_000,
        max_queue_bytes: int = 32 * 1024 * 1024,
        batch_max_retries: int = 2,
        shutdown_timeout: float = 5.0,
        register_atexit: bool = True,
        on_error: Optional[ErrorCallback] = None,
        on_drop: Optional[DropCallback] = None,
        spool_path: Union[str, os.PathLike[str], None] = None,
        spool_max_bytes: int = 256 * 1024 * 1024,
    ) -> None:
        self._config = ClientConfig.build(
            api_key,
            base_url=base_url,
            max_retries=max_retries,
            timeout=timeout,
            open_timeout=open_timeout,
            write_timeout=write_timeout,
            max_retry_wait=max_retry_wait,
            deadline=deadline,
            max_response_bytes=max_response_bytes,
            default_headers=default_headers,
            telemetry=telemetry,
            telemetry_hostname=telemetry_hostname,
            pace_by_rate_limit=pace_by_rate_limit,
            flush_at=flush_at,
            flush_interval=flush_interval,
            max_queue_size=max_queue_size,
            max_queue_bytes=max_queue_bytes,
            # Never wait on the event loop for room in the queue, nor fsync there.
            queue_full_timeout=0.0,
            batch_max_retries=batch_max_retries,
            shutdown_timeout=shutdown_timeout,
            register_atexit=register_atexit,
            on_error=on_error,
            on_drop=on_drop,
            spool_path=spool_path,
            spool_mode="group",
            spool_max_bytes=spool_max_bytes,
        )
        warn_if_key_in_clear(self._config.base_url)
        # One pacer and one set of spans for the loop's tasks and the analytics thread.
        self._observer = ClientObserver(
            self._config.credential, self._config.base_url, process_telemetry()
        )
        self._aio = AsyncTransport(self._config, observer=self._observer)
        # The analytics worker thread sends with the sync transport; it connects (and
        # starts its thread) only on the first track(), identify() or alias().
        self._transport = Transport(self._config, observer=self._observer)
        self._batcher = Batcher(self._config, self._transport)

    def with_options(
        self,
        *,
        max_retries: Optional[int] = None,
        timeout: Optional[float] = None,
        open_timeout: Optional[float] = None,
        write_timeout: Optional[float] = None,
        max_retry_wait: Optional[float] = None,
        deadline: Any = _KEEP,
        max_response_bytes: Optional[int] = None,
        default_headers: Optional[Mapping[str, str]] = None,
        pace_by_rate_limit: Optional[bool] = None,
    ) -> AsyncClient:
        """A light copy of this client with some Events API settings changed.

        As :meth:`teleflow_py.Client.with_options`: the copy shares this client's
        connections and analytics queue, and only calls made through it use the new
        settings::

            await client.with_options(deadline=5, max_retries=1).trigger_event("welcome", "s-1")

        Args:
            max_retries: retries of one failed request.
            timeout: seconds to wait for each read of the answer.
            open_timeout: seconds to connect.
            write_timeout: seconds for each write of the request.
            max_retry_wait: the longest server-requested wait slept through.
            deadline: seconds for one whole call; ``None`` or ``math.inf`` for no limit.
            max_response_bytes: the largest answer read.
            default_headers: headers added to (or replacing same-named) headers of this
                client.
            pace_by_rate_limit: pace the copy's calls by the rate-limit headers; the budget
                itself is shared with this client.

        Raises:
            ValidationError: a setting is invalid (the message names it).
        """
        copy = object.__new__(type(self))
        copy.__dict__.update(self.__dict__)  # whatever else a client holds is shared too
        copy._config = config_with_options(
            self._config,
            max_retries=max_retries,
            timeout=timeout,
            open_timeout=open_timeout,
            write_timeout=write_timeout,
            max_retry_wait=max_retry_wait,
            deadline=deadline,
            max_response_bytes=max_response_bytes,
            default_headers=default_headers,
            pace_by_rate_limit=pace_by_rate_limit,
        )
        copy._aio = self._aio.with_config(copy._config)
        return copy

    @property
    def config(self) -> ClientConfig:
        """The frozen settings of this client."""
        return self._config

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

    def __repr__(self) -> str:
        key = mask_key(self._config.api_key)
        return f"AsyncClient(api_key={key!r}, base_url={self._config.base_url!r})"

    def __reduce__(self) -> Any:
        # A pickled client would carry the key in clear; refuse instead.
        raise TypeError("a teleflow_py.AsyncClient cannot be pickled")
