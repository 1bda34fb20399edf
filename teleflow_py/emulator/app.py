"""The request pipeline: what happens to a framed request, in which order.

For an API request (anything not under ``/emulator`` and not a dashboard asset):

1. log it (every request, including faulted and dropped ones) and, if it carries an
   idempotency key already used on that route, count a retry;
2. rate limit (``/v1`` only, when enabled): over the limit is a 429, no fault consumed;
3. take the first matching injected fault: ``fail`` answers now, nothing processed;
4. route (404), authenticate (401), decode the JSON body (415/400);
5. idempotency: replay, 422 on a different body, 409 while the first is in flight;
6. a ``delay`` fault sleeps here, with the key already in flight;
7. the endpoint handles it; a 2xx is kept for replay;
8. a ``drop`` fault closes the socket instead of answering.
"""

from __future__ import annotations

import re
import sys
import threading
import time
import traceback
from dataclasses import dataclass
from typing import Any, Iterable, Optional

from .api import Call, EventsApi, Settings
from .control import ControlApi, is_control_path
from .faults import Fault, FaultQueue
from .idempotency import CONFLICT, IN_FLIGHT, MAX_KEY_LENGTH, REPLAY, IdempotencyRegistry
from .idempotency import fingerprint as body_fingerprint
from .ratelimit import RateLimiter
from .store import Store
from .wire import Incoming, Reply, error_reply, parse_json_body

_API_KEY = re.compile(r"^\s*apikey\s+(\S+)\s*$", re.IGNORECASE)


@dataclass
class _Note:
    """What happened to one request, for its log entry."""

    fault: Optional[str] = None
    delay: Optional[Fault] = None
    replayed: bool = False


def _masked_headers(headers: dict[str, str]) -> dict[str, str]:
    shown = dict(headers)
    if "authorization" in shown:
        # Keep the scheme (a client sending "Bearer" is a bug worth seeing), never the secret.
        scheme = shown["authorization"].strip().split(" ")[0]
        shown["authorization"] = f"{scheme} ***"
    return shown


