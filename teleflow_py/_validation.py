"""Checks run on the caller's thread before anything is sent; each error names the argument."""

from __future__ import annotations

import datetime as _dt
import json
import math
import os
import uuid
from collections.abc import Mapping
from typing import Any, Callable, Optional, Set

from .errors import InvalidIdempotencyKeyError, ValidationError

MAX_IDEMPOTENCY_KEY_LENGTH = 255

# RFC 4122 variant: the top two bits of clock_seq_hi are 10, so that nibble is 8, 9, a or b.
_VARIANT = {digit: "89ab"[int(digit, 16) & 3] for digit in "0123456789abcdef"}


def uuid4_text(digits: str) -> str:
    """A UUID4 as text (``str(uuid.uuid4())``'s form) from 32 random hex ``digits``.

    No ``UUID`` object is built: that costs three times as much as the formatting.
    """
    h = digits
    return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-{_VARIANT[h[16]]}{h[17:20]}-{h[20:]}"


def check_idempotency_key(key: Optional[str], argument: str = "idempotency_key") -> str:
    """Return the caller's key, or a new UUID4 when none was given.

    Raises:
        InvalidIdempotencyKeyError: not 1 to 255 printable ASCII characters without spaces.
    """
    if key is None:
        return uuid4_text(os.urandom(16).hex())
    if not isinstance(key, str):
        raise InvalidIdempotencyKeyError(argument, f"must be a string, not {type(key).__name__}")
    if not 1 <= len(key) <= MAX_IDEMPOTENCY_KEY_LENGTH:
        raise InvalidIdempotencyKeyError(
            argument, f"must be 1 to {MAX_IDEMPOTENCY_KEY_LENGTH} characters, got {len(key)}"
        )
    for position, char in enumerate(key):
        if not 0x21 <= ord(char) <= 0x7E:
            raise InvalidIdempotencyKeyError(
                argument,
                f"must be printable ASCII without whitespace; character {position} is {char!r}",
            )
    return key


def check_name(name: Any, argument: str = "name") -> str:
    """A workflow trigger identifier: a non-empty string."""
    if name is None:
        raise ValidationError(argument, "is required")
    if not isinstance(name, str):
        raise ValidationError(argument, f"must be a string, not {type(name).__name__}")
    if not name.strip():
        raise ValidationError(argument, "must not be empty")
    return name


def check_transaction_id(value: Any, argument: str = "transaction_id") -> str:
    """A transaction id: a non-empty string."""
    if not isinstance(value, str):
        raise ValidationError(argument, f"must be a non-empty string, not {type(value).__name__}")
    if not value.strip():
        raise ValidationError(argument, "must not be empty")
    if value in (".", ".."):
        # As a path segment these would be resolved away and reach another endpoint.
        raise ValidationError(argument, "must not be '.' or '..'")
    if _has_lone_surrogate(value):
        raise ValidationError(argument, "is not valid Unicode (a lone surrogate)")
    return value


_SUBSCRIBER_TEXT_FIELDS = ("email", "firstName", "lastName", "phone", "avatar", "locale")


def _check_subscriber_fields(value: Mapping[str, Any], argument: str) -> None:
    for name in _SUBSCRIBER_TEXT_FIELDS:
        if value.get(name) is not None and not isinstance(value[name], str):
            kind = type(value[name]).__name__
            raise ValidationError(argument, f"a subscriber's {name} must be a string, not {kind}")
    if value.get("data") is not None and not isinstance(value["data"], Mapping):
        raise ValidationError(argument, "a subscriber's data must be a dict")
    if value.get("channels") is not None and not isinstance(value["channels"], (list, tuple)):
        raise ValidationError(argument, "a subscriber's channels must be a list")


def _check_one_recipient(value: Any, argument: str) -> None:
    if isinstance(value, str):
        if not value.strip():
            raise ValidationError(argument, "a subscriber id must not be empty")
        return
    if isinstance(value, Mapping):
        if "topicKey" in value or "type" in value:
            if value.get("type") not in ("Topic", "Subscriber"):
                raise ValidationError(argument, "a topic needs type 'Topic' (or 'Subscriber')")
            key = value.get("topicKey")
            if not isinstance(key, str) or not key.strip():
                raise ValidationError(argument, "a topic needs a non-empty string topicKey")
            return
        subscriber_id = value.get("subscriberId")
        if not isinstance(subscriber_id, str) or not subscriber_id.strip():
            raise ValidationError(argument, "a subscriber needs a non-empty string subscriberId")
        _check_subscriber_fields(value, argument)
        return
    raise ValidationError(
        argument,
        "must be a subscriber id, a subscriber dict, a topic dict or a list of them, "
        f"not {type(value).__name__}",
    )


def check_recipients(to: Any, argument: str = "to") -> None:
    """``to``: a subscriber id, a subscriber, a topic, or a non-empty list of them."""
    if to is None:
        raise ValidationError(argument, "is required")
    if isinstance(to, (list, tuple)):
        if not to:
            raise ValidationError(argument, "must not be an empty list")
        for index, item in enumerate(to):
            _check_one_recipient(item, f"{argument}[{index}]")
        return
    _check_one_recipient(to, argument)


def check_actor(actor: Any, argument: str = "actor") -> None:
    """``actor``: a subscriber id or a subscriber dict."""
    if isinstance(actor, Mapping) and ("topicKey" in actor or "type" in actor):
        raise ValidationError(argument, "must be a subscriber id or subscriber, not a topic")
    _check_one_recipient(actor, argument)


