"""Client: the one object users create. Owns the config and the transport."""

from __future__ import annotations

from types import TracebackType
from typing import Any, Mapping, Optional, Type

import requests

from ._transport import Transport
from .analytics.batcher import Batcher
from .analytics.mixin import AnalyticsMixin
from .config import ClientConfig, DropCallback, ErrorCallback, mask_key
from .events import EventsMixin


class Client(EventsMixin, AnalyticsMixin):
    """Synchronous client of the Teleflow API.

    ``api_key`` defaults to ``TELEFLOW_API_KEY`` and ``base_url`` to ``TELEFLOW_BASE_URL``,
    then to :data:`~teleflow_py.config.DEFAULT_BASE_URL` (``EU_BASE_URL`` for the EU).

    Timeouts are in seconds, per socket operation: ``open_timeout`` bounds connecting,
    ``write_timeout`` each write of the request, ``timeout`` each wait for the answer. On a
    ``session`` of your own (or through a proxy) requests sends the request; it takes no write
    timeout, and urllib3 bounds each write by ``open_timeout`` instead.

    One client is safe to share between threads: its keep-alive connections are shared, one
    in use by one thread at a time. A ``session`` you pass in (proxies, adapters, CA
    settings) is used by every thread as is and never closed by the client. The client is a
    context manager; :meth:`close` flushes analytics and releases the connections.

    Analytics (``track``, ``identify``, ``alias``) are queued and sent by one background
    thread, started on first use: a batch leaves when ``flush_at`` messages wait, when the
    oldest has waited ``flush_interval`` seconds, on :meth:`flush` and at :meth:`shutdown`
    (run by :meth:`close` and, unless ``register_atexit=False``, at interpreter exit,
    within ``shutdown_timeout``). At most ``max_queue_size`` messages wait; more are
    dropped and passed to ``on_drop(event, reason)``. A batch is retried
    ``batch_max_retries`` times, then kept for later; events the server refuses for good
    are passed to ``on_error(error, events)``. ``on_error`` runs on the worker thread;
    ``on_drop`` on the thread that dropped the event (yours for a full queue or a call after
    shutdown). Both must be quick and should not raise (exceptions are logged and ignored).

    Args:
        api_key: The secret API key, sent as ``Authorization: ApiKey ...``; never printed.
            Read from ``TELEFLOW_API_KEY`` when not given.
        base_url: The API's address, e.g. ``EU_BASE_URL`` or an emulator's URL. Read from
            ``TELEFLOW_BASE_URL`` when not given, then ``DEFAULT_BASE_URL``.
        max_retries: Retries of an Events API call after its first attempt (connection
            failures, 408, 409, 429, 502, 503, 504), with the same idempotency key.
        timeout: Seconds to wait for each read of the answer (not the whole call).
        open_timeout: Seconds to connect.
        write_timeout: Seconds for each write of the request.
        max_retry_wait: The longest wait, in seconds, that the SDK sleeps through when the
            server asks for one (``Retry-After``...); a longer one raises at once.
        session: A ``requests.Session`` of your own (proxies, adapters, CA settings), used
            for every request and never closed by the client.
        default_headers: Extra headers sent on every request (not ``Authorization``).
        telemetry: Send the Python and OS versions in ``User-Agent``.
        telemetry_hostname: Also send the host name in ``User-Agent`` (opt in).
        flush_at: Analytics: send a batch once this many messages wait.
        flush_interval: Analytics: send a batch once the oldest message has waited this
            many seconds.
        max_queue_size: Analytics: at most this many messages wait; more are dropped and
            passed to ``on_drop``.
        batch_max_retries: Analytics: retries of a batch before it is kept for later.
        shutdown_timeout: Analytics: seconds that :meth:`shutdown` (and so :meth:`close`
            and the exit hook) spends delivering what is queued.
        register_atexit: Analytics: flush the queue at interpreter exit.
        on_error: Analytics: called as ``on_error(error, events)`` with events the server
            refused for good, on the worker thread.
        on_drop: Analytics: called as ``on_drop(event, reason)`` with an event dropped
            before sending (full queue, call after shutdown).

    Raises:
        ValidationError: a setting is missing or invalid (the message names it).
    """

    def __init__(
        self,
        api_key: Optional[str] = None,
        *,
        base_url: Optional[str] = None,
        max_retries: int = 5,
        timeout: float = 30.0,
        open_timeout: float = 10.0,
        write_timeout: float = 60.0,
        max_retry_wait: float = 60.0,
        session: Optional[requests.Session] = None,
        default_headers: Optional[Mapping[str, str]] = None,
        telemetry: bool = True,
        telemetry_hostname: bool = False,
        flush_at: int = 20,
        flush_interval: float = 5.0,
        max_queue_size: int = 1000,
        batch_max_retries: int = 2,
        shutdown_timeout: float = 5.0,
        register_atexit: bool = True,
        on_error: Optional[ErrorCallback] = None,
        on_drop: Optional[DropCallback] = None,
    ) -> None:
        self._config = ClientConfig.build(
            api_key,
            base_url=base_url,
            max_retries=max_retries,
            timeout=timeout,
            open_timeout=open_timeout,
            write_timeout=write_timeout,
            max_retry_wait=max_retry_wait,
            default_headers=default_headers,
            telemetry=telemetry,
            telemetry_hostname=telemetry_hostname,
            flush_at=flush_at,
            flush_interval=flush_interval,
            max_queue_size=max_queue_size,
            batch_max_retries=batch_max_retries,
            shutdown_timeout=shutdown_timeout,
            register_atexit=register_atexit,
            on_error=on_error,
            on_drop=on_drop,
        )
        self._transport = Transport(self._config, session)
        # Starts no thread until the first track(), identify() or alias().
        self._batcher = Batcher(self._config, self._transport)

    @property
    def config(self) -> ClientConfig:
        """The frozen settings of this client."""
        return self._config

    def close(self) -> None:
        """Deliver queued analytics (see :meth:`shutdown`), then release the connections.

        Safe to call more than once.
        """
        self.shutdown()
        self._transport.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(
        self,
        exc_type: Optional[Type[BaseException]],
        exc: Optional[BaseException],
        traceback: Optional[TracebackType],
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        key = mask_key(self._config.api_key)
        return f"Client(api_key={key!r}, base_url={self._config.base_url!r})"

    def __reduce__(self) -> Any:
        # A pickled client would carry the key in clear; refuse instead.
        raise TypeError("a teleflow_py.Client cannot be pickled")
