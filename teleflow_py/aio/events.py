"""The Events API as coroutines: the sync mixin's checks, bodies and results, awaited I/O.

Every pure step (validation, body building, chunking and per-chunk keys, result parsing)
is the function :mod:`teleflow_py.events` uses; only the sending is awaited here.
"""

from __future__ import annotations

from typing import Any, Dict, Iterable, List, Mapping, Optional

from .._validation import check_idempotency_key, encode_json
from ..errors import BulkTriggerError, TeleflowError
from ..events import (
    BROADCAST_PATH,
    BULK_PATH,
    TRIGGER_PATH,
    BulkEventInput,
    broadcast_body,
    bulk_chunks,
    bulk_results,
    cancel_path,
    cancel_result,
    trigger_body,
    trigger_result,
)
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
        """Trigger workflow ``name`` for the recipients in ``to``.

        Returns the server's :class:`~teleflow_py.TriggerResult`; check ``result.ok`` (a
        status other than ``processed`` is logged at warning level, not raised).

        Args:
            name: the workflow identifier.
            to: a subscriber id, a subscriber or topic dict, or a list of them.
            payload: data for the workflow's templates.
            overrides: per-channel provider overrides.
            transaction_id: your id of this trigger (the server mints one if absent).
            actor: the subscriber (id or dict) shown as the actor.
            tenant: the tenant identifier or dict.
            idempotency_key: the key sent with every attempt; a UUID is minted if absent.

        Raises:
            ValidationError: bad input, before anything is sent.
            APIError: the server refused the request (after retries, where retryable).
            APIConnectionError: no answer from the server after retries.
        """
        body = trigger_body(
            name,
            to,
            payload=payload,
            overrides=overrides,
            transaction_id=transaction_id,
            actor=actor,
            tenant=tenant,
        )
        return await self._send_one(TRIGGER_PATH, body, idempotency_key, f"trigger {name!r}")

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
        """Trigger workflow ``name`` for every subscriber.

        Args:
            name: the workflow identifier.
            payload: data for the workflow's templates (required; ``{}`` for none).
            overrides: per-channel provider overrides.
            transaction_id: your id of this trigger.
            actor: the subscriber (id or dict) shown as the actor.
            tenant: the tenant identifier or dict.
            idempotency_key: the key sent with every attempt; a UUID is minted if absent.

        Raises:
            ValidationError: bad input (``payload`` is required and must be a dict).
            APIError: the server refused the request.
            APIConnectionError: no answer from the server after retries.
        """
        body = broadcast_body(
            name,
            payload,
            overrides=overrides,
            transaction_id=transaction_id,
            actor=actor,
            tenant=tenant,
        )
        return await self._send_one(BROADCAST_PATH, body, idempotency_key, f"broadcast {name!r}")

    async def _send_one(
        self, path: str, body: Dict[str, Any], idempotency_key: Optional[str], what: str
    ) -> TriggerResult:
        key = check_idempotency_key(idempotency_key)
        response = await self._aio.request(
            "POST", path, body=encode_json(body), idempotency_key=key
        )
        return trigger_result(response, what)

    async def trigger_bulk_event(
        self,
        events: Iterable[BulkEventInput],
        *,
        idempotency_key: Optional[str] = None,
    ) -> BulkTriggerResult:
        """Trigger many events; more than 100 are split into requests of at most 100.

        Every event is checked before the first request goes out; each request carries
        its own key derived from ``idempotency_key`` (as in the sync client).

        Args:
            events: trigger dicts (``name``, ``to``, optional ``payload``, ``overrides``,
                ``transactionId``, ``actor``, ``tenant``) or ``TriggerEvent`` objects.
            idempotency_key: the key of the whole call; chunks get derived keys.

        Raises:
            ValidationError: bad input (an empty list, a bad event), before anything is sent.
            BulkTriggerError: the events were split over several requests and one failed
                for good; it carries the results of the earlier requests and the unsent
                events with their keys (the failed request's error is ``.error``).
            APIError, APIConnectionError: the single request (100 events or fewer) failed.
        """
        chunks, encoded = bulk_chunks(events, idempotency_key)
        results: List[TriggerResult] = []
        responses: List[Response] = []
        for index, ((chunk_key, part), body) in enumerate(zip(chunks, encoded)):
            try:
                response = await self._aio.request(
                    "POST", BULK_PATH, body=body, idempotency_key=chunk_key
                )
                chunk_results = bulk_results(response, part)
            except TeleflowError as exc:
                if len(chunks) == 1:
                    raise
                raise BulkTriggerError(exc, results, chunks[index:]) from exc
            responses.append(response)
            results.extend(chunk_results)
        return BulkTriggerResult(results, responses)

    async def cancel_triggered_event(self, transaction_id: str) -> bool:
        """Cancel the pending steps (delays, digests) of a triggered transaction.

        Args:
            transaction_id: the id of the trigger to cancel.

        Returns ``True`` when the server cancelled something, ``False`` when there was
        nothing (left) to cancel.

        Raises:
            ValidationError: ``transaction_id`` is empty or not a string.
            APIError: the server refused the request.
            APIConnectionError: no answer from the server after retries.
        """
        response = await self._aio.request(
            "DELETE", cancel_path(transaction_id), idempotency_key=check_idempotency_key(None)
        )
        return cancel_result(response, transaction_id)
