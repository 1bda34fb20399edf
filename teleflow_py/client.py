"""Client: the one object users create. Owns the config and the transport."""

from __future__ import annotations

import os
from types import TracebackType
from typing import Any, Dict, Mapping, Optional, Type, Union

import requests

from ._core.environment import warn_if_key_in_clear
from ._observing import ClientObserver, RateLimitView
from ._transport import Transport
from .analytics.batcher import Batcher
from .analytics.mixin import AnalyticsMixin
from .config import (
    DEFAULT_DEADLINE,
    DEFAULT_MAX_RESPONSE_BYTES,
    ClientConfig,
    DropCallback,
    ErrorCallback,
    SpoolMode,
    mask_key,
)
from .events import EventsMixin
from .integrations.otel import telemetry as process_telemetry

#: ``with_options(deadline=...)`` left out (``None`` there means "no deadline").
_KEEP: Any = object()


def config_with_options(
    config: ClientConfig,
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
) -> ClientConfig:
    """``config`` with the settings given to ``with_options`` changed (both clients').

    Raises:
        ValidationError: a setting is invalid (the message names it).
    """
    changes: Dict[str, Any] = {
        name: value
        for name, value in (
            ("max_retries", max_retries),
            ("timeout", timeout),
            ("open_timeout", open_timeout),
            ("write_timeout", write_timeout),
            ("max_retry_wait", max_retry_wait),
            ("max_response_bytes", max_response_bytes),
            ("pace_by_rate_limit", pace_by_rate_limit),
        )
        if value is not None
    }
    if deadline is not _KEEP:
        changes["deadline"] = deadline
    if default_headers is not None:
        changes["default_headers"] = {**config.default_headers, **default_headers}
    return config.replace(**changes)


