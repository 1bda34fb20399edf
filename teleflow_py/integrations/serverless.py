"""Deliver analytics at the end of each invocation: AWS Lambda, Cloud Functions, job runners.

Between invocations a serverless platform freezes the process (background threads stop
mid-way) and may end it without running ``atexit``; an RQ work horse or a similar job
runner ends with ``os._exit``. What the invocation tracked must leave before it returns.
"""

from __future__ import annotations

import contextlib
import logging
from types import TracebackType
from typing import TYPE_CHECKING, Optional, Type

if TYPE_CHECKING:
    from ..client import Client

logger = logging.getLogger("teleflow_py.integrations")


class flush_after(contextlib.ContextDecorator):  # lower case: used as a decorator
    """Flush ``client`` when the decorated function (or the ``with`` block) ends.

    Use it on the handler, with a client made once, outside it::

        client = Client()

        @flush_after(client)
        def handler(event, context):
            client.track("invoked", user_id=event["user"])

    The flush runs whether the function returns or raises, and waits at most the
    client's ``shutdown_timeout``. Events it could not deliver in that time stay queued
    for the next invocation and are counted in a warning. The client's one worker thread
    is reused by every invocation: no thread is left behind by any of them.

    Args:
        client: the client whose queue to deliver.

    Raises:
        Nothing of its own: what the function raises passes through unchanged.
    """

    def __init__(self, client: Client) -> None:
        self._client = client

    def __enter__(self) -> Client:
        return self._client

    def __exit__(
        self,
        exc_type: Optional[Type[BaseException]],
        exc: Optional[BaseException],
        traceback: Optional[TracebackType],
    ) -> None:
        budget = self._client.config.shutdown_timeout
        result = self._client.flush(timeout=budget)
        if result.pending:
            logger.warning(
                "teleflow_py analytics: %d events were not delivered within %.1f s at the "
                "end of the invocation; they stay queued for the next one",
                result.pending,
                budget,
            )
