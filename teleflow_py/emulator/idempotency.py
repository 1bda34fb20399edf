"""Idempotency keys as the real server handles them.

Follows ``apps/api/src/app/shared/framework/idempotency.interceptor.ts`` of the fork
(NxPKG/teleflow 2066d4c74; the same in novuhq/novu 2024-10). It acts only when the server's
``IS_API_IDEMPOTENCY_ENABLED`` is on (``Settings.idempotency``; the pipeline skips it when off):

- a key is scoped to the organisation (here: the API key) across every route, not per route;
- an empty key is ignored; a key over 255 characters is a 400 (nothing stored);
- the first request marks the key in progress for 5 minutes; a repeat meanwhile is a 409 with
  ``Retry-After: 1``, ``Idempotency-Key`` and ``Link``, before any body comparison;
- the handler's answer is kept for 24 hours, **errors included** (400, 422, 500), and replayed
  to a repeat with the same body, with ``Idempotency-Replay: true``;
- a repeat with a different body is a 422 with ``Idempotency-Key`` and ``Link``;
- the body hash is over ``JSON.stringify`` of the parsed body: whitespace does not matter, the
  order of keys does.
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
from dataclasses import dataclass
from typing import Any, Callable, Optional

from .store import Store, StoredResponse
from .wire import Reply

MAX_KEY_LENGTH = 255
IN_PROGRESS_TTL = 5 * 60.0
RESPONSE_TTL = 24 * 60 * 60.0
# The interceptor's DOCS_LINK in NxPKG/teleflow 2066d4c74 (a later Teleflow tree, khulnasoft/
# teleflow a8db8dd, links to docs.teleflow.khulnasoft.com; the fork followed here does not).
DOCS_LINK = "https://docs.novu.co/additional-resources/idempotency"

PROCEED = "proceed"
REPLAY = "replay"
CONFLICT = "conflict"  # same key, different body
IN_FLIGHT = "in_flight"


def scope_of(api_key: str) -> str:
    """The organisation a key belongs to: a digest of the API key (never the key itself)."""
    return hashlib.sha256(api_key.encode("utf-8", "surrogatepass")).hexdigest()[:16]


def fingerprint(body: Any) -> str:
    """A digest of the parsed body as ``JSON.stringify`` writes it (key order kept)."""
    text = json.dumps(body, separators=(",", ":"), ensure_ascii=False)
    return hashlib.blake2s(text.encode("utf-8", "surrogatepass")).hexdigest()


def too_long_message(key: str) -> str:
    """The server's 400 message for an over-long key."""
    return f'idempotencyKey "{key}" has exceeded the maximum allowed length of 255 characters'


def in_flight_message(key: str) -> str:
    """The server's 409 message while the first request with ``key`` is processed."""
    return f'Request with key "{key}" is currently being processed. Please retry after 1 second'


def conflict_message(key: str) -> str:
    """The server's 422 message for a key reused with a different body."""
    return f'Request with key "{key}" is being reused for a different body'


@dataclass
class Outcome:
    """What to do with a keyed request; ``stored`` is set for ``REPLAY``."""

    kind: str
    stored: Optional[StoredResponse] = None


class IdempotencyRegistry:
    """Keys in progress (memory, expiring) and kept answers (the store, expiring)."""

    def __init__(self, store: Store, clock: Callable[[], float] = time.time) -> None:
        self._store = store
        self._clock = clock
        self._lock = threading.Lock()
        self._in_flight: dict[tuple[str, str], float] = {}

    def note(self, scope: str, key: str) -> None:
        """Count a request carrying ``key`` on arrival, whatever then happens to it.

        A retry after an injected fault, a 429 or a 5xx is a retry: it is counted even though
        the earlier attempt never reached ``begin``.
        """
        self._store.idempotency_seen(scope, key)

    def begin(self, scope: str, key: str, digest: str) -> Outcome:
        """Classify a request carrying ``key``; on ``PROCEED`` the key is marked in progress.

        A ``PROCEED`` must be followed by ``finish`` with the same scope and key.
        """
        now = self._clock()
        with self._lock:
            started = self._in_flight.get((scope, key))
            if started is not None and now - started < IN_PROGRESS_TTL:
                return Outcome(IN_FLIGHT)
            stored = self._store.idempotency_lookup(scope, key, now - RESPONSE_TTL)
            if stored is not None:
                return Outcome(REPLAY if stored.fingerprint == digest else CONFLICT, stored)
            self._in_flight[(scope, key)] = now
            return Outcome(PROCEED)

    def finish(self, scope: str, key: str, digest: str, reply: Reply) -> None:
        """Keep the handler's answer (success or error) for replay, and release the key."""
        with self._lock:
            self._store.idempotency_keep(
                scope,
                key,
                StoredResponse(digest, reply.status, dict(reply.headers), reply.body),
                self._clock(),
            )
            self._in_flight.pop((scope, key), None)
