"""The settings in one signature: the constructor and ``with_options`` of both clients.

:class:`BaseClient` is what :class:`~teleflow_py.Client` and
:class:`~teleflow_py.aio.AsyncClient` share: one ``__init__`` that takes every setting,
validates it into a frozen :class:`~teleflow_py.config.ClientConfig` and hands it to the
client's driver (:meth:`BaseClient._connect`), and one :meth:`BaseClient.with_options`.
Each client adds only what differs: its driver, its Events and analytics methods, and the
settings it cannot honour (:attr:`BaseClient._FIXED`). See docs/architecture.rst.

How to add a setting (the docs test and the configuration table follow by themselves):

1. a field of :class:`~teleflow_py.config.ClientConfig` with its default, and its check in
   ``ClientConfig.build`` (a ``ValidationError`` naming it);
2. a keyword of :meth:`BaseClient.__init__` whose default is the field's
   (``name: type = ClientConfig.name``) and its line in that docstring's ``Args:``;
   ``__init__`` passes every keyword to ``ClientConfig.build`` by name, so nothing else
   lists it;
3. if one call may change it, a keyword of :meth:`BaseClient.with_options` (default
   ``None``: keep) with its ``Args:`` line; ``with_options`` passes what it is given to
   ``ClientConfig.replace`` by name;
4. if a client cannot honour it (the async client never blocks its event loop), an entry
   in that client's ``_FIXED``: any other value is refused with a clear error.
"""

from __future__ import annotations

import abc
import os
from typing import Any, ClassVar, Dict, Mapping, Optional, Tuple, Union

import requests
from typing_extensions import Self

from ._core.environment import warn_if_key_in_clear
from .config import ClientConfig, DropCallback, ErrorCallback, SpoolMode, mask_key
from .errors import ValidationError

#: ``with_options(deadline=...)`` left out (``None`` there means "no deadline").
_KEEP: Any = object()