def check_tenant(tenant: Any, argument: str = "tenant") -> None:
    """``tenant``: a tenant identifier or a tenant dict."""
    if isinstance(tenant, str):
        if not tenant.strip():
            raise ValidationError(argument, "must not be empty")
        return
    if not isinstance(tenant, Mapping):
        raise ValidationError(
            argument, f"must be a tenant id or a tenant dict, not {type(tenant).__name__}"
        )
    for name in ("identifier", "name"):
        if tenant.get(name) is not None and not isinstance(tenant[name], str):
            raise ValidationError(argument, f"a tenant's {name} must be a string")
    if tenant.get("data") is not None and not isinstance(tenant["data"], Mapping):
        raise ValidationError(argument, "a tenant's data must be a dict")


def check_mapping(value: Any, argument: str) -> None:
    """A JSON object argument (payload, overrides, properties...)."""
    if not isinstance(value, Mapping):
        raise ValidationError(argument, f"must be a dict, not {type(value).__name__}")


def _json_default(value: Any) -> Any:
    if isinstance(value, _dt.datetime):
        return value.isoformat()
    if isinstance(value, _dt.date):
        return value.isoformat()
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, Mapping):
        return dict(value)
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def _has_lone_surrogate(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def lone_surrogate_error(arguments: Mapping[str, Any]) -> ValidationError:
    """The error naming the first of ``arguments`` holding a lone surrogate (text that
    cannot be UTF-8); called only after encoding failed, to explain it."""
    for argument, value in arguments.items():
        if isinstance(value, str):
            if _has_lone_surrogate(value):
                return ValidationError(argument, "is not valid Unicode (a lone surrogate)")
            continue
        try:
            found = _find_unencodable(value, argument, set())
        except RecursionError:
            found = None
        if found:
            return ValidationError(argument, f"cannot be sent as JSON: {found}")
    return ValidationError(next(iter(arguments), "body"), "is not valid Unicode")


def _find_unencodable(value: Any, path: str, seen: Set[int]) -> Optional[str]:
    """The path and reason of the first value JSON cannot encode, searched depth first."""
    if isinstance(value, Mapping):
        return _find_in_container(value, value.items(), path, seen, mapping=True)
    if isinstance(value, (list, tuple)):
        return _find_in_container(value, enumerate(value), path, seen, mapping=False)
    if isinstance(value, str):
        if _has_lone_surrogate(value):
            return f"{path}: {value!r} is not valid Unicode (a lone surrogate)"
        return None
    if isinstance(value, float) and (math.isnan(value) or math.isinf(value)):
        return f"{path}: {value!r} is not valid JSON"
    if value is None or isinstance(value, (int, float, bool)):
        return None
    try:
        _json_default(value)
    except TypeError:
        return f"{path}: a {type(value).__name__} cannot be encoded as JSON"
    return None


def _find_in_container(
    container: Any, items: Any, path: str, seen: Set[int], *, mapping: bool
) -> Optional[str]:
    if id(container) in seen:
        return f"{path}: refers to itself (a circular reference)"
    seen.add(id(container))
    for key, item in items:
        if mapping and not isinstance(key, (str, int, float, bool)) and key is not None:
            return f"{path}: key {key!r} is a {type(key).__name__}, not a string"
        if mapping and isinstance(key, str) and _has_lone_surrogate(key):
            return f"{path}: key {key!r} is not valid Unicode (a lone surrogate)"
        found = _find_unencodable(item, f"{path}[{key!r}]", seen)
        if found:
            return found
    seen.discard(id(container))
    return None


def _make_json_encoder() -> Callable[[Any], str]:
    """A compact JSON encoder built once: ``json.dumps`` with options builds one per call.

    CPython's C encoder is driven directly (as ``json`` itself does for a one-shot encode),
    without the circular-reference table: a cycle ends in RecursionError, which callers
    turn into a ValidationError naming the path.
    """
    plain = json.JSONEncoder(
        separators=(",", ":"), ensure_ascii=False, allow_nan=False, default=_json_default
    )
    make_c_encoder = getattr(json.encoder, "c_make_encoder", None)
    if make_c_encoder is None:  # no C accelerator (PyPy, some builds)
        return plain.encode
    c_encoder = make_c_encoder(
        None, _json_default, json.encoder.encode_basestring, None, ":", ",", False, False, False
    )

    def encode(value: Any) -> str:
        return "".join(c_encoder(value, 0))

    return encode


#: Compact JSON text of a value (``datetime``, ``date``, ``UUID``, mappings converted).
#: Raises TypeError, ValueError or RecursionError for what JSON cannot hold.
to_json = _make_json_encoder()


def encode_json(body: Mapping[str, Any], argument: str = "body", prefix: str = "") -> bytes:
    """Compact UTF-8 JSON of ``body``; ``datetime``, ``date`` and ``UUID`` become strings.

    ``prefix`` is put before each key in an error, for example ``events[7].``.

    Raises:
        ValidationError: a value cannot be encoded; the message gives its path,
            for example ``payload['user']['avatar']: a bytes cannot be encoded as JSON``,
            or says it is nested too deeply (or refers to itself).
    """
    try:
        return to_json(body).encode("utf-8")
    except (TypeError, ValueError, RecursionError) as exc:  # UnicodeEncodeError is a ValueError
        for key, value in body.items():
            try:
                found = _find_unencodable(value, str(key), set())
            except RecursionError:
                found = f"{key}: nested too deeply (or refers to itself)"
            if found:
                raise ValidationError(
                    prefix + str(key), f"cannot be sent as JSON: {prefix}{found}"
                ) from None
        if isinstance(exc, RecursionError):
            raise ValidationError(argument, "cannot be sent as JSON: nested too deeply") from None
        raise ValidationError(argument, f"cannot be sent as JSON: {exc}") from None
