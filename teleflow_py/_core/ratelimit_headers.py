"""What a rate-limited answer says, and what each route costs: parsing only, no state.

The Teleflow server (NxPKG/teleflow ``apps/api/src/app/rate-limiting/guards/throttler.guard.ts``)
adds the IETF httpapi rate-limit header fields to every answer of a rate-limited route::

    RateLimit-Limit: 600
    RateLimit-Remaining: 593
    RateLimit-Reset: 1
    RateLimit-Policy: 600;w=1;burst=660;comment="token bucket";category="trigger";cost="bulk";serviceLevel="business"

and ``Retry-After`` (whole seconds) on a 429. ``Limit`` is the tokens refilled per window of
``w`` seconds, ``burst`` the bucket's size (``floor(limit * 1.1)``), ``Remaining`` the
tokens left after this request, ``Reset`` the whole seconds until a request of the same cost
would pass. The route decides the category and cost (``events.controller.ts``:
``@ThrottlerCategory(TRIGGER)`` on the controller, ``@ThrottlerCost(BULK)`` on bulk and
broadcast; the guard's defaults are ``global`` and ``single``), and
``libs/shared/src/consts/rate-limiting/apiRateLimits.ts`` the cost of each: single 1, bulk 100.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Mapping, Optional

from .headers import CaseInsensitiveDict
from .retry import non_negative_number

#: libs/shared/src/consts/rate-limiting/apiRateLimits.ts, DEFAULT_API_RATE_LIMIT_COST_CONFIG.
COSTS: Mapping[str, int] = {"single": 1, "bulk": 100}

#: The guard's defaults for a route without decorators (throttler.guard.ts).
DEFAULT_CATEGORY = "global"
DEFAULT_COST = "single"


@dataclass(frozen=True)
class RouteCost:
    """The rate-limit bucket a request draws on, and how many tokens it takes."""

    category: str
    cost_name: str

    @property
    def cost(self) -> int:
        """Tokens taken from the bucket."""
        return COSTS[self.cost_name]


_TRIGGER_SINGLE = RouteCost("trigger", "single")
_TRIGGER_BULK = RouteCost("trigger", "bulk")
_DEFAULT = RouteCost(DEFAULT_CATEGORY, DEFAULT_COST)

# events.controller.ts: the controller is in the trigger category; bulk and broadcast
# cost "bulk"; trigger, test email and cancel (DELETE /trigger/:transactionId) cost "single".
_EVENTS_ROUTES: Mapping[tuple[str, str], RouteCost] = {
    ("POST", "/v1/events/trigger"): _TRIGGER_SINGLE,
    ("POST", "/v1/events/trigger/bulk"): _TRIGGER_BULK,
    ("POST", "/v1/events/trigger/broadcast"): _TRIGGER_BULK,
    ("POST", "/v1/events/test/email"): _TRIGGER_SINGLE,
}
_CANCEL_PREFIX = "/v1/events/trigger/"


def route_cost(method: str, path: str) -> RouteCost:
    """The category and cost the server charges ``method path`` (query string ignored).

    Args:
        method: the HTTP method, any case.
        path: the request path, for example ``/v1/events/trigger/bulk``.
    """
    method = method.upper()
    path = path.split("?", 1)[0].rstrip("/") or "/"
    known = _EVENTS_ROUTES.get((method, path))
    if known is not None:
        return known
    if (
        method == "DELETE"
        and path.startswith(_CANCEL_PREFIX)
        and "/" not in path[len(_CANCEL_PREFIX) :]
    ):
        return _TRIGGER_SINGLE
    return _DEFAULT


@dataclass(frozen=True)
class Policy:
    """A parsed ``RateLimit-Policy``: ``limit`` tokens per ``window`` seconds, bucket ``burst``."""

    limit: int
    window: float
    burst: int
    category: Optional[str] = None
    cost_name: Optional[str] = None

    @property
    def rate(self) -> float:
        """Tokens refilled per second (the server refills ``limit`` every ``window``)."""
        return self.limit / self.window


def _number(text: str) -> Optional[float]:
    value = non_negative_number(text)
    # Unlike a retry wait, a rate-limit field of infinity is unreadable, not "wait forever".
    return value if value is not None and value != math.inf else None


def parse_policy(text: Optional[str]) -> Optional[Policy]:
    """``600;w=1;burst=660;category="trigger";cost="bulk"`` as a :class:`Policy`.

    ``None`` for a missing or malformed value (no limit, a limit or window of 0). Without
    ``w`` the window is 1 s (the server's default); without ``burst`` the bucket holds
    ``limit``. Several policies separated by commas: the first one is read.

    Args:
        text: the header's value, or ``None``.
    """
    if text is None:
        return None
    items = text.split(",", 1)[0].split(";")
    limit = _number(items[0])
    if limit is None or limit < 1:
        return None
    params: dict[str, str] = {}
    for item in items[1:]:
        name, sep, value = item.partition("=")
        if sep:
            params[name.strip().lower()] = value.strip().strip('"')
    window = _number(params.get("w", "1"))
    burst = _number(params.get("burst", str(limit)))
    if window is None or window <= 0 or burst is None:
        return None
    return Policy(
        limit=int(limit),
        window=window,
        burst=max(int(burst), int(limit)),
        category=params.get("category"),
        cost_name=params.get("cost"),
    )


@dataclass(frozen=True)
class RateLimitFields:
    """The rate-limit fields of one answer, each ``None`` when absent or unreadable."""

    limit: Optional[int]
    remaining: Optional[int]
    reset: Optional[float]
    policy_text: Optional[str]
    policy: Optional[Policy]
    retry_after: Optional[float]

    @property
    def present(self) -> bool:
        """Whether the answer carried any ``RateLimit-*`` field."""
        return (
            self.limit is not None
            or self.remaining is not None
            or self.reset is not None
            or self.policy_text is not None
        )


def _integer(text: Optional[str]) -> Optional[int]:
    value = _number(text) if text is not None else None
    return int(value) if value is not None else None


def read_fields(headers: Mapping[str, str]) -> RateLimitFields:
    """The ``RateLimit-*`` and ``Retry-After`` (seconds) fields of ``headers``.

    Names are matched in any case; a ``Retry-After`` that is an HTTP date is left to the
    retry policy (the Teleflow server sends seconds).

    Args:
        headers: the answer's headers.
    """
    if not isinstance(headers, CaseInsensitiveDict):
        headers = CaseInsensitiveDict(headers)
    policy_text = headers.get("RateLimit-Policy")
    reset = headers.get("RateLimit-Reset")
    retry_after = headers.get("Retry-After")
    return RateLimitFields(
        limit=_integer(headers.get("RateLimit-Limit")),
        remaining=_integer(headers.get("RateLimit-Remaining")),
        reset=_number(reset) if reset is not None else None,
        policy_text=policy_text,
        policy=parse_policy(policy_text),
        retry_after=_number(retry_after) if retry_after is not None else None,
    )