class Client(EventsMixin, AnalyticsMixin, RateLimitView):
    """Synchronous client of the Teleflow API.

    ``api_key`` defaults to ``TELEFLOW_API_KEY`` and ``base_url`` to ``TELEFLOW_BASE_URL``,
    then to :data:`~teleflow_py.config.DEFAULT_BASE_URL` (``EU_BASE_URL`` for the EU).

    ``deadline`` bounds one Events API call as a whole: every attempt, every wait between
    retries and the reading of the answer. The timeouts are in seconds, per socket
    operation, and never run past the deadline: ``open_timeout`` bounds connecting,
    ``write_timeout`` each write of the request, ``timeout`` each wait for the answer. On a
    ``session`` of your own (or through a proxy) requests sends the request; it takes no write
    timeout, and urllib3 bounds each write by ``open_timeout`` instead. With the defaults one
    call raises within about 30 s whatever the server does (see :doc:`retries`).
    :meth:`with_options` changes these for some calls only.

    One client is safe to share between threads: its keep-alive connections are shared, one
    in use by one thread at a time. A ``session`` you pass in (proxies, adapters, CA
    settings) is used by every thread as is and never closed by the client. The client is a
    context manager; :meth:`close` flushes analytics and releases the connections.

    Analytics (``track``, ``identify``, ``alias``) are queued and sent by one background
    thread, started on first use (see the "Product analytics" page of the docs).

    Args:
        api_key: the secret API key (default: ``TELEFLOW_API_KEY``).
        base_url: the API root (default: ``TELEFLOW_BASE_URL``, then the US region).
        max_retries: retries of one failed request (same idempotency key each time).
        timeout: seconds to wait for each read of the answer (finite).
        open_timeout: seconds to connect (finite).
        write_timeout: seconds for each write of the request (finite).
        max_retry_wait: the longest server-requested wait (``Retry-After``) slept through;
            a longer one ends the call with the server's error.
        deadline: seconds for one whole Events API call, retries and waits included
            (``None`` or ``math.inf``: no limit). Each request of a bulk trigger gets its
            own deadline.
        max_response_bytes: the largest answer read (headers and body); a longer one
            ends the call with :class:`~teleflow_py.errors.ResponseTooLargeError`.
        session: a ``requests.Session`` to send through (proxies, adapters); never closed.
        default_headers: extra headers on every request; not ``Authorization`` or the
            headers that frame the request (``Content-Length``, ``Transfer-Encoding``,
            ``Host``, ``Connection``).
        telemetry: send Python and OS versions in ``User-Agent``.
        telemetry_hostname: also send the host name in ``User-Agent``.
        pace_by_rate_limit: space Events requests by the rate-limit budget the server
            announces (``RateLimit-*`` headers), so they meet no 429 (default ``True``;
            see :doc:`rate-limits`). No header, no pacing.
        flush_at: a batch is sent as soon as this many analytics messages wait (100).
            When more wait, one batch takes up to 1,000 messages and 500 KB.
        flush_interval: seconds the oldest waiting message may wait before a batch is
            sent anyway (5).
        max_queue_size: at most this many messages wait in memory (10,000); more are
            dropped (``"queue_full"``), counted and passed to ``on_drop``.
        max_queue_bytes: at most this many bytes of encoded messages wait in memory
            (32 MiB, at least 64 KiB); more are dropped like a full queue.
        queue_full_timeout: seconds a ``track()`` (or ``identify``/``alias``) on a full
            queue waits for room before dropping (0: drop at once). Waiting protects
            events but can stall your thread while the server is slow or down.
        batch_max_retries: retries of one batch before it goes back to the queue (2).
        shutdown_timeout: seconds :meth:`shutdown`, :meth:`close` and the exit hook may
            spend delivering what is queued (5).
        register_atexit: flush at interpreter exit (default ``True``).
        on_error: ``on_error(error, events)``, called on the worker thread for events
            the server refused for good. Keep it quick; exceptions are logged, ignored.
        on_drop: ``on_drop(event, reason)``, called for each event dropped before
            sending (``"queue_full"``, ``"spool_full"``, ``"shutdown"``,
            ``"too_large"``), on the thread that dropped it. Keep it quick.
        spool_path: keep analytics in an SQLite file at this path until the server
            accepted them, so they survive a crash, a kill or an outage at exit, and are
            sent by the next client that opens the file. Several processes on one host
            may share a path. Default ``None``: memory only.
        spool_mode: ``"group"`` (default): a background thread commits tracked events
            every few milliseconds (on disk within 50 ms; a process crash loses nothing
            committed, a power loss may lose the last commits); ``"sync"``: each call
            commits (and fsyncs) before it returns, surviving power loss, at the price
            of one fsync per call.
        spool_max_bytes: the spool file's bound (256 MiB); beyond it new events are
            dropped (``"spool_full"``) and counted.

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
        session: Optional[requests.Session] = None,
        default_headers: Optional[Mapping[str, str]] = None,
        telemetry: bool = True,
        telemetry_hostname: bool = False,
        pace_by_rate_limit: bool = True,
        flush_at: int = 100,
        flush_interval: float = 5.0,
        max_queue_size: int = 10_000,
        max_queue_bytes: int = 32 * 1024 * 1024,
        queue_full_timeout: float = 0.0,
        batch_max_retries: int = 2,
        shutdown_timeout: float = 5.0,
        register_atexit: bool = True,
        on_error: Optional[ErrorCallback] = None,
        on_drop: Optional[DropCallback] = None,
        spool_path: Union[str, os.PathLike[str], None] = None,
        spool_mode: SpoolMode = "group",
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
            queue_full_timeout=queue_full_timeout,
            batch_max_retries=batch_max_retries,
            shutdown_timeout=shutdown_timeout,
            register_atexit=register_atexit,
            on_error=on_error,
            on_drop=on_drop,
            spool_path=spool_path,
            spool_mode=spool_mode,
            spool_max_bytes=spool_max_bytes,
        )
        warn_if_key_in_clear(self._config.base_url)
        self._observer = ClientObserver(
            self._config.credential, self._config.base_url, process_telemetry()
        )
        self._transport = Transport(self._config, session, observer=self._observer)
        # Starts no thread until the first track(), identify() or alias().
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
    ) -> Client:
        """A light copy of this client with some Events API settings changed.

        The copy shares this client's connections and analytics queue; only the calls made
        through it use the new settings, so it is cheap to make one per call::

            client.with_options(deadline=5, max_retries=1).trigger_event("welcome", "s-1")

        Settings left out (or ``None``) keep this client's values. Closing the copy closes
        the shared connections and queue, as closing this client does.

        Args:
            max_retries: retries of one failed request.
            timeout: seconds to wait for each read of the answer.
            open_timeout: seconds to connect.
            write_timeout: seconds for each write of the request.
            max_retry_wait: the longest server-requested wait slept through.
            deadline: seconds for one whole call; ``None`` or ``math.inf`` for no limit.
            max_response_bytes: the largest answer read.
            default_headers: headers added to (or replacing same-named) headers of this
                client, under the same rules as in :class:`Client`.
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
        copy._transport = self._transport.with_config(copy._config)
        copy._batcher = self._batcher
        return copy

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
