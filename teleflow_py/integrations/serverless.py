"""Deliver analytics at the end of each invocation: AWS Lambda, Cloud Functions, job runners.

Between invocations a serverless platform freezes the process (background threads stop
mid-way) and may end it without running ``atexit``; an RQ work horse or a similar job
runner ends with ``os._exit``. What the invocation tracked must leave before it returns.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import inspect
import logging
from types import TracebackType
from typing import TYPE_CHECKING, Any, Awaitable, Callable, Optional, Type, TypeVar

if TYPE_CHECKING:
    from ..client import Client

logger = logging.getLogger("teleflow_py.integrations")

_Function = TypeVar("_Function", bound=Callable[..., Any])


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

    On an ``async def`` handler (or as ``async with flush_after(client):``) the flush runs
    after the awaited handler returns, on a thread of the event loop's default executor
    (``loop.run_in_executor``): the handler's coroutine awaits it, and the event loop
    keeps serving other tasks meanwhile::

        @flush_after(client)
        async def handler(event, context):
            client.track("invoked", user_id=event["user"])

    Args:
        client: the client whose queue to deliver.

    Raises:
        Nothing of its own: what the function raises passes through unchanged.
    """

    def __init__(self, client: Client) -> None:
        self._client = client

    def __call__(self, func: _Function) -> _Function:
        """Wrap ``func`` (a plain or an ``async def`` function) so the client flushes after it.

        Args:
            func: the handler.
        """
        if not inspect.iscoroutinefunction(func):
            wrapped: _Function = super().__call__(func)
            return wrapped

        @functools.wraps(func)
        async def flushed(*args: Any, **kwargs: Any) -> Any:
            async with self:
                return await func(*args, **kwargs)

        return flushed  # type: ignore[return-value]

    def __enter__(self) -> Client:
        return self._client

    def __exit__(
        self,
        exc_type: Optional[Type[BaseException]],
        exc: Optional[BaseException],
        traceback: Optional[TracebackType],
    ) -> None:
        self._flush()

    async def __aenter__(self) -> Client:
        return self._client

    async def __aexit__(
        self,
        exc_type: Optional[Type[BaseException]],
        exc: Optional[BaseException],
        traceback: Optional[TracebackType],
    ) -> None:
        # The flush blocks for up to shutdown_timeout: never on the event loop's thread.
        done: Awaitable[None] = asyncio.get_running_loop().run_in_executor(None, self._flush)
        await done

    def _flush(self) -> None:
        budget = self._client.config.shutdown_timeout
        result = self._client.flush(timeout=budget)
        if result.pending:
            logger.warning(
                "teleflow_py analytics: %d %s not delivered within %.1f s at the end of the "
                "invocation; %s queued for the next one",
                result.pending,
                "event was" if result.pending == 1 else "events were",
                budget,
                "it stays" if result.pending == 1 else "they stay",
            )
