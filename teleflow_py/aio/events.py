"""The Events API as coroutines: the sync mixin's checks, bodies and results, awaited I/O.

Every pure step (validation, body building, chunking and per-chunk keys, the call as data,
reading the answer) is the function :mod:`teleflow_py.events` uses, from
:mod:`teleflow_py._core`; only the sending is awaited here.

See docs/architecture.rst for how a call travels and the module map.
"""

from __future__ import annotations

import asyncio
from typing import Awaitable, Callable, Iterable, Optional, TypeVar

from typing_extensions import Concatenate, ParamSpec

from .._bodies import DEFAULT_CONCURRENCY, Chunk
from .._core.bulk import BulkOutcomes, BulkPlan
from .._core.calls import bulk_call
from .._core.deadline import SharedPause
from .._core.tracing import CallSpan
from .._observing import bulk_span
from ..events import (
    BulkEventInput,
    EventRequest,
    _broadcast_event,
    _cancel_triggered_event,
    _trigger_event,
    client_method,
)
from ..integrations.otel import telemetry
from ..response import Response
from ..results import BulkTriggerResult
from ._transport import AsyncTransport

P = ParamSpec("P")
R = TypeVar("R")


def _awaited(
    build: Callable[P, EventRequest[R]],
) -> Callable[Concatenate[AsyncEventsMixin, P], Awaitable[R]]:
    """``build`` as a coroutine method of the async client: send its call, read the answer."""

    async def method(self: AsyncEventsMixin, /, *args: P.args, **kwargs: P.kwargs) -> R:
        request = build(*args, **kwargs)
        call, read = request.call, request.read
        del args, kwargs, request  # not held while the answer is awaited
        return read(call, await self._aio.send(call))

    return client_method(build, method)


class AsyncEventsMixin:
    """Events API coroutines; mixed into :class:`~teleflow_py.AsyncClient`."""

    _aio: AsyncTransport

    # The sync client's calls, awaited: one definition and one text for both.
    trigger_event = _awaited(_trigger_event)
    broadcast_event = _awaited(_broadcast_event)
    cancel_triggered_event = _awaited(_cancel_triggered_event)

    async def trigger_bulk_event(
        self,
        events: Iterable[BulkEventInput],
        *,
        idempotency_key: Optional[str] = None,
        concurrency: int = DEFAULT_CONCURRENCY,
    ) -> BulkTriggerResult:
        """Trigger many events; more than 100 are split into requests of at most 100.

        As the sync client's: every event is checked and encoded first, each request
        carries a key derived from ``idempotency_key``, results come back in input order,
        and a 429's wait pauses every request of the call.

        Args:
            events: the triggers, each a :class:`~teleflow_py.types.TriggerEventBody` dict
                or a :class:`~teleflow_py.types.TriggerEvent`.
            idempotency_key: the call's key (default: a new one); chunks get derived keys.
            concurrency: how many requests (of up to 100 events) may be in flight at once,
                1 to 32, as tasks of the running loop (default 8, paced as the sync
                client's); 1 sends them in order.

        Raises:
            ValidationError: bad input (an empty list, a bad event, a bad ``concurrency``),
                before anything is sent; the message names ``events[<index>]``.
            BulkTriggerError: the events were split over several requests and one failed
                for good. No request starts after that; those in flight finish. It carries
                the accepted results and the unsent events with their keys.
            APIError, APIConnectionError: the single request (100 events or fewer) failed.
        """
        plan = BulkPlan.of(events, idempotency_key, concurrency)
        with bulk_span(telemetry(), plan.chunks, plan.key) as scope:
            return await self._send_plan(plan, scope)

    async def _send_plan(self, plan: BulkPlan, scope: Optional[CallSpan]) -> BulkTriggerResult:
        workers, chunks, pause, _ = plan
        if len(chunks) == 1:
            return plan.single(await self._send_chunk(chunks[0], pause, scope))
        outcomes = BulkOutcomes(len(chunks))
        pending = iter(chunks)

        async def work() -> None:
            for chunk in pending:
                if outcomes.failed:
                    return
                try:
                    response = await self._send_chunk(chunk, pause, scope)
                except Exception as exc:  # raised by outcomes.result() below
                    outcomes.record_error(chunk, exc)
                    return
                outcomes.record(chunk, response)

        await asyncio.gather(*(work() for _ in range(min(workers, len(chunks)))))
        return outcomes.result(chunks)

    async def _send_chunk(
        self, chunk: Chunk, pause: SharedPause, scope: Optional[CallSpan]
    ) -> Response:
        call = bulk_call(chunk.body, chunk.key, len(chunk.events), scope)
        return await self._aio.send(call, pause)
