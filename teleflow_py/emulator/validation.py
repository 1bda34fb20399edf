"""Request body validation with the real service's rules and class-validator style messages.

Every function returns a list of human-readable messages; an empty list means valid. The
Events rules and messages are the server's DTOs and commands under class-validator
(novuhq/novu ``apps/api/src/app/events/dtos/`` and
``usecases/parse-event-request/parse-event-request.command.ts``), so a client's error surface
can be tested against the emulator. The analytics routes are Teleflow's own.
"""

from __future__ import annotations

import re
from typing import Any

MAX_BULK_EVENTS = 100

# ISO 8601 date-time as SDKs emit it (offset or "Z" optional, fraction optional).
_ISO_8601 = re.compile(
    r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}(:?\d{2})?)?$"
)
_IDENTITY_FIELDS = ("user_id", "anonymous_id", "external_id")


def _non_empty_str(value: Any) -> bool:
    return isinstance(value, str) and value.strip() != ""


# class-validator's rules, as the server's DTOs combine them.


def _defined_string(body: dict[str, Any], key: str) -> list[str]:
    """``@IsDefined() @IsString()``: an empty string passes."""
    value = body.get(key)
    if value is None:
        return [f"{key} should not be null or undefined", f"{key} must be a string"]
    return [] if isinstance(value, str) else [f"{key} must be a string"]


def _defined(body: dict[str, Any], key: str) -> list[str]:
    """``@IsDefined()``: anything but null or a missing key."""
    return [f"{key} should not be null or undefined"] if body.get(key) is None else []


def _optional_string(body: dict[str, Any], key: str) -> list[str]:
    """``@IsOptional() @IsString()``: an empty string passes."""
    value = body.get(key)
    return [] if value is None or isinstance(value, str) else [f"{key} must be a string"]


def _object(body: dict[str, Any], key: str, optional: bool = True) -> list[str]:
    """``@IsObject()`` (plain object, not an array), optionally ``@IsOptional()``."""
    value = body.get(key)
    if value is None and optional:
        return []
    return [] if isinstance(value, dict) else [f"{key} must be an object"]


def _nested(body: dict[str, Any], key: str, required_strings: tuple[str, ...]) -> list[str]:
    """``@IsOptional() @ValidateIf(not a string) @ValidateNested()`` of a small DTO."""
    value = body.get(key)
    if value is None or isinstance(value, str):
        return []
    if not isinstance(value, (dict, list)):
        return [f"nested property {key} must be either object or array"]
    if not isinstance(value, dict):
        return []
    errors = []
    for field in required_strings:
        errors += [f"{key}.{message}" for message in _defined_string(value, field)]
    return errors


def _context_errors(body: dict[str, Any]) -> list[str]:
    """Fields shared by trigger and broadcast (dtos/trigger-event-request.dto.ts)."""
    return (
        _object(body, "overrides")
        + _optional_string(body, "transactionId")
        + _nested(body, "actor", ("subscriberId",))
        + _nested(body, "tenant", ())
    )


def trigger_errors(body: Any) -> list[str]:
    """Validate a trigger body as ``TriggerEventRequestDto`` does.

    ``name`` must be a string (empty allowed), ``to`` must be present (its shape is not
    checked), ``payload`` and ``overrides`` are optional objects, ``transactionId`` an optional
    string (empty allowed: the server then makes one up).
    """
    fields = body if isinstance(body, dict) else {}
    return (
        _defined_string(fields, "name")
        + _object(fields, "payload")
        + _optional_string(fields, "bridgeUrl")
        + _defined(fields, "to")
        + _context_errors(fields)
    )


def broadcast_errors(body: Any) -> list[str]:
    """Validate a broadcast body as ``TriggerEventToAllRequestDto`` does (payload required)."""
    fields = body if isinstance(body, dict) else {}
    return (
        _defined_string(fields, "name")
        + _object(fields, "payload", optional=False)
        + _context_errors(fields)
    )


def bulk_errors(body: Any) -> list[str]:
    """Validate the envelope of a bulk trigger as ``BulkTriggerEventDto`` does.

    The events themselves are not validated by the request's DTO (no ``@ValidateNested``);
    each is checked by :func:`bulk_event_errors` and fails only its own slot.
    """
    fields = body if isinstance(body, dict) else {}
    events = fields.get("events")
    if not isinstance(events, list):
        return [
            f"events must contain no more than {MAX_BULK_EVENTS} elements",
            "events should not be empty",
            "events must be an array",
        ]
    if not events:
        return ["events should not be empty"]
    if len(events) > MAX_BULK_EVENTS:
        return [f"events must contain no more than {MAX_BULK_EVENTS} elements"]
    return []


def bulk_event_errors(event: Any) -> list[str]:
    """Validate one bulk event as ``ParseEventRequestMulticastCommand.create`` does.

    Stricter than a single trigger: ``payload`` must be present (process-bulk-trigger passes
    it on without a default); the name is checked as ``identifier``.
    """
    fields = event if isinstance(event, dict) else {}
    command = dict(fields, identifier=fields.get("name"))
    return (
        _defined_string(command, "identifier")
        + _defined(command, "payload")
        + _optional_string(command, "transactionId")
        + _nested(command, "actor", ())
        + _nested(command, "tenant", ())
        + _optional_string(command, "bridgeUrl")
        + _defined(command, "to")
    )


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
    for key in ("properties", "context", "traits"):
        errors += _object(event, key)
    return errors


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
