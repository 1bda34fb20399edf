"""The emulator's own HTTP surface: inspection, fault control, reset, and the dashboard files.

No auth, no faults, not logged as API requests: these routes observe and steer the emulated
service and must keep working while it is being made to misbehave. (``guard.py`` decides who
may reach them.) This module depends on the store, the faults and the settings only, never on
the pipeline that uses it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Optional
from urllib.parse import parse_qs

from .faults import Fault, FaultQueue
from .settings import Settings, Workflow
from .store import Store
from .wire import Incoming, Reply, error_reply, json_reply, parse_decimal, parse_json_body

MAX_LIMIT = 100_000
_FILTERS = {
    "notifications": ("name", "status", "subscriber", "key"),
    "triggers": ("name", "status", "subscriber", "key"),
    "broadcasts": ("name", "status", "key"),
    "events": ("event", "user_id"),
    "requests": ("path", "method", "status", "key"),
}

STATIC_DIR = Path(__file__).parent / "static"
_CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".svg": "image/svg+xml",
}
# The dashboard only talks to this origin; a hostile value in the data cannot load anything.
_DASHBOARD_HEADERS = {
    "Cache-Control": "no-store",
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:",
    "X-Content-Type-Options": "nosniff",
}
_FAULT_FIELDS = {"kind", "count", "status", "headers", "body", "seconds", "path"}


def is_control_path(path: str) -> bool:
    """True for the emulator's own routes (inspection, control, dashboard assets)."""
    return (
        path in ("/", "/favicon.ico", "/emulator")
        or path.startswith("/emulator/")
        or path.startswith("/static/")
    )


def _static(name: str) -> Optional[Reply]:
    # Serve only files that exist directly in static/: no path from the URL reaches open().
    available = {entry.name: entry for entry in STATIC_DIR.iterdir() if entry.is_file()}
    entry = available.get(name)
    if entry is None:
        return None
    headers = dict(_DASHBOARD_HEADERS)
    headers["Content-Type"] = _CONTENT_TYPES.get(entry.suffix, "application/octet-stream")
    return Reply(200, entry.read_bytes(), headers)


def _matches(row: dict[str, Any], query: dict[str, str]) -> bool:
    """Dashboard filters over a notification: status, subscriber id, idempotency key."""
    if "status" in query and query["status"] != (
        "cancelled" if row["cancelled"] else row["status"]
    ):
        return False
    if "key" in query and query["key"] != row.get("idempotency_key"):
        return False
    if "subscriber" in query:
        to = row.get("to")
        recipients = to if isinstance(to, list) else [to]
        ids = {r if isinstance(r, str) else (r or {}).get("subscriberId") for r in recipients}
        if query["subscriber"] not in ids:
            return False
    return True


def _filtered(rows: list[dict[str, Any]], query: dict[str, str]) -> list[dict[str, Any]]:
    return [row for row in rows if _matches(row, query)]


def _workflow_from(spec: Any) -> tuple[str, Workflow]:
    if not isinstance(spec, dict) or not isinstance(spec.get("name"), str):
        raise ValueError('body must be a JSON object with a string "name"')
    fields = {key: value for key, value in spec.items() if key != "name"}
    unknown = sorted(
        set(fields) - {"active", "steps", "active_steps", "tenant_required", "delayed"}
    )
    if unknown:
        raise ValueError(f"unknown workflow fields: {', '.join(unknown)}")
    return spec["name"], Workflow(**fields)


