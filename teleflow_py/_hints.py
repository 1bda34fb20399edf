"""What to do next, in words: the hint an error answer's message ends with.

:class:`~teleflow_py.errors.APIError` appends :func:`next_step` to its message, so a 401
says where the key came from and a 422 names the missing workflow. Pure text work on the
status, the server's message and the request; it imports no error class.
"""

from __future__ import annotations

import json
import re
from typing import Optional

from .response import Response

#: The environment variable the key comes from when ``api_key=`` is not passed (the same
#: as ``config.APIKEY_ENV``, which this module cannot import: config imports errors,
#: which imports this).
KEY_ENV = "TELEFLOW_API_KEY"

_DAILY = re.compile(r"daily|per[ _-]?day", re.IGNORECASE)


def mentions_daily_quota(text: str) -> bool:
    """Whether a 429's text speaks of a daily limit (rather than a per-second one)."""
    return bool(_DAILY.search(text))


def next_step(
    status: int, server_message: str, response: Optional[Response], key_hint: str = ""
) -> str:
    """What the user can do about an error answer, in words; ``""`` when nothing specific.

    Args:
        status: the HTTP status.
        server_message: the server's message, as one line.
        response: the exchange (its request body names the workflow of a trigger).
        key_hint: which key was sent, safe to print (named on a 401).
    """
    if status == 401:
        if key_hint:
            return (
                f"the server refused {key_hint}: it must be a key of this environment "
                f"(pass the right one as api_key= or set {KEY_ENV})"
            )
        return (
            f"check the API key (the api_key= argument, or the {KEY_ENV} environment "
            "variable when none is passed): it must be a key of this environment"
        )
    if status == 402:
        return "the plan's event quota is spent: nothing was sent; upgrade the plan or wait"
    if status == 422 and "workflow_not_found" in server_message:
        name = _workflow_of(response)
        which = f"no workflow {name!r}" if name else "no such workflow"
        return (
            f"{which}: check its name (the workflow identifier in the dashboard), or create "
            "it there (on the local emulator started with --workflow, add --workflow "
            f"{name or 'NAME'})"
        )
    if status == 403:
        return "this API key may not do this: check that it is a key of the right environment"
    if status == 404 and server_message.startswith("Cannot "):
        return "no such route: base_url must be the API's root (the SDK adds /v1/...)"
    if status == 413:
        return "the request is over the server's size limit: send fewer or smaller events"
    if status == 429:
        if mentions_daily_quota(server_message):
            return "the daily quota is spent: it renews the next day (or raise the plan's quota)"
        return "the rate limit is spent: send less often, or let calls wait longer (deadline)"
    if status >= 500:
        return (
            "the server failed: try again later; a repeat with the same idempotency key is safe "
            "where the server deduplicates"
        )
    return ""


def _workflow_of(response: Optional[Response]) -> str:
    if response is None or not response.request_body:
        return ""
    try:
        body = json.loads(response.request_body)
    except (ValueError, RecursionError):
        return ""
    name = body.get("name") if isinstance(body, dict) else None
    return name if isinstance(name, str) else ""
