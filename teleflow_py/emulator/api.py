"""The emulated Teleflow endpoints: routing and what each one stores and answers.

Events API: trigger, bulk trigger, broadcast, cancel. Analytics: event batches and aliases.
Auth, faults, rate limits and idempotency are applied around these by ``app.py``; a handler
here sees a parsed, authorised body and only decides the answer.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from typing import Any, Callable, Optional
from urllib.parse import unquote

from . import validation
from .store import Store
from .wire import Reply, error_reply, json_reply

EVENTS_KEY_HEADER = "idempotency-key"
ANALYTICS_KEY_HEADER = "x-idempotency-key"
_CANCEL_PREFIX = "/v1/events/trigger/"


@dataclass
class Settings:
    """Behaviour switches of the emulated service (changed at runtime by the Emulator)."""

    known_workflows: Optional[frozenset[str]] = None
    batch_event_limit: Optional[int] = None


@dataclass
class Call:
    """What a handler needs: the parsed body, the raw path, the key and a decoded path param."""

    body: Any
    path: str
    idempotency_key: Optional[str]
    param: str = ""


@dataclass
class Route:
    """A matched endpoint: its handler, which header carries its idempotency key, its param."""

    handler: Callable[[Call], Reply]
    key_header: Optional[str]
    param: str = ""


def _workflow_not_found(path: str, name: str) -> Reply:
    # The service's second error shape (validation pipe of the workflow lookup), not NestJS's.
    return json_reply(
        422,
        {
            "statusCode": 422,
            "timestamp": time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime()),
            "path": path,
            "message": "workflow_not_found",
            "errors": {"name": {"messages": ["workflow not found"], "value": name}},
        },
    )


class EventsApi:
    """The ``/v1`` endpoints over a ``Store``."""

    def __init__(self, store: Store, settings: Settings) -> None:
        self._store = store
        self._settings = settings
        self._posts: dict[str, Route] = {
            "/v1/events/trigger": Route(self.trigger, EVENTS_KEY_HEADER),
            "/v1/events/trigger/bulk": Route(self.bulk, EVENTS_KEY_HEADER),
            "/v1/events/trigger/broadcast": Route(self.broadcast, EVENTS_KEY_HEADER),
            "/v1/events/batch": Route(self.batch, ANALYTICS_KEY_HEADER),
            "/v1/identify/alias": Route(self.alias, ANALYTICS_KEY_HEADER),
        }

    def match(self, method: str, path: str) -> Optional[Route]:
        """Find the endpoint for ``method`` and the raw (still percent-encoded) ``path``."""
        if method == "POST":
            return self._posts.get(path)
        if method == "DELETE" and path.startswith(_CANCEL_PREFIX):
            segment = path[len(_CANCEL_PREFIX) :]
            # Route on the raw path, decode the id once: "%2F" stays inside the id.
            if segment and "/" not in segment:
                return Route(self.cancel, None, unquote(segment))
        return None

    def _unknown(self, name: str) -> bool:
        known = self._settings.known_workflows
        return known is not None and name not in known

    @staticmethod
    def _notification(body: dict[str, Any], source: str, key: Optional[str]) -> dict[str, Any]:
        row = {
            "name": body["name"],
            "to": body.get("to"),
            "payload": body.get("payload") or {},
            "overrides": body.get("overrides") or {},
            "actor": body.get("actor"),
            "tenant": body.get("tenant"),
            "transactionId": body.get("transactionId") or str(uuid.uuid4()),
            "status": "processed",
            "cancelled": False,
            "source": source,
            "idempotency_key": key,
        }
        if source == "broadcast":
            del row["to"]
        return row

    @staticmethod
    def _processed(row: dict[str, Any]) -> dict[str, Any]:
        return {"acknowledged": True, "status": "processed", "transactionId": row["transactionId"]}

    def trigger(self, call: Call) -> Reply:
        """POST /v1/events/trigger: 201 with the transaction id, 400/422 when refused."""
        errors = validation.trigger_errors(call.body)
        if errors:
            return error_reply(400, errors)
        if self._unknown(call.body["name"]):
            return _workflow_not_found(call.path, call.body["name"])
        row = self._notification(call.body, "trigger", call.idempotency_key)
        self._store.add_notifications([row])
        return json_reply(201, {"data": self._processed(row)})

    def bulk(self, call: Call) -> Reply:
        """POST /v1/events/trigger/bulk: one result per event; a bad event fails only its slot."""
        errors = validation.bulk_errors(call.body)
        if errors:
            return error_reply(400, errors)
        results: list[dict[str, Any]] = []
        rows = []
        for event in call.body["events"]:
            event_errors = validation.trigger_errors(event)
            if not event_errors and self._unknown(event["name"]):
                event_errors = [f"workflow not found: {event['name']}"]
            if event_errors:
                results.append({"acknowledged": True, "status": "error", "error": event_errors})
                continue
            row = self._notification(event, "bulk", call.idempotency_key)
            rows.append(row)
            results.append(self._processed(row))
        self._store.add_notifications(rows)
        self._store.add_record(
            "bulk_call",
            {
                "idempotency_key": call.idempotency_key,
                "count": len(results),
                "errors": len(results) - len(rows),
                "transactionIds": [row["transactionId"] for row in rows],
            },
        )
        return json_reply(201, {"data": results})

    def broadcast(self, call: Call) -> Reply:
        """POST /v1/events/trigger/broadcast: 201 with the transaction id."""
        errors = validation.broadcast_errors(call.body)
        if errors:
            return error_reply(400, errors)
        if self._unknown(call.body["name"]):
            return _workflow_not_found(call.path, call.body["name"])
        row = self._notification(call.body, "broadcast", call.idempotency_key)
        self._store.add_notifications([row])
        return json_reply(201, {"data": self._processed(row)})

    def cancel(self, call: Call) -> Reply:
        """DELETE /v1/events/trigger/{id}: ``{"data": true}`` once for a live transaction."""
        return json_reply(200, {"data": self._store.cancel(call.param)})

    def batch(self, call: Call) -> Reply:
        """POST /v1/events/batch: per-event accept/reject, dedupe by message_id."""
        errors = validation.batch_errors(call.body)
        if errors:
            return error_reply(400, errors)
        events = call.body["events"]
        limit = self._settings.batch_event_limit
        if limit is not None and len(events) > limit:
            return error_reply(413, "Payload Too Large")
        accepted, rejected = [], []
        for index, event in enumerate(events):
            event_errors = validation.analytics_event_errors(event)
            if event_errors:
                rejected.append({"index": index, "message": "; ".join(event_errors)})
            else:
                accepted.append(event)
        self._store.add_events(accepted)
        self._store.add_record(
            "batch",
            {
                "idempotency_key": call.idempotency_key,
                "count": len(events),
                "accepted": len(accepted),
                "rejected": len(rejected),
            },
        )
        return json_reply(
            200, {"accepted": len(accepted), "rejected": len(rejected), "errors": rejected}
        )

    def alias(self, call: Call) -> Reply:
        """POST /v1/identify/alias: 200 with the stored alias."""
        errors = validation.alias_errors(call.body)
        if errors:
            return error_reply(400, errors)
        alias = {
            "user_id": call.body["user_id"],
            "anonymous_id": call.body.get("anonymous_id"),
            "previous_id": call.body.get("previous_id"),
        }
        self._store.add_record("alias", alias)
        return json_reply(200, {"alias": alias})
