"""The Events API as coroutines: the sync mixin's checks, bodies and results, awaited I/O.

Every pure step (validation, body building, chunking and per-chunk keys, the call as data,
reading the answer) is the function :mod:`teleflow_py.events` uses, from
:mod:`teleflow_py._core`; only the sending is awaited here.
"""

from __future__ import annotations

import asyncio
from typing import Any, Iterable, List, Mapping, Optional

from .._bodies import (
    DEFAULT_CONCURRENCY,
    Chunk,
    broadcast_body,
    check_concurrency,
    plan_chunks,
    trigger_body,
)
from .._core.answers import cancel_result, chunk_results, trigger_result
from .._core.bulk import BulkOutcomes
from .._core.calls import BROADCAST_PATH, TRIGGER_PATH, bulk_call, cancel_call, trigger_call
from .._core.deadline import SharedPause
from .._core.tracing import CallSpan
from .._observing import bulk_span
from .._validation import check_idempotency_key
from ..events import BulkEventInput, EventsMixin
from ..integrations.otel import telemetry
from ..response import Response
from ..results import BulkTriggerResult, TriggerResult
from ..types import Actor, Recipients, Tenant
from ._transport import AsyncTransport


class AsyncEventsMixin:
    """Events API coroutines; mixed into :class:`~teleflow_py.AsyncClient`."""

    _aio: AsyncTransport

    async def trigger_event(
        self,
        name: str,
        to: Recipients,
        *,
        payload: Optional[Mapping[str, Any]] = None,
        overrides: Optional[Mapping[str, Any]] = None,
        transaction_id: Optional[str] = None,
        actor: Optional[Actor] = None,
        tenant: Optional[Tenant] = None,
        idempotency_key: Optional[str] = None,
    ) -> TriggerResult:
        body = trigger_body(
            name,
            to,
            payload=payload,
            overrides=overrides,
            transaction_id=transaction_id,
            actor=actor,
            tenant=tenant,
        )
        return await self._send_one(TRIGGER_PATH, body, idempotency_key, "trigger", name)

    async def broadcast_event(
        self,
        name: str,
        payload: Mapping[str, Any],
        *,
        overrides: Optional[Mapping[str, Any]] = None,
        transaction_id: Optional[str] = None,
        actor: Optional[Actor] = None,
        tenant: Optional[Tenant] = None,
        idempotency_key: Optional[str] = None,
    ) -> TriggerResult:
        body = broadcast_body(
            name,
            payload,
            overrides=overrides,
            transaction_id=transaction_id,
            actor=actor,
            tenant=tenant,
        )
        return await self._send_one(BROADCAST_PATH, body, idempotency_key, "broadcast", name)

    async def _send_one(
        self, path: str, body: bytes, idempotency_key: Optional[str], kind: str, name: str
    ) -> TriggerResult:
        call = trigger_call(path, body, check_idempotency_key(idempotency_key), kind, name)
        return trigger_result(await self._aio.send(call), f"{kind} {name!r}")

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
        workers = check_concurrency(concurrency)
        key = check_idempotency_key(idempotency_key)
        chunks = plan_chunks(events, key)
        with bulk_span(telemetry(), chunks, key) as scope:
            return await self._send_chunks(chunks, workers, scope)

    async def _send_chunks(
        self, chunks: List[Chunk], workers: int, scope: Optional[CallSpan]
    ) -> BulkTriggerResult:
        pause = SharedPause()
        if len(chunks) == 1:
            response = await self._send_chunk(chunks[0], pause, scope)
            return BulkTriggerResult(chunk_results(response, chunks[0]), [response])
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

    async def cancel_triggered_event(self, transaction_id: str) -> bool:
        call = cancel_call(transaction_id, check_idempotency_key(None))
        return cancel_result(await self._aio.send(call), transaction_id)

    # The same calls as the sync client's, awaited: one text for both, so they cannot drift.
    trigger_event.__doc__ = EventsMixin.trigger_event.__doc__
    broadcast_event.__doc__ = EventsMixin.broadcast_event.__doc__
    cancel_triggered_event.__doc__ = EventsMixin.cancel_triggered_event.__doc__
