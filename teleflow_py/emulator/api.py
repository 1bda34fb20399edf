"""The emulated Teleflow endpoints: routing and what each one stores and answers.

Events API: trigger, bulk trigger, broadcast, cancel, following the fork, NxPKG/teleflow
2066d4c74 ``apps/api/src/app/events/`` (``events.controller.ts`` and the use cases
``parse-event-request``, ``process-bulk-trigger``, ``trigger-event-to-all``,
``cancel-delayed``). Analytics: event batches and aliases (Teleflow's own routes).
Auth, faults, rate limits and idempotency are applied around these by ``app.py``; a handler
here sees a parsed, authorised body and only decides the answer.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any, Callable, Optional
from urllib.parse import unquote

from . import validation
from .settings import Settings, Workflow
from .store import Store
from .wire import Reply, error_reply, json_reply

EVENTS_KEY_HEADER = "idempotency-key"
ANALYTICS_KEY_HEADER = "x-idempotency-key"
_CANCEL_PREFIX = "/v1/events/trigger/"


@dataclass
class Call:
    """What a handler needs: the parsed body, the raw path, the key and a decoded path param."""

    body: Any
    path: str
    idempotency_key: Optional[str]
    param: str = ""


@dataclass
class Route:
    """A matched endpoint: its handler, which header carries its idempotency key, its param,
    its rate-limit category and cost (events.controller.ts ``@ThrottlerCategory``,
    ``@ThrottlerCost``) and its resource (``@ResourceCategory``: the event quota)."""

    handler: Callable[[Call], Reply]
    key_header: Optional[str]
    param: str = ""
    category: str = "trigger"
    cost: str = "single"
    resource: Optional[str] = "events"


class _Refused(Exception):
    """A trigger the server refuses with an exception (422 workflow_not_found, 400 ...)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def _tenant_problem(workflow: Workflow, tenant: Any) -> Optional[str]:
    # parse-event-request.usecase.ts validateTriggerContext: the tenant's reserved variable is
    # its identifier, read off the value (so a bare string has none).
    if not workflow.tenant_required:
        return None
    if not tenant:
        return "Trigger is missing: tenant object"
    if not (isinstance(tenant, dict) and tenant.get("identifier")):
        return "Trigger is missing: identifier property of tenant"
    return None


