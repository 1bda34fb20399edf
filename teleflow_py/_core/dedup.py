"""Whether the server behind a base URL deduplicates retried requests, as its answers say.

The Teleflow server deduplicates by ``Idempotency-Key`` only when its
``IS_API_IDEMPOTENCY_ENABLED`` flag is on (NxPKG/teleflow
``apps/api/src/app/shared/framework/idempotency.interceptor.ts``); the flag is ``false``
in ``apps/api/src/.env.production``, so a self-hosted server as shipped ignores the key,
and a retry after a lost answer delivers twice. When the flag is on, the interceptor
echoes ``Idempotency-Key`` on every answer to a keyed ``POST`` that reached it, success
and error alike. So the answers tell:

- any answer that echoes the key: the server deduplicates;
- an accepted 2xx answer to a keyed ``POST`` without the echo: it does not. Only a 2xx
  counts: 401, 402, 404 and 429 are answered by guards before the interceptor (no echo
  even when it is on), and 5xx, 413 or a gateway's page may never have reached it.

Until an answer says either way, the hosted service is assumed to deduplicate (it runs
with the flag on) and any other base URL not to (a self-hosted server as shipped), so the
first call to an unknown server is never repeated after a failure that may have followed
processing. What was learnt is kept per base URL for the whole process, shared by every
client (sync and async) that talks to it. A client's ``server_deduplicates`` setting
replaces all of this with :class:`Fixed`.

The cost on the send path is one header lookup per answer and, once the state is known,
one comparison: the lock is taken only when an answer changes what is known.
"""

from __future__ import annotations

import logging
import threading
from typing import Dict, Optional, Union

from ..errors import APIConnectionError, APIError, TeleflowError

#: The request header the Events API's key travels in, echoed by a deduplicating server.
IDEMPOTENCY_HEADER = "Idempotency-Key"

logger = logging.getLogger("teleflow_py.events")


class ServerDedup:
    """What the answers from one base URL said; one per base URL per process, thread-safe.

    ``deduplicates`` is read on the send path without a lock (a bool attribute: a reader
    sees the old or the new value, either of which was true a moment ago).
    """

    __slots__ = ("_lock", "_warned", "base_url", "deduplicates", "known")

    def __init__(self, base_url: str, assumed: bool) -> None:
        self.base_url = base_url
        #: What the client acts on: the last answer's word, or the assumption before any.
        self.deduplicates = assumed
        #: Whether an answer has said it (else ``deduplicates`` is the assumption).
        self.known = False
        self._warned = False
        self._lock = threading.Lock()

    def saw(self, echoed: bool, accepted: bool) -> None:
        """Learn from an answer to a keyed ``POST``: ``echoed`` the key, was an ``accepted`` 2xx."""
        if echoed:
            if not (self.known and self.deduplicates):
                self._learn(True)
        elif accepted and (self.deduplicates or not self.known):
            self._learn(False)

    def why_not(self) -> str:
        """Why a failure that may have followed processing is not retried, in words."""
        if self.known:
            return (
                f"the server at {self.base_url} does not deduplicate retried requests (its "
                "answers do not echo Idempotency-Key)"
            )
        return (
            f"the server at {self.base_url} has not yet shown that it deduplicates retried "
            "requests (no answer has echoed Idempotency-Key)"
        )

    def _learn(self, deduplicates: bool) -> None:
        with self._lock:
            self.deduplicates = deduplicates
            self.known = True
            warn = not deduplicates and not self._warned
            if warn:
                self._warned = True
        if warn:
            logger.warning(
                "the server at %s does not deduplicate retried requests (its answers do not "
                "echo Idempotency-Key; a self-hosted Teleflow has IS_API_IDEMPOTENCY_ENABLED="
                "false as shipped): a trigger, bulk trigger or broadcast that fails after it "
                "may have been processed (a timeout, a reset, a 502 or 504) is not retried, "
                "and raises with maybe_delivered=True; set server_deduplicates=True if a "
                "gateway strips the header",
                self.base_url,
            )


class Fixed:
    """The client's ``server_deduplicates`` setting: answers are not consulted."""

    __slots__ = ("deduplicates",)

    #: Nothing to learn: the setting decides.
    known = True

    def __init__(self, deduplicates: bool) -> None:
        self.deduplicates = deduplicates

    def saw(self, echoed: bool, accepted: bool) -> None:
        """Answers change nothing: the client's setting decides."""

    def why_not(self) -> str:
        """Why a failure that may have followed processing is not retried, in words."""
        return "the client's server_deduplicates=False says the server does not deduplicate"


Dedup = Union[ServerDedup, Fixed]

_servers: Dict[str, ServerDedup] = {}
_servers_lock = threading.Lock()


def dedup_for(base_url: str, hosted: bool, setting: Optional[bool]) -> Dedup:
    """What a client with ``server_deduplicates=setting`` acts on for ``base_url``.

    Args:
        base_url: the client's API root, as its config spells it.
        hosted: whether it is the hosted service (assumed to deduplicate until answers say).
        setting: the client's ``server_deduplicates`` (``None``: learn from the answers).
    """
    if setting is not None:
        return Fixed(setting)
    server = _servers.get(base_url)
    if server is None:
        with _servers_lock:
            server = _servers.setdefault(base_url, ServerDedup(base_url, hosted))
    return server


def maybe_delivered(error: TeleflowError, dedup: Dedup) -> TeleflowError:
    """``error``, marked and worded as a call that may or may not have been delivered.

    For a failure that may have followed processing, not retried because ``dedup`` says
    the server does not deduplicate: a retry could deliver the call twice.
    """
    if isinstance(error, (APIConnectionError, APIError)):
        error.maybe_delivered = True
    error.args = (
        f"{error}; not retried, as {dedup.why_not()}: the call may or may not have been "
        "delivered (check before sending it again)",
    )
    return error
