"""What an :class:`~teleflow_py.emulator.Emulator` received: the inspection half of its API.

Every method returns copies (plain lists of dicts) read from the store, so they keep working
after ``stop()``.
"""

from __future__ import annotations

from typing import Any, Optional

from .app import Service


class Inspection:
    """The inspection methods, over the ``Service`` an emulator runs."""

    _service: Service

    def requests(
        self, path: Optional[str] = None, method: Optional[str] = None
    ) -> list[dict[str, Any]]:
        """Every API request received, in order (exact ``path`` / ``method`` filters).

        Args:
            path: only requests for this exact path (None: all).
            method: only requests with this method (None: all).

        Each: seq, method, path, query, headers (lower-case; credentials masked), body (parsed
        JSON, or None when not JSON or truncated), raw_body (at most 64 KB; empty for an
        unknown route), body_size, truncated, idempotency_key, status (None when dropped),
        fault, replayed, at.
        """
        return self._service.store.requests(path, method)

    def triggers(self, name: Optional[str] = None) -> list[dict[str, Any]]:
        """Triggers (single and each valid bulk event), in order, with their ``status``.

        Args:
            name: only triggers of this workflow (None: all).

        Each: seq, name, to, payload, overrides, actor, tenant, transactionId (None for a
        status other than ``processed``), status, cancelled, pending, source, idempotency_key.
        """
        return self._service.store.notifications(("trigger", "bulk"), name)

    def bulk_calls(self) -> list[dict[str, Any]]:
        """One entry per accepted bulk request: idempotency_key, count, errors, transactionIds."""
        return self._service.store.records("bulk_call")

    def broadcasts(self, name: Optional[str] = None) -> list[dict[str, Any]]:
        """Broadcast notifications, in order."""
        return self._service.store.notifications(("broadcast",), name)

    def cancellations(self) -> list[dict[str, Any]]:
        """Every cancel call: transactionId and result."""
        return self._service.store.records("cancellation")

    def events(
        self, event: Optional[str] = None, user_id: Optional[str] = None
    ) -> list[dict[str, Any]]:
        """Accepted analytics events as sent (each message_id once), in arrival order."""
        return self._service.store.events(event, user_id)

    def aliases(self) -> list[dict[str, Any]]:
        """Accepted aliases: user_id, anonymous_id, previous_id."""
        return self._service.store.records("alias")

    def batches(self) -> list[dict[str, Any]]:
        """Accepted analytics batch requests: idempotency_key, count, accepted, rejected."""
        return self._service.store.records("batch")

    def replays(self) -> list[dict[str, Any]]:
        """Idempotent replays served: path, idempotency_key."""
        return self._service.store.records("replay")

    def faults_served(self) -> list[dict[str, Any]]:
        """Faults applied: fault, path, status (None for delay and drop)."""
        return self._service.store.records("fault")

    @property
    def connections_accepted(self) -> int:
        """TCP connections accepted so far (since start or the last reset)."""
        return self._service.connections_accepted

    def stats(self) -> dict[str, int]:
        """Counters: triggers, bulk_calls, broadcasts, cancellations, events, batches, aliases,
        replays, faults, duplicates_ignored, requests, retries_seen, connections_accepted."""
        return self._service.stats()
