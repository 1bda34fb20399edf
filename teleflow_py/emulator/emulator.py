"""``Emulator``: start, stop, break and inspect a local Teleflow service; ``serve`` for a terminal."""

from __future__ import annotations

import threading
import time
from types import TracebackType
from typing import Any, Iterable, Optional

from .app import Service
from .faults import Fault
from .server import EmulatorHTTPServer

DEFAULT_MAX_BODY_BYTES = 5 * 1024 * 1024


class Emulator:
    """A Teleflow API emulator on a local port, in a background thread.

    Use ``start()``/``stop()`` or ``with Emulator() as emu:``. Faults (``fail_next``,
    ``delay_next``, ``drop_next``, ``go_down``) apply to the next matching API requests in
    the order they were injected. Inspection methods return copies (plain lists of dicts) and
    keep working after ``stop()``.

    ``port=0`` picks a free port; ``db_path`` keeps everything in SQLite across restarts;
    ``known_workflows`` makes other workflow names a 422; ``rate_limit`` allows that many
    ``/v1`` requests per ``rate_limit_window`` seconds; ``batch_event_limit`` makes larger
    analytics batches a 413; ``api_keys`` accepts only those keys (any key when ``None``).
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        db_path: Optional[str] = None,
        known_workflows: Optional[Iterable[str]] = None,
        rate_limit: Optional[int] = None,
        max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
        batch_event_limit: Optional[int] = None,
        rate_limit_window: float = 1.0,
        api_keys: Optional[Iterable[str]] = None,
    ) -> None:
        _check_limit("batch_event_limit", batch_event_limit)
        _check_limit("max_body_bytes", max_body_bytes)
        self._host = host
        self._port = port
        self._max_body_bytes = max_body_bytes
        self._service = Service(
            db_path=db_path,
            known_workflows=known_workflows,
            rate_limit=rate_limit,
            rate_limit_window=rate_limit_window,
            batch_event_limit=batch_event_limit,
            api_keys=api_keys,
        )
        self._lock = threading.Lock()
        self._started = False
        self._server: Optional[EmulatorHTTPServer] = None
        self._thread: Optional[threading.Thread] = None

    # -- lifecycle ------------------------------------------------------------------------

    def start(self) -> Emulator:
        """Listen and serve in a background thread; return self.

        Raises RuntimeError if already started, OSError if the port cannot be bound.
        """
        with self._lock:
            if self._started:
                raise RuntimeError("emulator already started")
            self._listen()
            self._started = True
        return self

    def stop(self) -> None:
        """Stop serving, close open connections and end delays in progress. Idempotent."""
        with self._lock:
            if not self._started:
                return
            self._started = False
            self._service.faults.wake()
            self._unlisten()

    def go_down(self) -> None:
        """Refuse connections (the port is closed) and cut open ones, until ``come_back()``."""
        with self._lock:
            self._require_started()
            self._unlisten()

    def come_back(self) -> None:
        """Listen again on the same port after ``go_down()``."""
        with self._lock:
            self._require_started()
            if self._server is None:
                self._listen()

    def __enter__(self) -> Emulator:
        return self.start()

    def __exit__(
        self,
        exc_type: Optional[type[BaseException]],
        exc: Optional[BaseException],
        traceback: Optional[TracebackType],
    ) -> None:
        self.stop()

    def _require_started(self) -> None:
        if not self._started:
            raise RuntimeError("emulator not started")

    def _listen(self) -> None:
        server = EmulatorHTTPServer((self._host, self._port), self._service, self._max_body_bytes)
        # Remember the port chosen for 0: come_back() and a restart use the same one.
        self._port = int(server.server_address[1])
        thread = threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": 0.02},  # how long stop() waits for the loop
            name=f"teleflow-emulator-{self._port}",
            daemon=True,
        )
        thread.start()
        self._server, self._thread = server, thread

    def _unlisten(self) -> None:
        server, thread = self._server, self._thread
        self._server, self._thread = None, None
        if server is None or thread is None:
            return
        server.shutdown()
        server.server_close()
        server.close_open_connections()
        thread.join()

    @property
    def port(self) -> int:
        """The TCP port (the chosen one when constructed with 0). RuntimeError before start."""
        if not self._port:
            raise RuntimeError("emulator not started: no port chosen yet")
        return self._port

    @property
    def url(self) -> str:
        """Base URL, e.g. ``http://127.0.0.1:4010``. RuntimeError before start."""
        host = f"[{self._host}]" if ":" in self._host else self._host
        return f"http://{host}:{self.port}"

    # -- faults ---------------------------------------------------------------------------

    def fail_next(
        self,
        count: int,
        status: int,
        headers: Optional[dict[str, str]] = None,
        body: Any = None,
        path: Optional[str] = None,
    ) -> None:
        """Answer the next ``count`` requests (whose path starts with ``path``) with ``status``.

        ``body`` is JSON-encoded unless str/bytes (default: the NestJS error shape). The
        request is not processed. Raises ValueError for a bad count, status or headers.
        """
        self._service.faults.add(Fault("fail", count, status, dict(headers or {}), body, 0.0, path))

    def delay_next(self, count: int, seconds: float, path: Optional[str] = None) -> None:
        """Answer the next ``count`` matching requests ``seconds`` late (they are processed).

        ``clear_faults()`` and ``stop()`` end delays in progress. Raises ValueError.
        """
        self._service.faults.add(Fault("delay", count, seconds=seconds, path=path))

    def drop_next(self, count: int, path: Optional[str] = None) -> None:
        """Process and store the next ``count`` matching requests, then close without answering.

        Raises ValueError for a bad count.
        """
        self._service.faults.add(Fault("drop", count, path=path))

    def set_batch_event_limit(self, limit: Optional[int]) -> None:
        """Make analytics batches of more than ``limit`` events a 413 (None: no limit)."""
        _check_limit("limit", limit)
        self._service.settings.batch_event_limit = limit

    def clear_faults(self) -> None:
        """Drop pending faults and end delays in progress."""
        self._service.faults.clear()

    def pending_faults(self) -> list[dict[str, Any]]:
        """Faults injected and not yet used up, in order."""
        return self._service.faults.pending()

    def reset(self) -> None:
        """Forget everything received, every counter and pending fault."""
        self._service.reset()

    # -- inspection -----------------------------------------------------------------------

    def requests(
        self, path: Optional[str] = None, method: Optional[str] = None
    ) -> list[dict[str, Any]]:
        """Every API request received, in order (exact ``path`` / ``method`` filters).

        Each: method, path, headers (lower-case; Authorization masked), body (parsed JSON or
        None), raw_body, status (None when dropped), fault, replayed, at.
        """
        return self._service.store.requests(path, method)

    def triggers(self, name: Optional[str] = None) -> list[dict[str, Any]]:
        """Triggered notifications (single and each processed bulk event), in order."""
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


def _check_limit(name: str, value: Optional[int]) -> None:
    if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
        raise ValueError(f"{name} must be an integer >= 1 or None, got {value!r}")


def serve(
    host: str = "127.0.0.1",
    port: int = 4010,
    db_path: Optional[str] = None,
    known_workflows: Optional[Iterable[str]] = None,
    rate_limit: Optional[int] = None,
) -> None:
    """Run an emulator in the foreground, print its URL, block until Ctrl-C.

    Raises OSError if the port cannot be bound.
    """
    emulator = Emulator(
        host, port, db_path=db_path, known_workflows=known_workflows, rate_limit=rate_limit
    )
    emulator.start()
    print(
        f"Teleflow emulator on {emulator.url} (dashboard: {emulator.url}/), Ctrl-C to stop",
        flush=True,
    )
    try:
        while True:
            time.sleep(3600)  # a plain sleep, unlike Event.wait, is interruptible everywhere
    except KeyboardInterrupt:
        pass
    finally:
        emulator.stop()