class EventsApi:
    """The ``/v1`` endpoints over a ``Store``."""

    def __init__(self, store: Store, settings: Settings) -> None:
        self._store = store
        self._settings = settings
        self._posts: dict[str, Route] = {
            "/v1/events/trigger": Route(self.trigger, EVENTS_KEY_HEADER),
            "/v1/events/trigger/bulk": Route(self.bulk, EVENTS_KEY_HEADER, cost="bulk"),
            "/v1/events/trigger/broadcast": Route(self.broadcast, EVENTS_KEY_HEADER, cost="bulk"),
            "/v1/events/batch": Route(
                self.batch, ANALYTICS_KEY_HEADER, category="global", resource=None
            ),
            "/v1/identify/alias": Route(
                self.alias, ANALYTICS_KEY_HEADER, category="global", resource=None
            ),
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

    def _outcome(self, body: dict[str, Any]) -> tuple[str, Workflow]:
        """The status the server answers for this trigger (parse-event-request.usecase.ts).

        Raises _Refused for an unknown workflow (422) or a missing tenant variable (400).
        """
        name = body["name"]
        workflow = self._settings.workflow(name)
        if workflow is None:
            raise _Refused(422, "workflow_not_found")
        problem = _tenant_problem(workflow, body.get("tenant"))
        if problem is not None:
            raise _Refused(400, problem)
        tenant = body.get("tenant")
        known_tenants = self._settings.tenants
        if tenant and known_tenants is not None:
            identifier = tenant.get("identifier") if isinstance(tenant, dict) else tenant
            if identifier not in known_tenants:
                return "no_tenant_found", workflow
        if not workflow.active:
            return "trigger_not_active", workflow
        if workflow.steps == 0:
            return "no_workflow_steps_defined", workflow
        if workflow.active_steps == 0:
            return "no_workflow_active_steps_defined", workflow
        return "processed", workflow

    @staticmethod
    def _notification(
        body: dict[str, Any], source: str, key: Optional[str], status: str, workflow: Workflow
    ) -> dict[str, Any]:
        processed = status == "processed"
        row = {
            "name": body["name"],
            "to": body.get("to"),
            "payload": body.get("payload") or {},
            "overrides": body.get("overrides") or {},
            "actor": body.get("actor"),
            "tenant": body.get("tenant"),
            # The server makes one up for a missing or empty id ("transactionId || uuidv4()").
            "transactionId": (body.get("transactionId") or str(uuid.uuid4()))
            if processed or source == "broadcast"
            else None,
            "status": status,
            "cancelled": False,
            "pending": processed and workflow.delayed,
            "source": source,
            "idempotency_key": key,
        }
        if source == "broadcast":
            del row["to"]
        return row

    @staticmethod
    def _answer(row: dict[str, Any]) -> dict[str, Any]:
        answer: dict[str, Any] = {"acknowledged": True, "status": row["status"]}
        if row["transactionId"] is not None:
            answer["transactionId"] = row["transactionId"]
        return answer

    def trigger(self, call: Call) -> Reply:
        """POST /v1/events/trigger: 201 with a status (and a transaction id when processed)."""
        errors = validation.trigger_errors(call.body)
        if errors:
            return error_reply(400, errors)
        try:
            status, workflow = self._outcome(call.body)
        except _Refused as refused:
            return error_reply(refused.status, refused.message)
        row = self._notification(call.body, "trigger", call.idempotency_key, status, workflow)
        self._store.add_notifications([row])
        return json_reply(201, {"data": self._answer(row)})

    def bulk(self, call: Call) -> Reply:
        """POST /v1/events/trigger/bulk: one result per event; a bad event fails only its slot."""
        errors = validation.bulk_errors(call.body)
        if errors:
            return error_reply(400, errors)
        results: list[dict[str, Any]] = []
        rows = []
        for event in call.body["events"]:
            event_errors = validation.bulk_event_errors(event)
            if not event_errors:
                try:
                    status, workflow = self._outcome(event)
                except _Refused as refused:
                    event_errors = [refused.message]
            if event_errors:
                results.append({"acknowledged": True, "status": "error", "error": event_errors})
                continue
            row = self._notification(event, "bulk", call.idempotency_key, status, workflow)
            rows.append(row)
            results.append(self._answer(row))
        self._store.add_notifications(rows)
        self._store.add_record(
            "bulk_call",
            {
                "idempotency_key": call.idempotency_key,
                "count": len(results),
                "errors": len(results) - len(rows),
                "transactionIds": [row["transactionId"] for row in rows if row["transactionId"]],
            },
        )
        return json_reply(201, {"data": results})

    def broadcast(self, call: Call) -> Reply:
        """POST /v1/events/trigger/broadcast: 201 ``processed`` with the transaction id.

        trigger-event-to-all.usecase.ts answers ``processed`` whatever the workflow's state;
        only an unknown workflow (422) or a missing tenant variable (400) is refused.
        """
        errors = validation.broadcast_errors(call.body)
        if errors:
            return error_reply(400, errors)
        try:
            status, workflow = self._outcome(call.body)
        except _Refused as refused:
            return error_reply(refused.status, refused.message)
        row = self._notification(call.body, "broadcast", call.idempotency_key, status, workflow)
        self._store.add_notifications([row])
        return json_reply(
            201,
            {
                "data": {
                    "acknowledged": True,
                    "status": "processed",
                    "transactionId": row["transactionId"],
                }
            },
        )

    def cancel(self, call: Call) -> Reply:
        """DELETE /v1/events/trigger/{id}: ``{"data": true}`` once, while a delay is pending."""
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