class ControlApi:
    """Routes under ``/emulator/`` plus ``/`` and ``/static/*``.

    Args:
        store: what was received.
        faults: the pending faults.
        settings: the emulated server's settings (workflows can be set here).
        reset: forgets everything.
        stats: returns the counters.
    """

    def __init__(
        self,
        store: Store,
        faults: FaultQueue,
        settings: Settings,
        reset: Callable[[], None],
        stats: Callable[[], dict[str, int]],
    ) -> None:
        self._store = store
        self._faults = faults
        self._settings = settings
        self._reset = reset
        self._stats = stats

    def _listings(self) -> dict[str, Callable[[dict[str, str], Optional[int]], Any]]:
        store = self._store
        return {
            "triggers": lambda q, n: _filtered(
                store.notifications(("trigger", "bulk"), q.get("name"), None), q
            )[-n if n else 0 :],
            "broadcasts": lambda q, n: _filtered(
                store.notifications(("broadcast",), q.get("name"), None), q
            )[-n if n else 0 :],
            # Both kinds in arrival order, for the dashboard's one table.
            "notifications": lambda q, n: _filtered(
                store.notifications(("trigger", "bulk", "broadcast"), q.get("name"), None), q
            )[-n if n else 0 :],
            "bulk": lambda q, n: store.records("bulk_call", n),
            "cancellations": lambda q, n: store.records("cancellation", n),
            "events": lambda q, n: store.events(q.get("event"), q.get("user_id"), n),
            "aliases": lambda q, n: store.records("alias", n),
            "batches": lambda q, n: store.records("batch", n),
            "replays": lambda q, n: store.records("replay", n),
            "faults": lambda q, n: {
                "pending": self._faults.pending(),
                "served": store.records("fault", n),
            },
            "requests": lambda q, n: store.requests(
                q.get("path"), q.get("method"), n, q.get("status"), q.get("key")
            ),
            "stats": lambda q, n: self._stats(),
            "settings": lambda q, n: self._settings.describe(),
        }

    def handle(self, incoming: Incoming) -> Reply:
        """Answer a control request."""
        method, path = incoming.method, incoming.path
        if method == "GET":
            reply = self._get(path, incoming.query)
        elif method == "POST" and path == "/emulator/faults":
            reply = self._add_fault(incoming)
        elif method == "DELETE" and path == "/emulator/faults":
            reply = json_reply(200, {"cleared": self._faults.clear()})
        elif method == "POST" and path == "/emulator/reset":
            self._reset()
            reply = json_reply(200, {"reset": True})
        elif method == "POST" and path == "/emulator/workflows":
            reply = self._set_workflow(incoming)
        else:
            reply = None
        return reply or error_reply(404, f"Cannot {method} {path}")

    def _get(self, path: str, query: str) -> Optional[Reply]:
        if path == "/":
            return _static("index.html")
        if path.startswith("/static/"):
            return _static(path[len("/static/") :])
        if path == "/favicon.ico":
            return Reply(204)
        listing = self._listings().get(path[len("/emulator/") :])
        if listing is None:
            return None
        name = path[len("/emulator/") :]
        params = {key: values[-1] for key, values in parse_qs(query).items()}
        limit_text = params.pop("limit", None)
        limit = None if limit_text is None else parse_decimal(limit_text)
        if limit_text is not None and not (limit and limit <= MAX_LIMIT):
            return error_reply(400, f"limit must be an integer from 1 to {MAX_LIMIT}")
        unknown = sorted(set(params) - set(_FILTERS.get(name, ())))
        if unknown:
            return error_reply(400, f"unknown query parameters for {name}: {', '.join(unknown)}")
        if "status" in params and name == "requests" and parse_decimal(params["status"]) is None:
            return error_reply(400, "status must be an HTTP status code")
        return json_reply(200, listing(params, limit))

    def _set_workflow(self, incoming: Incoming) -> Reply:
        spec, problem = parse_json_body(incoming)
        if problem is not None:
            return problem
        try:
            name, workflow = _workflow_from(spec)
        except (TypeError, ValueError) as exc:
            return error_reply(400, str(exc))
        self._settings.set_workflow(name, workflow)
        return json_reply(201, {"workflow": {"name": name, **workflow.describe()}})

    def _add_fault(self, incoming: Incoming) -> Reply:
        spec, problem = parse_json_body(incoming)
        if problem is not None:
            return problem
        if not isinstance(spec, dict):
            return error_reply(400, "body must be a JSON object")
        unknown = sorted(set(spec) - _FAULT_FIELDS)
        if unknown:
            return error_reply(400, f"unknown fault fields: {', '.join(unknown)}")
        try:
            fault = Fault(
                kind=spec.get("kind", ""),
                count=spec.get("count", 1),
                status=spec.get("status"),
                headers=spec.get("headers") or {},
                body=spec.get("body"),
                seconds=spec.get("seconds", 0.0),
                path=spec.get("path"),
            )
        except ValueError as exc:
            return error_reply(400, str(exc))
        self._faults.add(fault)
        return json_reply(201, {"fault": fault.describe()})
