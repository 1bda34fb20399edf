"""The emulator's own HTTP surface: inspection, fault control, reset, and the dashboard files.

No auth, no faults, not logged as API requests: these routes observe and steer the emulated
service and must keep working while it is being made to misbehave.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Optional
from urllib.parse import parse_qs

from .faults import Fault
from .wire import Incoming, Reply, error_reply, json_reply, parse_decimal, parse_json_body

if TYPE_CHECKING:
    from .app import Service

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


class ControlApi:
    """Routes under ``/emulator/`` plus ``/`` and ``/static/*``."""

    def __init__(self, service: Service) -> None:
        self._service = service

    def _listings(self) -> dict[str, Callable[[dict[str, str], Optional[int]], Any]]:
        store = self._service.store
        return {
            "triggers": lambda q, n: store.notifications(("trigger", "bulk"), q.get("name"), n),
            "broadcasts": lambda q, n: store.notifications(("broadcast",), q.get("name"), n),
            # Both kinds in arrival order, for the dashboard's one table.
            "notifications": lambda q, n: store.notifications(
                ("trigger", "bulk", "broadcast"), q.get("name"), n
            ),
            "bulk": lambda q, n: store.records("bulk_call", n),
            "cancellations": lambda q, n: store.records("cancellation", n),
            "events": lambda q, n: store.events(q.get("event"), q.get("user_id"), n),
            "aliases": lambda q, n: store.records("alias", n),
            "batches": lambda q, n: store.records("batch", n),
            "replays": lambda q, n: store.records("replay", n),
            "faults": lambda q, n: {
                "pending": self._service.faults.pending(),
                "served": store.records("fault", n),
            },
            "requests": lambda q, n: store.requests(q.get("path"), q.get("method"), n),
            "stats": lambda q, n: self._service.stats(),
        }

    def handle(self, incoming: Incoming) -> Reply:
        """Answer a control request."""
        method, path = incoming.method, incoming.path
        if method == "GET":
            reply = self._get(path, incoming.query)
        elif method == "POST" and path == "/emulator/faults":
            reply = self._add_fault(incoming)
        elif method == "DELETE" and path == "/emulator/faults":
            reply = json_reply(200, {"cleared": self._service.faults.clear()})
        elif method == "POST" and path == "/emulator/reset":
            self._service.reset()
            reply = json_reply(200, {"reset": True})
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
        params = {name: values[-1] for name, values in parse_qs(query).items()}
        limit_text = params.pop("limit", None)
        limit = None if limit_text is None else parse_decimal(limit_text)
        if limit_text is not None and not limit:
            return error_reply(400, "limit must be a positive integer")
        return json_reply(200, listing(params, limit))

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
        self._service.faults.add(fault)
        return json_reply(201, {"fault": fault.describe()})
