"""Deliver analytics from Celery's prefork worker processes before each one ends.

A Celery (billiard) pool child ends with ``os._exit`` when it is recycled
(``--max-tasks-per-child``, ``--max-memory-per-child``) or when the worker stops, so the
exit flush never runs there. Celery sends ``worker_process_shutdown`` in the child just
before that; :func:`flush_in_worker_processes` shuts the client down on it. Celery is
imported only when you call it.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..client import Client


def flush_in_worker_processes(client: Client) -> None:
    """Shut ``client`` down (deliver within ``shutdown_timeout``) as each pool child ends.

    Call it once where the Celery app is defined, next to the client::

        client = Client()
        flush_in_worker_processes(client)

    The main worker process (and the solo or threads pools) ends through a normal
    interpreter exit, which flushes already.

    Args:
        client: the client whose queue to deliver.

    Raises:
        ImportError: Celery is not installed.
    """
    signals = importlib.import_module("celery.signals")
    # weak=False: the receiver is a new object that nothing else holds.
    signals.worker_process_shutdown.connect(_ShutDown(client), weak=False)


class _ShutDown:
    """A receiver of ``worker_process_shutdown`` (called with ``pid`` and ``exitcode``)."""

    def __init__(self, client: Client) -> None:
        self._client = client

    def __call__(self, *args: Any, **kwargs: Any) -> None:
        self._client.shutdown()
