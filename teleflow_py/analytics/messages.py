"""Build, check and encode analytics messages on the caller's thread.

Each message is encoded to JSON exactly once, here: the bytes are a snapshot (later changes
to the caller's dicts change nothing) and are joined as they are into request bodies.
Checks are cheap type tests first; the slow path only runs to explain a failure.
"""

from __future__ import annotations

import datetime as _dt
import json
from typing import Any, Dict, List, Mapping, Optional

from .._validation import encode_json, lone_surrogate_error, to_json
from ..errors import ValidationError
from .batch import ALIAS_PATH, MAX_EVENT_BYTES, Batch
from .ids import iso_utc, new_message_id, utc_now_iso

IDENTIFY_EVENT = "$identify"

# The C string escaper json itself uses (ensure_ascii=False, like to_json).
_quote = json.encoder.encode_basestring


def _check_id(value: Any, argument: str) -> None:
    if type(value) is not str or not value.strip():
        if isinstance(value, str):
            raise ValidationError(argument, "must not be empty")
        raise ValidationError(argument, f"must be a string, not {type(value).__name__}")


def _check_ids(user_id: Any, anonymous_id: Any, external_id: Any) -> None:
    if user_id is None and anonymous_id is None and external_id is None:
        raise ValidationError(
            "user_id", "give at least one of user_id, anonymous_id or external_id"
        )
    if user_id is not None:
        _check_id(user_id, "user_id")
    if anonymous_id is not None:
        _check_id(anonymous_id, "anonymous_id")
    if external_id is not None:
        _check_id(external_id, "external_id")


def occurred_at(timestamp: Any) -> str:
    """The wire ``occurred_at`` of ``timestamp``: ISO-8601 UTC ending in ``Z``.

    ``None`` means now. A naive ``datetime`` or ISO string without an offset is taken as UTC.

    Raises:
        ValidationError: ``timestamp`` is neither a ``datetime`` nor an ISO-8601 string.
    """
    if timestamp is None:
        return utc_now_iso()
    if isinstance(timestamp, _dt.datetime):
        return _in_utc(timestamp)
    if isinstance(timestamp, str):
        text = timestamp.strip()
        # fromisoformat only learned to read a trailing "Z" in Python 3.11.
        if text[-1:] in ("Z", "z"):
            text = text[:-1] + "+00:00"
        try:
            moment = _dt.datetime.fromisoformat(text)
        except ValueError:
            raise ValidationError(
                "timestamp", f"{timestamp!r} is not an ISO-8601 date and time"
            ) from None
        return _in_utc(moment)
    raise ValidationError(
        "timestamp", f"must be a datetime or an ISO-8601 string, not {type(timestamp).__name__}"
    )


def _in_utc(moment: _dt.datetime) -> str:
    try:
        return iso_utc(moment)
    except OverflowError:
        # For example datetime.max with a negative offset: past year 9999 in UTC.
        raise ValidationError("timestamp", f"{moment!r} is out of range in UTC") from None


def _json(value: Any, argument: str) -> str:
    """``value`` (a dict argument) as compact JSON."""
    if type(value) is not dict and not isinstance(value, Mapping):
        raise ValidationError(argument, f"must be a dict, not {type(value).__name__}")
    try:
        return to_json(value)
    except (TypeError, ValueError, RecursionError):
        # Encode again, slowly, only to name the offending key path; this raises.
        encode_json({argument: value}, argument)
        raise ValidationError(argument, "cannot be sent as JSON") from None


def _envelope(
    event: str, user_id: Any, anonymous_id: Any, external_id: Any, when: str
) -> List[str]:
    """The start of an event's JSON, written out directly: the fixed keys and checked
    strings need no general encoder, which makes this the cheapest part of a call."""
    parts = [
        '{"event":',
        _quote(event),
        ',"message_id":"',
        new_message_id(),
        '","occurred_at":"',
        when,
        '"',
    ]
    if user_id is not None:
        parts += (',"user_id":', _quote(user_id))
    if anonymous_id is not None:
        parts += (',"anonymous_id":', _quote(anonymous_id))
    if external_id is not None:
        parts += (',"external_id":', _quote(external_id))
    return parts


