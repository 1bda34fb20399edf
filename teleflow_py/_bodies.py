"""The request bodies of the Events API, built and checked before anything is sent.

Trigger, broadcast and bulk bodies; a bulk call's events are checked and encoded once,
with errors naming the index in the caller's list, then cut into chunks of at most 100
with idempotency keys derived from the call's key (the same call repeats the same
requests). Pure: no I/O, shared by the sync and async clients.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from typing import Any, Dict, List, NamedTuple, Optional

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
    to_json,
)
from .errors import ValidationError
from .types import TriggerEvent

#: The API takes at most this many events in one bulk request.
MAX_BULK_EVENTS = 100
#: The most requests of one bulk call in flight at once (the connections kept per client).
MAX_CONCURRENCY = 32
#: ``trigger_bulk_event``'s requests in flight by default: paced by the server's rate-limit
#: headers, 8 stay under the limit (benchmarks/bench_ratelimit.py measures it).
DEFAULT_CONCURRENCY = 8

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
    # The common shape (a subscriber id, a payload dict, nothing else) is checked inline;
    # anything else goes through the full checks, which name the argument at fault.
    if type(name) is not str or not name.strip():
        check_name(name)
    if type(to) is not str or not to.strip():
        check_recipients(to)
    body: Dict[str, Any] = {"name": name, "to": to}
    if (
        type(payload) is dict
        and overrides is None
        and transaction_id is None
        and actor is None
        and tenant is None
    ):
        body["payload"] = payload
    else:
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
    if type(event) is not dict:  # the common case skips the slower checks
        if isinstance(event, TriggerEvent):
            event = event.to_dict()
        elif not isinstance(event, Mapping):
            raise ValidationError(
                f"events[{index}]", f"must be a dict or TriggerEvent, not {type(event).__name__}"
            )
    if not _KNOWN_FIELDS.issuperset(event):
        unknown = sorted(str(name) for name in set(event) - _KNOWN_FIELDS)
        raise ValidationError(
            f"events[{index}]", f"unknown fields {unknown}; allowed {sorted(_KNOWN_FIELDS)}"
        )
    name = event.get("name")
    to = event.get("to")
    if type(name) is not str or not name.strip():
        check_name(name, f"events[{index}].name")
    if type(to) is not str or not to.strip():
        check_recipients(to, f"events[{index}].to")
    body: Dict[str, Any] = {"name": name, "to": to}
    payload = event.get("payload")
    if len(event) == 3 and type(payload) is dict:  # the common shape, checked inline
        body["payload"] = payload
    elif len(event) > 2:
        body.update(
            optional_fields(
                f"events[{index}].",
                payload=event.get("payload"),
                overrides=event.get("overrides"),
                transaction_id=event.get("transactionId"),
                actor=event.get("actor"),
                tenant=event.get("tenant"),
            )
        )
    # The server refuses a bulk item without ``payload`` ("payload should not be null or
    # undefined") although a single trigger may omit it: send ``{}``, as Novu's own SDKs do.
    if "payload" not in body:
        body["payload"] = {}
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
                _encode_chunk(bodies, first, last),
            )
        )
    return chunks


def _encode_chunk(bodies: List[Dict[str, Any]], first: int, last: int) -> bytes:
    """The wire body of ``bodies[first:last]``, encoded in one pass.

    Raises:
        ValidationError: an event cannot be encoded, naming ``events[<index>]``.
    """
    part = bodies[first:last]
    try:
        return to_json({"events": part}).encode("utf-8")
    except (TypeError, ValueError, RecursionError):
        # Only to name the culprit by its index in the caller's list: this raises.
        for index, body in enumerate(part, start=first):
            encode_json(body, prefix=f"events[{index}].")
        raise ValidationError("events", "cannot be sent as JSON") from None


def check_concurrency(value: Any) -> int:
    """``concurrency``: an int from 1 to :data:`MAX_CONCURRENCY`.

    Raises:
        ValidationError: anything else.
    """
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValidationError("concurrency", f"must be an int, not {type(value).__name__}")
    if not 1 <= value <= MAX_CONCURRENCY:
        raise ValidationError("concurrency", f"must be 1 to {MAX_CONCURRENCY}, got {value}")
    return int(value)
