"""The request pipeline: what happens to a framed request, in which order.

Control routes (``/``, ``/static/*``, ``/emulator/*``) pass the ``Guard`` (Host, cross-site)
and go to ``ControlApi``. An API request goes through the order of the real server
(NxPKG/teleflow ``apps/api/src/bootstrap.ts`` and ``app.module.ts``: body-parser middleware,
routing, the auth guard, then the ``APP_INTERCEPTOR`` providers in order: rate limit,
resource throttler, idempotency; then the validation pipe and the handler):

1. log it (every request, including faulted and dropped ones) and, if it carries an
   idempotency key already used by that API key, count a retry;
2. take the first matching injected fault: ``fail`` answers now, like a gateway in front of
   the server: nothing processed, nothing kept for the key;
3. decode the body (400 for broken JSON; a form is read as ``qs`` reads it; another content
   type leaves it ``{}``);
4. route (404), authenticate (401);
5. rate limit (when on): a 429, nothing processed;
6. event quota (when set, events routes): a 402, nothing processed;
7. idempotency (when on, for ``Idempotency-Key``): 409 while in progress, 422 on a different
   body, else replay the kept answer; when off the header is ignored;
8. a ``delay`` fault sleeps here, with the key already in progress;
9. the endpoint validates and handles it; its answer, error or not, is kept for the key;
10. a ``drop`` fault closes the socket instead of answering (the request was processed).
"""

from __future__ import annotations

import sys
import threading
import time
import traceback
from dataclasses import dataclass
from typing import Any, Callable, Optional

from .access import api_key_of, authenticate, quota_refusal
from .api import EVENTS_KEY_HEADER, Call, EventsApi, Route
from .control import ControlApi, is_control_path
from .faults import Fault, FaultQueue
from .forms import form_value
from .guard import Guard
from .idempotency import (
    CONFLICT,
    DOCS_LINK,
    IN_FLIGHT,
    MAX_KEY_LENGTH,
    REPLAY,
    IdempotencyRegistry,
    conflict_message,
    fingerprint,
    in_flight_message,
    scope_of,
    too_long_message,
)
from .ratelimit import RateLimiter
from .settings import LATEST, Settings
from .store import Store, StoreLimits
from .wire import (
    Incoming,
    Reply,
    bare_error_reply,
    error_reply,
    parse_json_body,
    with_request_context,
)

# How much of a request body the log keeps (the whole body reached the endpoint).
MAX_LOGGED_BODY = 64 * 1024
_SECRET_HEADERS = ("authorization", "proxy-authorization", "x-api-key", "cookie")
_SCHEMES = {"apikey", "bearer", "basic", "token"}


@dataclass
class _Note:
    """What happened to one request, for its log entry."""

    fault: Optional[str] = None
    delay: Optional[Fault] = None
    since: int = 0  # the fault queue's generation when the delay was taken
    replayed: bool = False
    key: Optional[str] = None  # the key the request carries
    honoured: Optional[str] = None  # the key idempotency acts on (None when off)


def masked_headers(headers: dict[str, str]) -> dict[str, str]:
    """``headers`` with every credential hidden, whatever its scheme (the scheme is kept)."""
    shown = dict(headers)
    for name in _SECRET_HEADERS:
        if name in shown:
            words = shown[name].strip().split(None, 1)
            keep = words[0] if words and words[0].lower() in _SCHEMES and len(words) > 1 else ""
            shown[name] = f"{keep} ***".strip()
    return shown


def _request_body(incoming: Incoming) -> tuple[Any, Optional[Reply]]:
    """The body as body-parser leaves it: JSON, a form (``urlencoded({extended: true})``) or
    ``{}`` for any other content type."""
    media_type = incoming.headers.get("content-type", "").split(";")[0].strip().lower()
    if media_type != "application/x-www-form-urlencoded" or not incoming.raw_body:
        return parse_json_body(incoming)
    value, problem = form_value(incoming.raw_body)
    return (value, None) if problem is None else (None, error_reply(413, problem))


