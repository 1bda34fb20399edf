"""Who may call the API, and how much: the auth guard's answers and the event quota (402).

Authentication follows NxPKG/teleflow ``packages/application-generic/src/services/auth/
user.auth.guard.ts`` (and its e2e, ``apps/api/src/app/auth/e2e/user.auth.guard.e2e.ts``): the
scheme is the header's text before the first space, case-sensitive. No header (or an empty
scheme) is ``Missing authorization header``; ``ApiKey`` goes to passport-headerapikey
(``Unauthorized`` without a key, ``API Key not found`` for an unknown one); ``Bearer`` is a JWT,
which the emulator never accepts (``Unauthorized``); anything else is ``Invalid authentication
scheme: "<scheme>"``.

The quota follows ``apps/api/src/app/resource-limiting/guards/resource-throttler.guard.ts``:
behind ``IS_EVENT_RESOURCE_LIMITING_ENABLED`` (skipped when ``IS_DOCKER_HOSTED``), every route
of the events controller (``@ResourceCategory(ResourceEnum.EVENTS)``) answers ``402 Payment
Required`` with ``new HttpException(THROTTLED_EXCEPTION_MESSAGE, 402)``. The fork refuses
every request once the flag is on ("@TODO: Implement the logic"); the emulator refuses them
once ``event_quota`` events were triggered, so ``event_quota=0`` is the fork exactly.
"""

from __future__ import annotations

from typing import Optional

from .wire import Incoming, Reply, bare_error_reply, error_reply

API_KEY_PREFIX = "ApiKey "  # passport-headerapikey prefix: matched exactly, case-sensitive
# apps/api/src/.env.production: FRONT_BASE_URL, which the 402 message names.
FRONT_BASE_URL = "https://web.novu.co"
QUOTA_MESSAGE = (
    "You have exceeded the number of allowed requests for this resource. "
    f"Please visit {FRONT_BASE_URL}/settings/billing to upgrade your plan."
)


def api_key_of(incoming: Incoming) -> Optional[str]:
    """The API key of an ``ApiKey`` authorization header, or None."""
    value = incoming.headers.get("authorization", "")
    return value[len(API_KEY_PREFIX) :] if value.startswith(API_KEY_PREFIX) else None


def authenticate(incoming: Incoming, accepted: Optional[frozenset[str]]) -> Optional[Reply]:
    """None when the request may pass, else the guard's 401.

    Args:
        incoming: the request.
        accepted: the API keys that exist (None: any key).
    """
    header = incoming.headers.get("authorization")
    scheme = header.split(" ")[0] if header else ""
    if not scheme:
        return error_reply(401, "Missing authorization header")
    if scheme == "Bearer":
        return error_reply(401, "Unauthorized")
    if scheme != "ApiKey":
        return error_reply(401, f'Invalid authentication scheme: "{scheme}"')
    api_key = api_key_of(incoming)
    if not api_key:
        return error_reply(401, "Unauthorized")
    if accepted is not None and api_key not in accepted:
        return error_reply(401, "API Key not found")
    return None


def quota_refusal(quota: Optional[int], used: int) -> Optional[Reply]:
    """The 402 once ``used`` events reached ``quota`` (None: no quota), else None."""
    if quota is None or used < quota:
        return None
    return bare_error_reply(402, QUOTA_MESSAGE)
