"""The Events API: trigger, bulk trigger, broadcast, cancel. Answered at once, never queued."""

from __future__ import annotations

import hashlib
import logging
from typing import Any, Dict, Iterable, List, Mapping, Optional, Tuple, Union
from urllib.parse import quote

from ._transport import Transport, raise_for_body_shape
from ._validation import (
    MAX_IDEMPOTENCY_KEY_LENGTH,
    check_actor,
    check_idempotency_key,
    check_mapping,
    check_name,
    check_recipients,
    check_tenant,
    check_transaction_id,
    encode_json,
)
from .errors import BulkTriggerError, TeleflowError, ValidationError
from .response import Response
from .results import BulkTriggerResult, TriggerResult
from .types import Actor, Recipients, Tenant, TriggerEvent

logger = logging.getLogger("teleflow_py")

TRIGGER_PATH = "/v1/events/trigger"
BULK_PATH = "/v1/events/trigger/bulk"
BROADCAST_PATH = "/v1/events/trigger/broadcast"
#: The API takes at most this many events in one bulk request.
MAX_BULK_EVENTS = 100

BulkEventInput = Union[Mapping[str, Any], TriggerEvent]


def chunk_idempotency_key(key: str, index: int, chunks: int) -> str:
    """The key of chunk ``index`` (from 0) of a bulk call split into ``chunks`` requests.

    A call that fits one request uses the caller's key unchanged; otherwise each chunk gets
    ``<key>.<n>`` (n from 1), or a hash of the key plus ``.<n>`` when that would pass the
    length limit. The same call with the same key always yields the same keys.
    """
    if chunks == 1:
        return key
    suffix = f".{index + 1}"
    if len(key) + len(suffix) <= MAX_IDEMPOTENCY_KEY_LENGTH:
        return key + suffix
    return hashlib.sha256(key.encode("ascii")).hexdigest() + suffix


def _optional_fields(
    argument_prefix: str,
    *,
    payload: Optional[Mapping[str, Any]],
    overrides: Optional[Mapping[str, Any]],
    transaction_id: Optional[str],
    actor: Optional[Actor],
    tenant: Optional[Tenant],
) -> Dict[str, Any]:
    body: Dict[str, Any] = {}
    if payload is not None:
        check_mapping(payload, argument_prefix + "payload")
        body["payload"] = payload
    if overrides is not None:
        check_mapping(overrides, argument_prefix + "overrides")
        body["overrides"] = overrides
    if transaction_id is not None:
        body["transactionId"] = check_transaction_id(
            transaction_id,
            argument_prefix + ("transactionId" if argument_prefix else "transaction_id"),
        )
    if actor is not None:
        check_actor(actor, argument_prefix + "actor")
        body["actor"] = actor
    if tenant is not None:
        check_tenant(tenant, argument_prefix + "tenant")
        body["tenant"] = tenant
    return body


def _bulk_event_body(event: Any, index: int) -> Dict[str, Any]:
    prefix = f"events[{index}]."
    if isinstance(event, TriggerEvent):
        event = event.to_dict()
    if not isinstance(event, Mapping):
        raise ValidationError(
            f"events[{index}]", f"must be a dict or TriggerEvent, not {type(event).__name__}"
        )
    known = {"name", "to", "payload", "overrides", "transactionId", "actor", "tenant"}
    unknown = sorted(set(event) - known)
    if unknown:
        raise ValidationError(
            f"events[{index}]", f"unknown fields {unknown}; allowed {sorted(known)}"
        )
    body: Dict[str, Any] = {"name": check_name(event.get("name"), prefix + "name")}
    check_recipients(event.get("to"), prefix + "to")
    body["to"] = event["to"]
    body.update(
        _optional_fields(
            prefix,
            payload=event.get("payload"),
            overrides=event.get("overrides"),
            transaction_id=event.get("transactionId"),
            actor=event.get("actor"),
            tenant=event.get("tenant"),
        )
    )
    return body


