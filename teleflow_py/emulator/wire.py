"""The HTTP messages the emulator passes around, and the error shapes of the real service.

``Incoming`` is a request as the socket layer framed it; ``Reply`` is what goes back. The
helpers build replies in the NestJS shapes the Teleflow API answers with, so a client under
test parses exactly what it would parse in production.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any, Optional, Union

# NestJS names, not Python's: Python 3.13 renamed 413 and 422, and clients match on these.
_REASONS = {
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    409: "Conflict",
    411: "Length Required",
    413: "Payload Too Large",
    415: "Unsupported Media Type",
    422: "Unprocessable Entity",
    429: "Too Many Requests",
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
    504: "Gateway Timeout",
}


def reason(status: int) -> str:
    """Return the reason phrase for ``status`` (NestJS spelling, ``"Unknown"`` if none)."""
    if status in _REASONS:
        return _REASONS[status]
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Unknown"


@dataclass
class Incoming:
    """A request as received: raw path (no query), lower-case headers, undecoded body."""

    method: str
    path: str
    query: str
    headers: dict[str, str]
    raw_body: bytes


@dataclass
class Reply:
    """A response to write. ``drop`` closes the socket without writing; ``close`` ends keep-alive."""

    status: int
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    drop: bool = False
    close: bool = False


_DECIMAL = re.compile(r"[0-9]+")


def parse_decimal(text: str) -> Optional[int]:
    """``int(text)`` for plain ASCII digits only (no sign, no "²", no "1e3"), else None."""
    text = text.strip()
    return int(text) if _DECIMAL.fullmatch(text) else None


def encode_json(value: Any) -> bytes:
    """Serialise ``value`` compactly as UTF-8 JSON."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def json_reply(status: int, value: Any, headers: Optional[dict[str, str]] = None) -> Reply:
    """Return a JSON ``Reply`` with ``Content-Type: application/json``."""
    all_headers = {"Content-Type": "application/json; charset=utf-8"}
    all_headers.update(headers or {})
    return Reply(status, encode_json(value), all_headers)


def error_body(status: int, message: Union[str, list[str]]) -> dict[str, Any]:
    """Return the NestJS error body ``{"statusCode", "message", "error"}``."""
    return {"statusCode": status, "message": message, "error": reason(status)}


def error_reply(
    status: int, message: Union[str, list[str]], headers: Optional[dict[str, str]] = None
) -> Reply:
    """Return a JSON reply carrying the NestJS error body for ``status``."""
    return json_reply(status, error_body(status, message), headers)


def _reject_constant(name: str) -> Any:
    # NaN and Infinity are not JSON; Python would accept them silently.
    raise ValueError(f"{name} is not valid JSON")


def parse_json_body(incoming: Incoming) -> tuple[Any, Optional[Reply]]:
    """Decode a JSON request body; return (value, None) or (None, the 415/400 error reply).

    An empty body decodes to ``{}`` so validation reports the missing fields by name.
    """
    if not incoming.raw_body:
        return {}, None
    media_type = incoming.headers.get("content-type", "").split(";")[0].strip().lower()
    if media_type != "application/json" and not media_type.endswith("+json"):
        shown = media_type or "none"
        return None, error_reply(415, f"Content-Type must be application/json, got {shown}")
    try:
        text = incoming.raw_body.decode("utf-8")
        return json.loads(text, parse_constant=_reject_constant), None
    except (UnicodeDecodeError, ValueError) as exc:
        return None, error_reply(400, f"Request body is not valid JSON: {exc}")