def _finish(parts: List[str], argument: str) -> bytes:
    """The encoded event. Raises UnicodeEncodeError for a lone surrogate: callers name
    the argument that holds it (only then, so the common path pays nothing)."""
    parts.append("}")
    raw = "".join(parts).encode("utf-8")
    if len(raw) > MAX_EVENT_BYTES:
        raise ValidationError(
            argument,
            f"the encoded event is {len(raw)} bytes, over the {MAX_EVENT_BYTES}-byte limit",
        )
    return raw


def encode_track(
    event: Any,
    user_id: Any,
    anonymous_id: Any,
    external_id: Any,
    properties: Any,
    timestamp: Any,
    context: Any,
) -> bytes:
    """The encoded event of a ``track()`` call.

    Raises:
        ValidationError: an empty or non-string event name, no id, an id that is not a
            non-empty string, a bad ``timestamp``, ``properties``/``context`` that are not
            dicts or cannot be encoded as JSON, or an event over 32 KB encoded.
    """
    if type(event) is not str or not event.strip():
        _check_id(event, "event")
    _check_ids(user_id, anonymous_id, external_id)
    when = utc_now_iso() if timestamp is None else occurred_at(timestamp)
    parts = _envelope(event, user_id, anonymous_id, external_id, when)
    if properties is not None:
        parts += (',"properties":', _json(properties, "properties"))
    if context is not None:
        parts += (',"context":', _json(context, "context"))
    try:
        return _finish(parts, "properties")
    except UnicodeEncodeError:
        raise lone_surrogate_error(
            {
                "event": event,
                "user_id": user_id,
                "anonymous_id": anonymous_id,
                "external_id": external_id,
                "properties": properties,
                "context": context,
            }
        ) from None


def encode_identify(user_id: Any, anonymous_id: Any, external_id: Any, traits: Any) -> bytes:
    """The encoded ``$identify`` event of an ``identify()`` call.

    Raises:
        ValidationError: no id, an id that is not a non-empty string, ``traits`` that is not
            a dict or cannot be encoded as JSON, or an event over 32 KB encoded.
    """
    _check_ids(user_id, anonymous_id, external_id)
    parts = _envelope(IDENTIFY_EVENT, user_id, anonymous_id, external_id, utc_now_iso())
    if traits is not None:
        parts += (',"traits":', _json(traits, "traits"))
    try:
        return _finish(parts, "traits")
    except UnicodeEncodeError:
        raise lone_surrogate_error(
            {
                "user_id": user_id,
                "anonymous_id": anonymous_id,
                "external_id": external_id,
                "traits": traits,
            }
        ) from None


def alias_batch(user_id: Any, anonymous_id: Optional[Any], previous_id: Optional[Any]) -> Batch:
    """An ``alias()`` call as a batch of its own, with its idempotency key minted now.

    Raises:
        ValidationError: ``user_id`` missing or empty, or neither ``anonymous_id`` nor
            ``previous_id`` given, or an id that is not a non-empty string.
    """
    if user_id is None:
        raise ValidationError("user_id", "is required")
    _check_id(user_id, "user_id")
    if anonymous_id is None and previous_id is None:
        raise ValidationError("anonymous_id", "give anonymous_id or previous_id (or both)")
    body: Dict[str, Any] = {"user_id": user_id}
    if anonymous_id is not None:
        _check_id(anonymous_id, "anonymous_id")
        body["anonymous_id"] = anonymous_id
    if previous_id is not None:
        _check_id(previous_id, "previous_id")
        body["previous_id"] = previous_id
    try:
        encoded = to_json(body).encode("utf-8")
    except UnicodeEncodeError:
        raise lone_surrogate_error(
            {"user_id": user_id, "anonymous_id": anonymous_id, "previous_id": previous_id}
        ) from None
    return Batch(new_message_id(), [encoded], ALIAS_PATH)