class Service:
    """The emulated service: its storage, faults, limits, and the pipeline above."""

    def __init__(
        self,
        db_path: Optional[str] = None,
        known_workflows: Optional[Iterable[str]] = None,
        rate_limit: Optional[int] = None,
        rate_limit_window: float = 1.0,
        batch_event_limit: Optional[int] = None,
        api_keys: Optional[Iterable[str]] = None,
    ) -> None:
        self.store = Store(db_path)
        # None: any key is accepted; otherwise only these (so tests can prove which key came).
        self._api_keys = frozenset(api_keys) if api_keys is not None else None
        self.settings = Settings(
            frozenset(known_workflows) if known_workflows is not None else None,
            batch_event_limit,
        )
        self.faults = FaultQueue()
        self.limiter = (
            RateLimiter(rate_limit, rate_limit_window) if rate_limit is not None else None
        )
        self._idempotency = IdempotencyRegistry(self.store)
        self._api = EventsApi(self.store, self.settings)
        self._control = ControlApi(self)
        self._connections_lock = threading.Lock()
        self._connections = 0

    # -- connection accounting (called by the socket server) ------------------------------

    def count_connection(self) -> None:
        """Note one accepted TCP connection."""
        with self._connections_lock:
            self._connections += 1

    @property
    def connections_accepted(self) -> int:
        """TCP connections accepted since start (or the last reset)."""
        return self._connections

    # -- state ----------------------------------------------------------------------------

    def stats(self) -> dict[str, int]:
        """Counters, plus ``connections_accepted``."""
        counters = self.store.counters()
        counters["connections_accepted"] = self._connections
        return counters

    def reset(self) -> None:
        """Forget every request, record, counter and pending fault."""
        self.store.reset()
        self.faults.clear()
        if self.limiter is not None:
            self.limiter.reset()
        with self._connections_lock:
            self._connections = 0

    # -- the pipeline ---------------------------------------------------------------------

    def handle(self, incoming: Incoming) -> Reply:
        """Answer one framed request (``Reply.drop`` means: close without answering)."""
        if is_control_path(incoming.path):
            return self._control.handle(incoming)
        seq = self._log(incoming)
        note = _Note()
        try:
            reply = self._guarded(incoming, note)
        except Exception:
            # An emulator bug must show up in the test output, not kill the connection thread.
            traceback.print_exc(file=sys.stderr)
            reply = error_reply(500, "Internal server error")
        self.store.finish_request(
            seq, None if reply.drop else reply.status, note.fault, note.replayed
        )
        return reply

    def reject(self, incoming: Incoming, status: int, message: str) -> Reply:
        """Answer a request the socket layer could not frame (411/413/400) and end the connection."""
        reply = error_reply(status, message)
        reply.close = True
        if not is_control_path(incoming.path):
            seq = self._log(incoming)
            self.store.finish_request(seq, status, None, False)
        return reply

    def _log(self, incoming: Incoming) -> int:
        entry = {
            "method": incoming.method,
            "path": incoming.path,
            "headers": _masked_headers(incoming.headers),
            "raw_body": incoming.raw_body.decode("utf-8", "replace"),
            "at": time.time(),
        }
        return self.store.log_request(incoming.method, incoming.path, entry)

    def _guarded(self, incoming: Incoming, note: _Note) -> Reply:
        self._note_key(incoming)
        rate_headers: dict[str, str] = {}
        if self.limiter is not None and incoming.path.startswith("/v1/"):
            allowed, rate_headers = self.limiter.hit()
            if not allowed:
                return error_reply(429, "API rate limit exceeded", rate_headers)
        fault = self.faults.take(incoming.path)
        if fault is not None:
            note.fault = fault.kind
        if fault is not None and fault.kind == "fail":
            self._record_fault(fault, incoming.path, fault.status)
            reply = fault.reply()
        else:
            note.delay = fault if fault is not None and fault.kind == "delay" else None
            reply = self._process(incoming, note)
            self._sleep_once(incoming.path, note)  # a delayed request refused early is late too
            if fault is not None and fault.kind == "drop":
                self._record_fault(fault, incoming.path, None)
                reply.drop = True
        for name, value in rate_headers.items():
            reply.headers.setdefault(name, value)
        return reply

    def _note_key(self, incoming: Incoming) -> None:
        route = self._api.match(incoming.method, incoming.path)
        key = incoming.headers.get(route.key_header) if route and route.key_header else None
        if key is not None and len(key) <= MAX_KEY_LENGTH:
            self._idempotency.note(incoming.path, key)

    def _record_fault(self, fault: Fault, path: str, status: Optional[int]) -> None:
        self.store.add_record("fault", {"fault": fault.kind, "path": path, "status": status})

    def _sleep_once(self, path: str, note: _Note) -> None:
        if note.delay is not None:
            delay, note.delay = note.delay, None
            # Recorded before sleeping: a test can see the delay has begun and race it.
            self._record_fault(delay, path, None)
            self.faults.sleep(delay.seconds)

    def _process(self, incoming: Incoming, note: _Note) -> Reply:
        method, path = incoming.method, incoming.path
        route = self._api.match(method, path)
        if route is None:
            shown = f"{path}?{incoming.query}" if incoming.query else path
            return error_reply(404, f"Cannot {method} {shown}")
        given = _API_KEY.match(incoming.headers.get("authorization", ""))
        if given is None:
            return error_reply(401, "API Key not found")
        if self._api_keys is not None and given.group(1) not in self._api_keys:
            return error_reply(401, "API Key is not valid")
        body: Any = None
        if method == "POST":
            body, problem = parse_json_body(incoming)
            if problem is not None:
                return problem
        key = incoming.headers.get(route.key_header) if route.key_header else None
        call = Call(body, path, key, route.param)
        if key is None:
            self._sleep_once(path, note)
            return route.handler(call)
        if len(key) > MAX_KEY_LENGTH:
            return error_reply(400, f"Idempotency key must be at most {MAX_KEY_LENGTH} characters")
        digest = body_fingerprint(body)
        outcome = self._idempotency.begin(path, key, digest)
        if outcome.kind == REPLAY and outcome.stored is not None:
            note.replayed = True
            self.store.add_record("replay", {"path": path, "idempotency_key": key})
            headers = dict(outcome.stored.headers)
            headers.update({"Idempotency-Key": key, "Idempotency-Replay": "true"})
            return Reply(outcome.stored.status, outcome.stored.body, headers)
        if outcome.kind == CONFLICT:
            return error_reply(422, "Request with the same idempotency key but different body")
        if outcome.kind == IN_FLIGHT:
            return error_reply(
                409,
                "Request with the same idempotency key is being processed",
                {"Retry-After": "1"},
            )
        reply: Optional[Reply] = None
        try:
            self._sleep_once(path, note)
            reply = route.handler(call)
        finally:
            self._idempotency.finish(path, key, digest, reply)
        reply.headers["Idempotency-Key"] = key
        return reply