class Service:
    """The emulated service: its storage, faults, limits, and the pipeline above.

    Args:
        settings: what the emulated server is (version, workflows, tenants, keys).
        db_path: a SQLite file to keep everything in (None: memory).
        limiter: the rate limiter, or None for no rate limiting.
        guard: the checks of control routes.
        store_limits: how much each table keeps.
        log_line: called with one line per API request (None: silent).
    """

    def __init__(
        self,
        settings: Settings,
        db_path: Optional[str] = None,
        limiter: Optional[RateLimiter] = None,
        guard: Optional[Guard] = None,
        store_limits: Optional[StoreLimits] = None,
        log_line: Optional[Callable[[str], None]] = None,
    ) -> None:
        self.settings = settings
        self.store = Store(db_path, store_limits or StoreLimits())
        self.faults = FaultQueue()
        self.limiter = limiter
        self._guard = guard or Guard("127.0.0.1")
        self._log_line = log_line
        self._idempotency = IdempotencyRegistry(self.store)
        self._api = EventsApi(self.store, settings)
        self._control = ControlApi(self.store, self.faults, settings, self.reset, self.stats)
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
        """Forget every request, record, counter and pending fault; free their memory."""
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
            if incoming.method == "HEAD":  # Express answers HEAD with the GET route
                incoming.method = "GET"
            try:
                reply = self._guard.check(incoming) or self._control.handle(incoming)
            except Exception:
                # Same promise as the API routes: every request gets an answer.
                traceback.print_exc(file=sys.stderr)
                reply = error_reply(500, "Internal server error")
            if incoming.method != "GET":
                self._say(incoming, reply, 0.0, _Note())
            return reply
        started = time.monotonic()
        route = self._api.match(incoming.method, incoming.path)
        seq = self._log(incoming, route)
        note = _Note()
        try:
            reply = self._guarded(incoming, route, note)
        except Exception:
            # An emulator bug must show up in the test output, not kill the connection thread.
            traceback.print_exc(file=sys.stderr)
            reply = error_reply(500, "Internal server error")
        self._dress(reply, incoming)
        self.store.finish_request(
            seq, None if reply.drop else reply.status, note.fault, note.replayed
        )
        self._say(incoming, reply, time.monotonic() - started, note)
        return reply

    def reject(self, incoming: Incoming, status: int, message: str) -> Reply:
        """Answer a request the socket layer could not frame (411/413/400) and end the connection."""
        reply = error_reply(status, message)
        reply.close = True
        if not is_control_path(incoming.path):
            seq = self._log(incoming, self._api.match(incoming.method, incoming.path))
            self.store.finish_request(seq, status, None, False)
        self._dress(reply, incoming)
        self._say(incoming, reply, 0.0, _Note())
        return reply

    def _dress(self, reply: Reply, incoming: Incoming) -> None:
        if self.settings.server_version == LATEST and reply.error is not None:
            shown = f"{incoming.path}?{incoming.query}" if incoming.query else incoming.path
            stamp = time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime())
            with_request_context(reply, shown, stamp)
        reply.error = None

    def _say(self, incoming: Incoming, reply: Reply, seconds: float, note: _Note) -> None:
        if self._log_line is None:
            return
        status = "dropped" if reply.drop else str(reply.status)
        extras = [f"key={note.key}"] if note.key else []
        extras += ["replay"] if note.replayed else []
        extras += [f"fault={note.fault}"] if note.fault else []
        line = f"{incoming.method} {incoming.path} {status} {seconds * 1000:.1f}ms"
        self._log_line(" ".join([line, *extras]))

    def _log(self, incoming: Incoming, route: Optional[Route]) -> int:
        raw = incoming.raw_body
        # An unknown route's body is never shown whole; a known one's up to a limit.
        shown = raw[:MAX_LOGGED_BODY] if route is not None else b""
        entry = {
            "method": incoming.method,
            "path": incoming.path,
            "query": incoming.query,
            "headers": masked_headers(incoming.headers),
            "raw_body": shown.decode("utf-8", "replace"),
            "body_size": len(raw),
            "truncated": len(shown) < len(raw),
            "idempotency_key": self._key(incoming, route),
            "at": time.time(),
        }
        return self.store.log_request(incoming.method, incoming.path, entry)

    @staticmethod
    def _key(incoming: Incoming, route: Optional[Route]) -> Optional[str]:
        if route is None or route.key_header is None or incoming.method != "POST":
            return None  # the interceptor acts on POST and PATCH; the API has no PATCH route
        # An empty key is no key (the server tests it for truthiness).
        return incoming.headers.get(route.key_header) or None

    @staticmethod
    def _scope(incoming: Incoming, route: Route) -> str:
        api_key = api_key_of(incoming)
        scope = scope_of(api_key if api_key is not None else incoming.headers["authorization"])
        # Analytics keys (Teleflow's own header) live beside the Events keys, not among them.
        return scope if route.key_header == "idempotency-key" else f"{scope}:{route.key_header}"

    def _honours(self, route: Route) -> bool:
        # IS_API_IDEMPOTENCY_ENABLED governs the interceptor's Idempotency-Key; the analytics
        # routes' X-Idempotency-Key is Teleflow's own and always honoured.
        return route.key_header != EVENTS_KEY_HEADER or self.settings.idempotency

    def _guarded(self, incoming: Incoming, route: Optional[Route], note: _Note) -> Reply:
        note.key = self._key(incoming, route)
        key = note.key
        if route is not None and key is not None and self._honours(route):
            note.honoured = key
        countable = key is not None and len(key) <= MAX_KEY_LENGTH
        if (
            route is not None
            and key is not None
            and countable
            and "authorization" in incoming.headers
        ):
            self._idempotency.note(self._scope(incoming, route), key)
        fault = self.faults.take(incoming.path)
        if fault is not None:
            note.fault = fault.kind
        if fault is not None and fault.kind == "fail":
            self._record_fault(fault, incoming.path, fault.status)
            return fault.reply()
        note.delay = fault if fault is not None and fault.kind == "delay" else None
        if note.delay is not None:
            note.since = self.faults.generation  # a clear from now on ends the delay
        reply = self._process(incoming, route, note)
        self._sleep_once(incoming.path, note)  # a delayed request refused early is late too
        if fault is not None and fault.kind == "drop":
            self._record_fault(fault, incoming.path, None)
            reply.drop = True
        return reply

    def _record_fault(self, fault: Fault, path: str, status: Optional[int]) -> None:
        self.store.add_record("fault", {"fault": fault.kind, "path": path, "status": status})

    def _sleep_once(self, path: str, note: _Note) -> None:
        if note.delay is not None:
            delay, note.delay = note.delay, None
            # Recorded before sleeping: a test can see the delay has begun and race it.
            self._record_fault(delay, path, None)
            self.faults.sleep(delay.seconds, note.since)

    def _process(self, incoming: Incoming, route: Optional[Route], note: _Note) -> Reply:
        body: Any = None
        if incoming.method in ("POST", "PUT", "PATCH"):
            body, problem = _request_body(incoming)
            if problem is not None:
                return problem
        if route is None:
            shown = f"{incoming.path}?{incoming.query}" if incoming.query else incoming.path
            return error_reply(404, f"Cannot {incoming.method} {shown}")
        refused = authenticate(incoming, self.settings.api_keys)
        if refused is not None:
            return refused
        if self.limiter is None:
            return self._metered(incoming, route, body, note)
        decision = self.limiter.hit(self._scope(incoming, route), route.category, route.cost)
        if not decision.allowed:
            # ThrottlerException carries a bare message: no "error" field in its body.
            reply = bare_error_reply(429, "API rate limit exceeded")
        else:
            reply = self._metered(incoming, route, body, note)
        for name, value in decision.headers.items():
            reply.headers.setdefault(name, value)
        return reply

    def _metered(self, incoming: Incoming, route: Route, body: Any, note: _Note) -> Reply:
        if route.resource == "events" and self.settings.event_quota is not None:
            counters = self.store.counters()
            used = counters["triggers"] + counters["broadcasts"]
            refused = quota_refusal(self.settings.event_quota, used)
            if refused is not None:
                return refused
        return self._keyed(incoming, route, body, note)

    def _call(self, route: Route, call: Call) -> Reply:
        try:
            return route.handler(call)
        except Exception:
            traceback.print_exc(file=sys.stderr)
            return error_reply(500, "Internal server error")

    def _keyed(self, incoming: Incoming, route: Route, body: Any, note: _Note) -> Reply:
        key = note.honoured
        call = Call(body, incoming.path, key, route.param)
        if key is None:
            self._sleep_once(incoming.path, note)
            return self._call(route, call)
        if len(key) > MAX_KEY_LENGTH:
            return error_reply(400, too_long_message(key))
        scope, digest = self._scope(incoming, route), fingerprint(body)
        outcome = self._idempotency.begin(scope, key, digest)
        if outcome.kind == IN_FLIGHT:
            headers = {"Idempotency-Key": key, "Retry-After": "1", "Link": DOCS_LINK}
            return error_reply(409, in_flight_message(key), headers)
        if outcome.kind == CONFLICT:
            headers = {"Idempotency-Key": key, "Link": DOCS_LINK}
            return error_reply(422, conflict_message(key), headers)
        if outcome.kind == REPLAY and outcome.stored is not None:
            note.replayed = True
            self.store.add_record("replay", {"path": incoming.path, "idempotency_key": key})
            headers = dict(outcome.stored.headers)
            headers.update({"Idempotency-Key": key, "Idempotency-Replay": "true"})
            return Reply(outcome.stored.status, outcome.stored.body, headers)
        reply = error_reply(500, "Internal server error")
        try:
            self._sleep_once(incoming.path, note)
            reply = self._call(route, call)
            self._dress(reply, incoming)
        finally:
            self._idempotency.finish(scope, key, digest, reply)
        reply.headers["Idempotency-Key"] = key
        return reply
