"""A small loopback server for the analytics tests, with fault injection and a raw log.

Unlike the emulator it deduplicates nothing: every request is logged as received, so a
message sent twice shows up twice (``deliveries()``). Faults are queued per path and
consumed one request at a time, in order.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable, Dict, List, Optional

from refused_port import refused_url

API_KEY = "sk_test_analytics_0123456789"
EVENTS = "/v1/events/batch"
ALIAS = "/v1/identify/alias"
# Only a guard against hanging forever; no test asserts how long anything took.
HANG_GUARD = 30.0


class Fault:
    """What to do with one matching request instead of answering normally."""

    def __init__(
        self,
        status: Optional[int] = None,
        headers: Optional[Dict[str, str]] = None,
        delay: float = 0.0,
        hang_up: bool = False,
        path: Optional[str] = None,
        raw_body: Optional[bytes] = None,
    ) -> None:
        self.status = status
        self.headers = headers or {}
        self.delay = delay
        self.hang_up = hang_up
        self.path = path
        #: Sent as is instead of a JSON answer (with ``headers`` as its only headers).
        self.raw_body = raw_body


class LoopbackServer:
    """Answers the analytics endpoints like the API and logs every request it receives."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._faults: List[Fault] = []
        self._log: List[Dict[str, Any]] = []
        self.batch_event_limit: Optional[int] = None
        self.wrap_in_data = False
        #: Events for which this returns a message are refused one by one in a 2xx answer.
        self.reject_event: Optional[Callable[[Dict[str, Any]], Optional[str]]] = None
        self.always_status: Optional[int] = None
        # While set to an event not yet set, requests are read and logged but not answered
        # (only those the filter picks, when there is one).
        self._gate: Optional[threading.Event] = None
        self._held: Optional[Callable[[Dict[str, Any]], bool]] = None
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        self.url = f"http://127.0.0.1:{self._httpd.server_address[1]}"

    def close(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()

    # -- fault injection ----------------------------------------------------------------

    def fail_next(
        self, count: int, status: int, headers: Optional[Dict[str, str]] = None, path: str = EVENTS
    ) -> None:
        with self._lock:
            self._faults += [Fault(status=status, headers=headers, path=path)] * count

    def answer_next(
        self,
        count: int,
        status: int,
        raw_body: bytes,
        content_type: str = "text/html",
        path: str = EVENTS,
    ) -> None:
        """Answer the next ``count`` requests with ``status`` and exactly ``raw_body``."""
        with self._lock:
            headers = {"Content-Type": content_type} if content_type else {}
            self._faults += [
                Fault(status=status, headers=headers, raw_body=raw_body, path=path)
            ] * count

    def hang_up_next(self, count: int, path: str = EVENTS) -> None:
        """Read the request, then close the connection without answering."""
        with self._lock:
            self._faults += [Fault(hang_up=True, path=path)] * count

    def hold_answers(
        self, only: Optional[Callable[[Dict[str, Any]], bool]] = None
    ) -> threading.Event:
        """Read and log requests but answer none until the returned event is set.

        ``only``: hold just the requests it returns true for (given the logged request,
        ``headers`` with lower-case names); the others are answered at once.
        """
        gate = threading.Event()
        self._held = only
        self._gate = gate
        return gate

    def _take_fault(self, path: str) -> Optional[Fault]:
        with self._lock:
            for index, fault in enumerate(self._faults):
                if fault.path in (None, path):
                    return self._faults.pop(index)
        return None

    # -- what was received --------------------------------------------------------------

    def requests(self, path: Optional[str] = None) -> List[Dict[str, Any]]:
        with self._lock:
            return [dict(r) for r in self._log if path is None or r["path"] == path]

    def answered(self, path: str = EVENTS) -> List[Dict[str, Any]]:
        """Requests answered 2xx with the endpoint's JSON, in the order received."""
        return [r for r in self.requests(path) if 200 <= r["status"] < 300 and not r["raw"]]

    def delivered_events(self) -> List[Dict[str, Any]]:
        """Every event in a 2xx-answered batch, duplicates included, in arrival order."""
        return [e for r in self.answered(EVENTS) for e in r["body"]["events"]]

    def deliveries(self) -> Counter[str]:
        """How many times each message_id arrived in a 2xx-answered batch."""
        return Counter(e["message_id"] for e in self.delivered_events())

    def wait_for_requests(self, count: int, timeout: float = HANG_GUARD) -> None:
        end = time.monotonic() + timeout
        while len(self.requests()) < count:
            if time.monotonic() > end:
                raise AssertionError(f"expected {count} requests, got {len(self.requests())}")
            time.sleep(0.01)

    def wait_for_events(self, count: int, timeout: float = HANG_GUARD) -> List[Dict[str, Any]]:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            events = self.delivered_events()
            if len(events) >= count:
                return events
            time.sleep(0.01)
        raise AssertionError(f"expected {count} events, got {len(self.delivered_events())}")

    # -- the handler --------------------------------------------------------------------

    def _handler_class(self) -> type:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def setup(self) -> None:
                super().setup()
                # Answers go out in two writes; without this, Nagle's algorithm and
                # delayed ACKs add 40 ms to each.
                self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length)
                try:
                    body = json.loads(raw)
                except ValueError:
                    body = raw.decode("utf-8", "replace")
                fault = server._take_fault(self.path)
                status, answer, extra = server._answer(self.path, body, fault)
                entry = {
                    "method": "POST",
                    "path": self.path,
                    "headers": {k.lower(): v for k, v in self.headers.items()},
                    "body": body,
                    "status": status if fault is None or not fault.hang_up else 0,
                    # An answer that is not the endpoint's JSON accepts nothing.
                    "raw": fault is not None and fault.raw_body is not None,
                }
                with server._lock:
                    server._log.append(entry)
                gate, only = server._gate, server._held
                if gate is not None and (only is None or only(entry)):
                    gate.wait(HANG_GUARD)
                if fault is not None and fault.hang_up:
                    self.close_connection = True
                    self.connection.shutdown(socket.SHUT_RDWR)
                    return
                if fault is not None and fault.raw_body is not None:
                    self.send_response(status)
                    for name, value in fault.headers.items():
                        self.send_header(name, value)
                    if status != 204:
                        self.send_header("Content-Length", str(len(fault.raw_body)))
                    self.end_headers()
                    self.wfile.write(fault.raw_body)
                    return
                payload = json.dumps(answer).encode()
                self.send_response(status)
                for name, value in extra.items():
                    self.send_header(name, value)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

        return Handler

    def _answer(
        self, path: str, body: Any, fault: Optional[Fault]
    ) -> tuple[int, Any, Dict[str, str]]:
        if fault is not None and fault.status is not None:
            return fault.status, {"message": f"injected {fault.status}"}, fault.headers
        if self.always_status is not None:
            return self.always_status, {"message": "always failing"}, {}
        if path == ALIAS:
            return 200, {"alias": body}, {}
        events = body["events"]
        if self.batch_event_limit is not None and len(events) > self.batch_event_limit:
            return 413, {"message": "too many events"}, {}
        errors = []
        for index, event in enumerate(events):
            reason = self.reject_event(event) if self.reject_event else None
            if reason:
                errors.append({"index": index, "message": reason})
        answer = {"accepted": len(events) - len(errors), "rejected": len(errors), "errors": errors}
        return 200, ({"data": answer} if self.wrap_in_data else answer), {}


def fast_retry(milliseconds: int = 10) -> Dict[str, str]:
    """Headers telling the client to retry after ``milliseconds`` (keeps tests quick)."""
    return {"X-Secondly-Retry-After": str(milliseconds)}


def unused_port_url() -> str:
    """A loopback URL nothing listens on: every connection is refused (its port held)."""
    return refused_url()
