"""The request bodies of the Events API, built and checked before anything is sent.

Trigger, broadcast and bulk bodies; a bulk call's events are checked and encoded once,
with errors naming the index in the caller's list, then cut into chunks of at most 100
with idempotency keys derived from the call's key (the same call repeats the same
requests). Pure: no I/O, shared by the sync and async clients.
"""

from __future__ import annotations

import hashlib
from typing import Any, Dict, Iterable, List, Mapping, NamedTuple, Optional

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
from .errors import ValidationError
from .types import TriggerEvent

#: The API takes at most this many events in one bulk request.
MAX_BULK_EVENTS = 100
#: The most requests of one bulk call in flight at once (the connections kept per client).
MAX_CONCURRENCY = 32

_KNOWN_FIELDS = frozenset(
    {"name", "to", "payload", "overrides", "transactionId", "actor", "tenant"}
)


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


def optional_fields(
    argument_prefix: str,
    *,
    payload: Any,
    overrides: Any,
    transaction_id: Any,
    actor: Any,
    tenant: Any,
) -> Dict[str, Any]:
    """The optional fields of a trigger body, each checked (errors name the argument)."""
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


def trigger_body(
    name: Any,
    to: Any,
    *,
    payload: Any = None,
    overrides: Any = None,
    transaction_id: Any = None,
    actor: Any = None,
    tenant: Any = None,
) -> bytes:
    """The encoded body of one trigger.

    Raises:
        ValidationError: an argument is invalid or cannot be encoded (named in the message).
    """
    body: Dict[str, Any] = {"name": check_name(name), "to": to}
    check_recipients(to)
    body.update(
        optional_fields(
            "",
            payload=payload,
            overrides=overrides,
            transaction_id=transaction_id,
            actor=actor,
            tenant=tenant,
        )
    )
    return encode_json(body)


def broadcast_body(
    name: Any,
    payload: Any,
    *,
    overrides: Any = None,
    transaction_id: Any = None,
    actor: Any = None,
    tenant: Any = None,
) -> bytes:
    """The encoded body of one broadcast (``payload`` is required).

    Raises:
        ValidationError: an argument is invalid or cannot be encoded (named in the message).
    """
    body: Dict[str, Any] = {"name": check_name(name)}
    if payload is None:
        raise ValidationError("payload", "is required for a broadcast (use {} for none)")
    body.update(
        optional_fields(
            "",
            payload=payload,
            overrides=overrides,
            transaction_id=transaction_id,
            actor=actor,
            tenant=tenant,
        )
    )
    return encode_json(body)


def bulk_event_body(event: Any, index: int) -> Dict[str, Any]:
    """The checked wire body of ``events[index]`` (a dict or a :class:`TriggerEvent`).

    Raises:
        ValidationError: the event is invalid; the argument is ``events[<index>]...``.
    """
    prefix = f"events[{index}]."
    if isinstance(event, TriggerEvent):
        event = event.to_dict()
    if not isinstance(event, Mapping):
        raise ValidationError(
            f"events[{index}]", f"must be a dict or TriggerEvent, not {type(event).__name__}"
        )
    unknown = sorted(set(event) - _KNOWN_FIELDS)
    if unknown:
        raise ValidationError(
            f"events[{index}]", f"unknown fields {unknown}; allowed {sorted(_KNOWN_FIELDS)}"
        )
    body: Dict[str, Any] = {"name": check_name(event.get("name"), prefix + "name")}
    check_recipients(event.get("to"), prefix + "to")
    body["to"] = event["to"]
    body.update(
        optional_fields(
            prefix,
            payload=event.get("payload"),
            overrides=event.get("overrides"),
            transaction_id=event.get("transactionId"),
            actor=event.get("actor"),
            tenant=event.get("tenant"),
        )
    )
    return body


class Chunk(NamedTuple):
    """One request of a bulk call: its events, where they start in the input, its key."""

    number: int
    first: int
    key: str
    events: List[Dict[str, Any]]
    body: bytes


def plan_chunks(events: Any, idempotency_key: Optional[str]) -> List[Chunk]:
    """Check and encode every event, then cut them into requests of at most 100.

    Raises:
        ValidationError: ``events`` is not a non-empty list, an event is invalid or cannot
            be encoded (naming ``events[<index>]`` in the caller's list), or the key is bad.
    """
    if isinstance(events, (str, bytes, Mapping)) or not isinstance(events, Iterable):
        raise ValidationError(
            "events", f"must be a list of trigger dicts, not {type(events).__name__}"
        )
    bodies = [bulk_event_body(event, index) for index, event in enumerate(events)]
    if not bodies:
        raise ValidationError("events", "must hold at least one event")
    encoded = [encode_json(body, prefix=f"events[{index}].") for index, body in enumerate(bodies)]
    key = check_idempotency_key(idempotency_key)
    count = (len(bodies) + MAX_BULK_EVENTS - 1) // MAX_BULK_EVENTS
    chunks = []
    for number in range(count):
        first = number * MAX_BULK_EVENTS
        last = first + MAX_BULK_EVENTS
        chunks.append(
            Chunk(
                number,
                first,
                chunk_idempotency_key(key, number, count),
                bodies[first:last],
                b'{"events":[' + b",".join(encoded[first:last]) + b"]}",
            )
        )
    return chunks


def check_concurrency(value: Any) -> int:
    """``concurrency``: an int from 1 to :data:`MAX_CONCURRENCY`.

    Raises:
        ValidationError: anything else.
    """
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValidationError("concurrency", f"must be an int, not {type(value).__name__}")
    if not 1 <= value <= MAX_CONCURRENCY:
        raise ValidationError("concurrency", f"must be 1 to {MAX_CONCURRENCY}, got {value}")
    return value
