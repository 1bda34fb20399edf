"""Request body validation with the real service's rules and class-validator style messages.

Every function returns a list of human-readable messages; an empty list means valid. The
messages follow the server's wording where it has one ("name should not be empty"), so a
client's error surface can be tested against the emulator.
"""

from __future__ import annotations

import re
from typing import Any

MAX_BULK_EVENTS = 100

_RECIPIENT_SHAPES = (
    "a subscriber id string, a subscriber object with subscriberId, "
    'or a topic object {"type": "Topic", "topicKey"}'
)
# ISO 8601 date-time as SDKs emit it (offset or "Z" optional, fraction optional).
_ISO_8601 = re.compile(
    r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}(:?\d{2})?)?$"
)
_IDENTITY_FIELDS = ("user_id", "anonymous_id", "external_id")


def _non_empty_str(value: Any) -> bool:
    return isinstance(value, str) and value.strip() != ""


def _name_errors(body: dict[str, Any]) -> list[str]:
    name = body.get("name")
    if name is not None and not isinstance(name, str):
        return ["name must be a string"]
    if not _non_empty_str(name):
        return ["name should not be empty"]
    return []


def _optional_object_errors(body: dict[str, Any], *fields: str) -> list[str]:
    return [
        f"{key} must be an object"
        for key in fields
        if body.get(key) is not None and not isinstance(body[key], dict)
    ]


def _recipient_error(value: Any, where: str) -> str | None:
    if isinstance(value, str):
        return None if value.strip() else f"{where} should not be empty"
    if isinstance(value, dict):
        if value.get("type") == "Topic":
            if _non_empty_str(value.get("topicKey")):
                return None
            return f"{where}.topicKey must be a non-empty string"
        if "subscriberId" in value:
            if _non_empty_str(value["subscriberId"]):
                return None
            return f"{where}.subscriberId must be a non-empty string"
    return f"{where} must be {_RECIPIENT_SHAPES}"


def _to_errors(body: dict[str, Any]) -> list[str]:
    to = body.get("to")
    if to is None:
        return ["to should not be null or undefined"]
    if isinstance(to, list):
        if not to:
            return ["to should not be empty"]
        found = (_recipient_error(item, f"to[{index}]") for index, item in enumerate(to))
        return [message for message in found if message is not None]
    message = _recipient_error(to, "to")
    return [] if message is None else [message]


def _context_errors(body: dict[str, Any]) -> list[str]:
    """Checks shared by trigger and broadcast: transactionId, actor, tenant, overrides."""
    errors = _optional_object_errors(body, "overrides")
    transaction_id = body.get("transactionId")
    if transaction_id is not None and not _non_empty_str(transaction_id):
        errors.append("transactionId must be a non-empty string")
    actor = body.get("actor")
    if actor is not None and not (
        _non_empty_str(actor)
        or (isinstance(actor, dict) and _non_empty_str(actor.get("subscriberId")))
    ):
        errors.append(
            "actor must be a subscriber id string or a subscriber object with subscriberId"
        )
    tenant = body.get("tenant")
    if tenant is not None and not (_non_empty_str(tenant) or isinstance(tenant, dict)):
        errors.append("tenant must be a tenant identifier string or a tenant object")
    return errors


def trigger_errors(body: Any) -> list[str]:
    """Validate a trigger body ``{"name", "to", "payload"?, "overrides"?, ...}``."""
    if not isinstance(body, dict):
        return ["body must be a JSON object"]
    return (
        _name_errors(body)
        + _to_errors(body)
        + _optional_object_errors(body, "payload")
        + _context_errors(body)
    )


def broadcast_errors(body: Any) -> list[str]:
    """Validate a broadcast body ``{"name", "payload", ...}`` (no recipients)."""
    if not isinstance(body, dict):
        return ["body must be a JSON object"]
    errors = _name_errors(body)
    if body.get("payload") is None:
        errors.append("payload should not be null or undefined")
    else:
        errors += _optional_object_errors(body, "payload")
    return errors + _context_errors(body)


def bulk_errors(body: Any) -> list[str]:
    """Validate the envelope of a bulk trigger ``{"events": [1..100 items]}``.

    The events themselves are validated one by one (an invalid one fails only its slot).
    """
    if not isinstance(body, dict):
        return ["body must be a JSON object"]
    events = body.get("events")
    if not isinstance(events, list):
        return ["events must be an array"]
    if not events:
        return ["events must contain at least 1 elements"]
    if len(events) > MAX_BULK_EVENTS:
        return [f"events must contain no more than {MAX_BULK_EVENTS} elements"]
    return []


def batch_errors(body: Any) -> list[str]:
    """Validate the envelope of an analytics batch ``{"events": [...]}``."""
    if not isinstance(body, dict):
        return ["body must be a JSON object"]
    events = body.get("events")
    if not isinstance(events, list):
        return ["events must be an array"]
    if not events:
        return ["events should not be empty"]
    return []


def analytics_event_errors(event: Any) -> list[str]:
    """Validate one analytics event of a batch (track or identify)."""
    if not isinstance(event, dict):
        return ["each event must be a JSON object"]
    errors = []
    if not _non_empty_str(event.get("event")):
        errors.append("event must be a non-empty string")
    if not _non_empty_str(event.get("message_id")):
        errors.append("message_id must be a non-empty string")
    occurred_at = event.get("occurred_at")
    if not (isinstance(occurred_at, str) and _ISO_8601.match(occurred_at)):
        errors.append("occurred_at must be an ISO 8601 date-time string")
    for key in _IDENTITY_FIELDS:
        if event.get(key) is not None and not isinstance(event[key], str):
            errors.append(f"{key} must be a string")
    if not any(_non_empty_str(event.get(key)) for key in _IDENTITY_FIELDS):
        errors.append("one of user_id, anonymous_id, external_id is required")
    return errors + _optional_object_errors(event, "properties", "context", "traits")


def alias_errors(body: Any) -> list[str]:
    """Validate an alias body ``{"user_id", "anonymous_id"?, "previous_id"?}``."""
    if not isinstance(body, dict):
        return ["body must be a JSON object"]
    errors = []
    if not _non_empty_str(body.get("user_id")):
        errors.append("user_id should not be empty")
    for key in ("anonymous_id", "previous_id"):
        if body.get(key) is not None and not isinstance(body[key], str):
            errors.append(f"{key} must be a string")
    if not (_non_empty_str(body.get("anonymous_id")) or _non_empty_str(body.get("previous_id"))):
        errors.append("one of anonymous_id, previous_id is required")
    return errors