class BaseClient(abc.ABC):
    """The settings both clients take, in one place (not used on its own)."""

    #: Settings this client runs with a fixed value: ``name -> (value, why)``. Another
    #: value is refused with a :class:`~teleflow_py.errors.ValidationError`.
    _FIXED: ClassVar[Mapping[str, Tuple[Any, str]]] = {}

    _config: ClientConfig

    def __init__(
        self,
        api_key: Optional[str] = None,
        *,
        base_url: Optional[str] = None,
        max_retries: int = ClientConfig.max_retries,
        timeout: float = ClientConfig.timeout,
        open_timeout: float = ClientConfig.open_timeout,
        write_timeout: float = ClientConfig.write_timeout,
        max_retry_wait: float = ClientConfig.max_retry_wait,
        deadline: Optional[float] = ClientConfig.deadline,
        max_response_bytes: int = ClientConfig.max_response_bytes,
        session: Optional[requests.Session] = None,
        default_headers: Optional[Mapping[str, str]] = None,
        telemetry: bool = ClientConfig.telemetry,
        telemetry_hostname: bool = ClientConfig.telemetry_hostname,
        pace_by_rate_limit: bool = ClientConfig.pace_by_rate_limit,
        flush_at: int = ClientConfig.flush_at,
        flush_interval: float = ClientConfig.flush_interval,
        max_queue_size: int = ClientConfig.max_queue_size,
        max_queue_bytes: int = ClientConfig.max_queue_bytes,
        queue_full_timeout: float = ClientConfig.queue_full_timeout,
        batch_max_retries: int = ClientConfig.batch_max_retries,
        shutdown_timeout: float = ClientConfig.shutdown_timeout,
        register_atexit: bool = ClientConfig.register_atexit,
        on_error: Optional[ErrorCallback] = None,
        on_drop: Optional[DropCallback] = None,
        spool_path: Union[str, os.PathLike[str], None] = None,
        spool_mode: SpoolMode = ClientConfig.spool_mode,
        spool_max_bytes: int = ClientConfig.spool_max_bytes,
        server_deduplicates: Optional[bool] = ClientConfig.server_deduplicates,
    ) -> None:
        """Validate the settings, then make the client's driver (it connects on first use).

        Args:
            api_key: the secret API key (default: ``TELEFLOW_API_KEY``).
            base_url: the API root (default: ``TELEFLOW_BASE_URL``, then the US region).
            max_retries: retries of one failed request (same idempotency key each time).
            timeout: seconds to wait for each read of the answer (finite).
            open_timeout: seconds to connect (finite).
            write_timeout: seconds for each write of the request (finite).
            max_retry_wait: the longest server-requested wait (``Retry-After``) slept
                through; a longer one ends the call with the server's error.
            deadline: seconds for one whole Events API call, retries and waits included
                (``None`` or ``math.inf``: no limit). Each request of a bulk trigger gets
                its own deadline.
            max_response_bytes: the largest answer read (headers and body); a longer one
                ends the call with :class:`~teleflow_py.errors.ResponseTooLargeError`.
            session: ``Client`` only: a ``requests.Session`` to send through (adapters,
                mounts); never closed. The whole-call deadline is then checked between
                socket operations only (see :doc:`configuration`).
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
            queue_full_timeout: ``Client`` only: seconds a ``track()`` (or
                ``identify``/``alias``) on a full queue waits for room before dropping (0:
                drop at once). Waiting protects events but can stall your thread while the
                server is slow or down.
            batch_max_retries: retries of one batch before it goes back to the queue (2).
            shutdown_timeout: seconds ``shutdown()``, ``close()`` and the exit hook may
                spend delivering what is queued (5).
            register_atexit: flush at interpreter exit (default ``True``).
            on_error: ``on_error(error, events)``, called on the worker thread for events
                the server refused for good. Keep it quick; exceptions are logged, ignored.
            on_drop: ``on_drop(event, reason)``, called for each event dropped before
                sending (``"queue_full"``, ``"spool_full"``, ``"shutdown"``,
                ``"too_large"``), on the thread that dropped it. Keep it quick.
            spool_path: keep analytics in an SQLite file at this path until the server
                accepted them, so they survive a crash, a kill or an outage at exit, and
                are sent by the next client that opens the file. Several processes on one
                host may share a path. Default ``None``: memory only.
            spool_mode: ``"group"`` (default): a background thread commits tracked events
                every few milliseconds (on disk within 50 ms; a process crash loses nothing
                committed, a power loss may lose the last commits); ``"sync"``
                (``Client`` only): each call commits (and fsyncs) before it returns,
                surviving power loss, at the price of one fsync per call.
            spool_max_bytes: the spool file's bound (256 MiB); beyond it new events are
                dropped (``"spool_full"``) and counted.
            server_deduplicates: whether the server deduplicates retried Events requests by
                ``Idempotency-Key`` (``None``, the default: learn it from its answers,
                assuming yes for the hosted service and no for any other URL until one
                says). ``False``: a trigger, bulk trigger or broadcast that fails after it
                may have been processed (a timeout or reset after sending, a 502 or 504)
                is not retried and raises with ``maybe_delivered=True``; ``True``: it is
                retried (for a server behind a gateway that strips the echoed header). See
                "When the server does not deduplicate" in :doc:`retries`.

        Raises:
            ValidationError: a setting is missing or invalid, or one this client does not
                offer is given (the message names it).
        """
        # Every keyword above, by name: the one list of settings is the signature.
        settings: Dict[str, Any] = dict(locals())
        del settings["self"], settings["api_key"], settings["session"]
        for name, (value, why) in self._FIXED.items():
            given = session if name == "session" else settings[name]
            if given != value:
                raise ValidationError(name, f"not offered by {type(self).__name__}: {why}")
        self._config = ClientConfig.build(api_key, **settings)
        warn_if_key_in_clear(self._config.base_url)
        self._connect(session)

    @abc.abstractmethod
    def _connect(self, session: Optional[requests.Session]) -> None:
        """Make this client's driver (and analytics queue) for ``self._config``."""

    @abc.abstractmethod
    def _use_config(self, config: ClientConfig) -> None:
        """Send this copy's Events calls with ``config`` (``with_options``), sharing the rest."""

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
        server_deduplicates: Any = _KEEP,
    ) -> Self:
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
                client, under the same rules as the client's own.
            pace_by_rate_limit: pace the copy's calls by the rate-limit headers; the budget
                itself is shared with this client.
            server_deduplicates: ``True`` or ``False`` to say whether the server
                deduplicates retried requests, ``None`` to learn it from its answers (left
                out: keep this client's setting).

        Raises:
            ValidationError: a setting is invalid (the message names it).
        """
        given: Dict[str, Any] = dict(locals())
        del given["self"]
        # None keeps a setting, except where None is a value of its own (no deadline;
        # learn whether the server deduplicates): there _KEEP does.
        meaningful_none = ("deadline", "server_deduplicates")
        changes = {n: v for n, v in given.items() if v is not None or n in meaningful_none}
        for name in meaningful_none:
            if changes[name] is _KEEP:
                del changes[name]
        if default_headers is not None:
            changes["default_headers"] = {**self._config.default_headers, **default_headers}
        config = self._config.replace(**changes)
        copy = object.__new__(type(self))
        copy.__dict__.update(self.__dict__)  # whatever else a client holds is shared too
        copy._config = config
        copy._use_config(config)
        return copy

    @property
    def config(self) -> ClientConfig:
        """The frozen settings of this client."""
        return self._config

    def __repr__(self) -> str:
        key = mask_key(self._config.api_key)
        return f"{type(self).__name__}(api_key={key!r}, base_url={self._config.base_url!r})"

    def __reduce__(self) -> Any:
        # A pickled client would carry the key in clear; refuse instead.
        raise TypeError(f"a teleflow_py.{type(self).__name__} cannot be pickled")
