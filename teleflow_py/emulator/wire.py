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
    402: "Payment Required",
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
    # The NestJS error body this reply carries, so the pipeline can dress it as the server
    # version in use does (``timestamp`` and ``path`` on the newer server).
    error: Optional[dict[str, Any]] = None


_DECIMAL = re.compile(r"[0-9]+")
# Past this a number is "too large" wherever it is read (Python refuses to convert 4,300 digits).
MAX_DECIMAL = 10**18


def parse_decimal(text: str) -> Optional[int]:
    """``int(text)`` for plain ASCII digits only (no sign, no "²", no "1e3"), else None.

    Values past ``MAX_DECIMAL`` (however many digits) read as ``MAX_DECIMAL``.
    """
    text = text.strip()
    if not _DECIMAL.fullmatch(text):
        return None
    digits = text.lstrip("0") or "0"
    return MAX_DECIMAL if len(digits) > 18 else min(int(digits), MAX_DECIMAL)


def encode_json(value: Any) -> bytes:
    """Serialise ``value`` compactly as UTF-8 JSON."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def json_reply(status: int, value: Any, headers: Optional[dict[str, str]] = None) -> Reply:
    """Return a JSON ``Reply`` with ``Content-Type: application/json``."""
    all_headers = {"Content-Type": "application/json; charset=utf-8"}
    all_headers.update(headers or {})
    return Reply(status, encode_json(value), all_headers)


def error_body(status: int, message: Union[str, list[str]]) -> dict[str, Any]:
    """Return the NestJS error body ``{"message", "error", "statusCode"}``, in that order.

    NestJS 10's ``HttpException.createBody`` (the fork's ``@nestjs/common`` 10.2.2) writes
    the keys in this order, and the fork's e2e tests compare ``JSON.stringify(body)``.
    """
    return {"message": message, "error": reason(status), "statusCode": status}


def bare_error_reply(status: int, message: str, headers: Optional[dict[str, str]] = None) -> Reply:
    """The body of ``new HttpException(message, status)``: ``{"statusCode", "message"}``.

    A plain ``HttpException`` with a string (``ThrottlerException``, the 402 of the resource
    throttler) is written by NestJS's ``BaseExceptionFilter`` without an ``error`` field.
    """
    body: dict[str, Any] = {"statusCode": status, "message": message}
    reply = json_reply(status, body, headers)
    reply.error = body
    return reply


def error_reply(
    status: int, message: Union[str, list[str]], headers: Optional[dict[str, str]] = None
) -> Reply:
    """Return a JSON reply carrying the NestJS error body for ``status``."""
    body = error_body(status, message)
    reply = json_reply(status, body, headers)
    reply.error = body
    return reply


def with_request_context(reply: Reply, path: str, timestamp: str) -> None:
    """Rewrite an error reply's body as the newer server's exception filter writes it.

    novuhq/novu ``apps/api/src/exception-filter.ts``: ``statusCode``, ``timestamp``, ``path``
    and ``message`` first, then the rest of the exception's own body.
    """
    if reply.error is None:
        return
    body = {
        "statusCode": reply.error["statusCode"],
        "timestamp": timestamp,
        "path": path,
        "message": reply.error["message"],
    }
    body.update({k: v for k, v in reply.error.items() if k not in body})
    reply.error = body
    reply.body = encode_json(body)


def _reject_constant(name: str) -> Any:
    # NaN and Infinity are not JSON; Python would accept them silently.
    raise ValueError(f"{name} is not valid JSON")


def is_json_media_type(content_type: str) -> bool:
    """True for ``application/json`` and ``*/*+json`` (what body-parser's json() reads)."""
    media_type = content_type.split(";")[0].strip().lower()
    return media_type == "application/json" or (
        media_type.startswith("application/") and media_type.endswith("+json")
    )


def parse_json_body(incoming: Incoming) -> tuple[Any, Optional[Reply]]:
    """Decode a request body as the server's body-parser does; (value, None) or (None, a 400).

    A body that is empty or not declared as JSON is left unread and becomes ``{}``, so
    validation names the missing fields (a non-JSON content type is a 400, not a 415). JSON
    must be an object or an array (body-parser's strict mode); nesting too deep to decode is a
    400 too.
    """
    if not incoming.raw_body or not is_json_media_type(incoming.headers.get("content-type", "")):
        return {}, None
    try:
        text = incoming.raw_body.decode("utf-8")
        value = json.loads(text, parse_constant=_reject_constant)
    except RecursionError:
        return None, error_reply(400, "Request body is nested too deeply")
    except (UnicodeDecodeError, ValueError) as exc:
        return None, error_reply(400, f"Request body is not valid JSON: {exc}")
    if not isinstance(value, (dict, list)):
        return None, error_reply(400, "Request body must be a JSON object or array")
    return value, None
