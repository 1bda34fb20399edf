"""Client: the one object users create. Owns the config and the transport."""

from __future__ import annotations

from types import TracebackType
from typing import Any, Mapping, Optional, Type

import requests

from ._transport import Transport
from .config import ClientConfig, mask_key
from .events import EventsMixin


class Client(EventsMixin):
    """Synchronous client of the Teleflow API.

    ``api_key`` defaults to ``TELEFLOW_API_KEY`` and ``base_url`` to ``TELEFLOW_BASE_URL``,
    then to :data:`~teleflow_py.config.DEFAULT_BASE_URL` (``EU_BASE_URL`` for the EU).

    Timeouts are in seconds: ``open_timeout`` bounds connecting, ``timeout`` each wait for a
    byte of the answer. ``write_timeout`` is kept for parity with other Teleflow SDKs, but
    requests cannot enforce it separately: while sending, each socket write is bounded by
    ``open_timeout`` (urllib3 sets the socket's timeout to the connect timeout until the
    request is sent), and no overall deadline applies to a whole call.

    One client is safe to share between threads: each thread gets its own pooled
    ``requests.Session``. A ``session`` you pass in is used by every thread as is (requests'
    connection pool is thread-safe; do not change the session's settings while in use).
    The client is a context manager; :meth:`close` releases the connections.

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
        )
        self._transport = Transport(self._config, session)

    @property
    def config(self) -> ClientConfig:
        """The frozen settings of this client."""
        return self._config

    def close(self) -> None:
        """Release the connections this client opened. Safe to call more than once."""
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
