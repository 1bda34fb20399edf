"""Idempotency keys as the real service handles them.

Per route, the first successful (2xx) response to a key is kept and replayed verbatim for a
repeat. A repeat with a different body is refused (422), a repeat while the first is still
being processed is told to come back (409). An error answer does not consume the key, so a
client may retry after a 5xx with the same key and get the request processed.
"""

from __future__ import annotations

import hashlib
import json
import threading
from dataclasses import dataclass
from typing import Any, Optional

from .store import Store, StoredResponse
from .wire import Reply

MAX_KEY_LENGTH = 255

PROCEED = "proceed"
REPLAY = "replay"
CONFLICT = "conflict"  # same key, different body
IN_FLIGHT = "in_flight"


def fingerprint(body: Any) -> str:
    """A digest of the parsed body that ignores key order and whitespace."""
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


@dataclass
class Outcome:
    """What to do with a keyed request; ``stored`` is set for ``REPLAY``."""

    kind: str
    stored: Optional[StoredResponse] = None


class IdempotencyRegistry:
    """Keys in flight (memory) and first responses (the store, so they survive a restart)."""

    def __init__(self, store: Store) -> None:
        self._store = store
        self._lock = threading.Lock()
        self._in_flight: dict[tuple[str, str], str] = {}

    def note(self, route: str, key: str) -> None:
        """Count a request carrying ``key`` on arrival, whatever then happens to it.

        A retry after an injected fault, a 429 or a 5xx is a retry: it must be counted even
        though the earlier attempt never reached ``begin``.
        """
        self._store.idempotency_seen(route, key)

    def begin(self, route: str, key: str, digest: str) -> Outcome:
        """Classify a request carrying ``key``; on ``PROCEED`` the key is marked in flight.

        A ``PROCEED`` must be followed by ``finish`` with the same route and key.
        """
        with self._lock:
            stored = self._store.idempotency_lookup(route, key)
            if stored is not None:
                return Outcome(REPLAY if stored.fingerprint == digest else CONFLICT, stored)
            in_flight = self._in_flight.get((route, key))
            if in_flight is not None:
                return Outcome(IN_FLIGHT if in_flight == digest else CONFLICT)
            self._in_flight[(route, key)] = digest
            return Outcome(PROCEED)

    def finish(self, route: str, key: str, digest: str, reply: Optional[Reply]) -> None:
        """Release the key; keep ``reply`` for replay when it is a success."""
        with self._lock:
            if reply is not None and 200 <= reply.status < 300:
                self._store.idempotency_keep(
                    route,
                    key,
                    StoredResponse(digest, reply.status, dict(reply.headers), reply.body),
                )
            self._in_flight.pop((route, key), None)
