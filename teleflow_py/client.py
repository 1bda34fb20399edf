"""Client: the one object users create: the Events mixin and the analytics front.

Its settings come from :class:`~teleflow_py._base_client.BaseClient` (shared with the
async client); here is what is its own: the sync driver
(:class:`~teleflow_py._transport.Transport`) and the analytics queue. See
docs/architecture.rst.
"""

from __future__ import annotations

from types import TracebackType
from typing import Optional, Type

import requests

from ._base_client import BaseClient
from ._observing import ClientObserver, RateLimitView
from ._transport import Transport
from .analytics.batcher import Batcher
from .analytics.mixin import AnalyticsMixin
from .config import ClientConfig
from .events import EventsMixin
from .integrations.otel import telemetry as process_telemetry


class Client(EventsMixin, AnalyticsMixin, RateLimitView, BaseClient):
    """Synchronous client of the Teleflow API.

    ``api_key`` defaults to ``TELEFLOW_API_KEY`` and ``base_url`` to ``TELEFLOW_BASE_URL``,
    then to :data:`~teleflow_py.config.DEFAULT_BASE_URL` (``EU_BASE_URL`` for the EU).

    ``deadline`` bounds one Events API call as a whole: every attempt, every wait between
    retries and the reading of the answer. The timeouts are in seconds, per socket
    operation, and never run past the deadline: ``open_timeout`` bounds connecting,
    ``write_timeout`` each write of the request, ``timeout`` each wait for the answer. On a
    ``session`` of your own requests sends the request; it takes no write timeout, and
    urllib3 bounds each write by ``open_timeout`` instead. With the defaults one
    call raises within about 30 s whatever the server does (see :doc:`retries`).
    :meth:`with_options` changes these for some calls only.

    One client is safe to share between threads: its keep-alive connections are shared, one
    in use by one thread at a time. A ``session`` you pass in (proxies, adapters, CA
    settings) is used by every thread as is and never closed by the client. The client is a
    context manager; :meth:`close` flushes analytics and releases the connections.

    Analytics (``track``, ``identify``, ``alias``) are queued and sent by one background
    thread, started on first use (see the "Product analytics" page of the docs).

    The settings are the keywords below (their defaults, environment variables and
    meaning are also in the configuration table of :doc:`configuration`).
    """

    def _connect(self, session: Optional[requests.Session]) -> None:
        # One pacer and one set of spans for the client's threads, its with_options
        # copies and the analytics worker.
        self._observer = ClientObserver(
            self._config.credential, self._config.base_url, process_telemetry()
        )
        self._transport = Transport(self._config, session, observer=self._observer)
        # Starts no thread until the first track(), identify() or alias().
        self._batcher = Batcher(self._config, self._transport)

    def _use_config(self, config: ClientConfig) -> None:
        self._transport = self._transport.with_config(config)

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