def _unwrap(response: Response, expected: str) -> Any:
    """The ``data`` of an answer; the body itself when the server did not wrap it."""
    body = response.body
    if isinstance(body, dict):
        return body.get("data", body)
    raise_for_body_shape(response, expected)
    raise AssertionError("unreachable")  # pragma: no cover


def trigger_result(response: Response, what: str) -> TriggerResult:
    """The result of a trigger or broadcast; logged at warning level unless processed.

    Raises:
        UnexpectedResponseError: the 2xx body is not a trigger result.
    """
    if response.body is None:
        # A 2xx with no body: nothing to report, and certainly not "processed".
        result = TriggerResult(False, "", None, [], response)
    else:
        data = _unwrap(response, "a JSON object with a 'data' trigger result")
        if not isinstance(data, dict):
            raise_for_body_shape(response, "a trigger result object")
        result = TriggerResult.from_data(data, response)
    _warn_unless_processed(result, what)
    return result


def _warn_unless_processed(result: TriggerResult, what: str) -> None:
    if not result.ok:
        logger.warning(
            "%s was not processed: status=%r acknowledged=%s transactionId=%s error=%s",
            what,
            result.status or "(empty answer)",
            result.acknowledged,
            result.transaction_id,
            "; ".join(result.error) or "-",
        )


def trigger_body(
    name: str,
    to: Recipients,
    *,
    payload: Optional[Mapping[str, Any]],
    overrides: Optional[Mapping[str, Any]],
    transaction_id: Optional[str],
    actor: Optional[Actor],
    tenant: Optional[Tenant],
) -> Dict[str, Any]:
    """The checked body of a trigger request (arguments as in ``trigger_event``).

    Raises:
        ValidationError: bad input; the message names the argument.
    """
    body: Dict[str, Any] = {"name": check_name(name), "to": to}
    check_recipients(to)
    body.update(
        _optional_fields(
            "",
            payload=payload,
            overrides=overrides,
            transaction_id=transaction_id,
            actor=actor,
            tenant=tenant,
        )
    )
    return body


def broadcast_body(
    name: str,
    payload: Mapping[str, Any],
    *,
    overrides: Optional[Mapping[str, Any]],
    transaction_id: Optional[str],
    actor: Optional[Actor],
    tenant: Optional[Tenant],
) -> Dict[str, Any]:
    """The checked body of a broadcast request (arguments as in ``broadcast_event``).

    Raises:
        ValidationError: bad input; the message names the argument.
    """
    body: Dict[str, Any] = {"name": check_name(name)}
    if payload is None:
        raise ValidationError("payload", "is required for a broadcast (use {} for none)")
    body.update(
        _optional_fields(
            "",
            payload=payload,
            overrides=overrides,
            transaction_id=transaction_id,
            actor=actor,
            tenant=tenant,
        )
    )
    return body


BulkChunk = Tuple[str, List[Dict[str, Any]]]


def bulk_chunks(
    events: Iterable[BulkEventInput], idempotency_key: Optional[str]
) -> Tuple[List[BulkChunk], List[bytes]]:
    """Every event checked, split into ``(key, events)`` chunks of at most 100, and encoded.

    Raises:
        ValidationError: an empty or non-list ``events``, a bad event (named by its index
            in ``events``), or a bad ``idempotency_key``.
    """
    if isinstance(events, (str, bytes, Mapping)) or not isinstance(events, Iterable):
        raise ValidationError(
            "events", f"must be a list of trigger dicts, not {type(events).__name__}"
        )
    bodies = [_bulk_event_body(event, index) for index, event in enumerate(events)]
    if not bodies:
        raise ValidationError("events", "must hold at least one event")
    key = check_idempotency_key(idempotency_key)
    chunks: List[BulkChunk] = []
    count = (len(bodies) + MAX_BULK_EVENTS - 1) // MAX_BULK_EVENTS
    for index in range(count):
        part = bodies[index * MAX_BULK_EVENTS : (index + 1) * MAX_BULK_EVENTS]
        chunks.append((chunk_idempotency_key(key, index, count), part))
    return chunks, [encode_json({"events": part}) for _, part in chunks]


def cancel_path(transaction_id: str) -> str:
    """The path that cancels ``transaction_id`` (one percent-encoded segment).

    Raises:
        ValidationError: ``transaction_id`` is empty or not a string.
    """
    check_transaction_id(transaction_id)
    return f"{TRIGGER_PATH}/{quote(transaction_id, safe='')}"


def cancel_result(response: Response, transaction_id: str) -> bool:
    """Whether the server cancelled something (an empty answer counts as no, with a warning).

    Raises:
        UnexpectedResponseError: the 2xx body is not a boolean ``data``.
    """
    if response.body is None:
        logger.warning("cancel %r: empty answer, taken as not cancelled", transaction_id)
        return False
    data = _unwrap(response, "a JSON object with a boolean 'data'")
    if not isinstance(data, bool):
        raise_for_body_shape(response, "a boolean 'data'")
    return bool(data)


class EventsMixin:
    """Events API methods; mixed into :class:`~teleflow_py.Client`, which owns the transport."""

    _transport: Transport

    def trigger_event(
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

        Returns the server's :class:`TriggerResult`; check ``result.ok`` (a status other than
        ``processed`` is logged at warning level, not raised).

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
        return self._send_one(TRIGGER_PATH, body, idempotency_key, f"trigger {name!r}")

    def broadcast_event(
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
        return self._send_one(BROADCAST_PATH, body, idempotency_key, f"broadcast {name!r}")

    def _send_one(
        self, path: str, body: Dict[str, Any], idempotency_key: Optional[str], what: str
    ) -> TriggerResult:
        key = check_idempotency_key(idempotency_key)
        response = self._transport.request(
            "POST", path, body=encode_json(body), idempotency_key=key
        )
        return trigger_result(response, what)

    def trigger_bulk_event(
        self,
        events: Iterable[BulkEventInput],
        *,
        idempotency_key: Optional[str] = None,
    ) -> BulkTriggerResult:
        """Trigger many events; more than 100 are split into requests of at most 100.

        Every event is checked before the first request goes out. Each request carries its
        own idempotency key derived from ``idempotency_key`` (see
        :func:`chunk_idempotency_key`), so repeating the call with the same key repeats
        exactly the same requests.

        Returns one result per event, in input order; ``result.failed`` lists the others.

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
                response = self._transport.request(
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

    def cancel_triggered_event(self, transaction_id: str) -> bool:
        """Cancel the pending steps (delays, digests) of a triggered transaction.

        Returns ``True`` when the server cancelled something, ``False`` when there was nothing
        (left) to cancel. The id is sent as one percent-encoded path segment.

        Raises:
            ValidationError: ``transaction_id`` is empty or not a string.
            APIError: the server refused the request.
            APIConnectionError: no answer from the server after retries.
        """
        response = self._transport.request(
            "DELETE", cancel_path(transaction_id), idempotency_key=check_idempotency_key(None)
        )
        return cancel_result(response, transaction_id)


def bulk_results(response: Response, part: List[Dict[str, Any]]) -> List[TriggerResult]:
    """One result per event of a bulk chunk, in its order.

    Raises:
        UnexpectedResponseError: the 2xx body is not one result per event.
    """
    if response.body is None:
        results = [TriggerResult(False, "", None, [], response) for _ in part]
    else:
        data = _unwrap(response, "a JSON object with a 'data' list")
        if not isinstance(data, list) or not all(isinstance(item, dict) for item in data):
            raise_for_body_shape(response, "a list of trigger results")
        if len(data) != len(part):
            raise_for_body_shape(response, f"{len(part)} results, one per event")
        results = [TriggerResult.from_data(item, response) for item in data]
    for body, result in zip(part, results):
        _warn_unless_processed(result, f"bulk event {body['name']!r}")
    return results
