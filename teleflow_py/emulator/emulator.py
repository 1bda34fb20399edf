"""``Emulator``: start, stop, break and inspect a local Teleflow service (``command.py`` runs
one in a terminal)."""

from __future__ import annotations

import threading
import warnings
from types import TracebackType
from typing import Any, Callable, Iterable, Mapping, Optional, Union

from .app import Service
from .faults import Fault
from .guard import Guard, is_loopback
from .inspection import Inspection
from .ratelimit import WINDOW_SECONDS, RateLimiter
from .server import BODY_READ_TIMEOUT, EmulatorHTTPServer
from .settings import FORK, Workflow, build_settings
from .store import StoreLimits

# The server's body-parser limit on /v1/events (apps/api/src/bootstrap.ts: '20mb').
DEFAULT_MAX_BODY_BYTES = 20 * 1024 * 1024


class Emulator(Inspection):
    """A Teleflow API emulator on a local port, in a background thread.

    Use ``start()``/``stop()`` or ``with Emulator() as emu:``. Faults (``fail_next``,
    ``delay_next``, ``drop_next``, ``go_down``) apply to the next matching API requests in
    the order they were injected. Inspection methods return copies (plain lists of dicts) and
    keep working after ``stop()``.

    Args:
        host: the address to listen on (a non-loopback address warns: anyone who can reach
            it can read what it stored).
        port: the TCP port; 0 picks a free one.
        db_path: keep everything in this SQLite file, across restarts (None: memory).
        known_workflows: the workflow names that exist; others are ``workflow_not_found``
            (None: every name exists).
        idempotency: honour ``Idempotency-Key`` on the Events routes, as the hosted service
            does (the server's ``IS_API_IDEMPOTENCY_ENABLED``; False in a self-hosted
            server's ``.env.production``: the header is ignored and never echoed).
        rate_limiting: limit each API key with the server's token buckets and send the
            ``RateLimit-*`` headers, as the hosted service does (``IS_API_RATE_LIMITING_ENABLED``;
            False self-hosted).
        rate_limit_tier: ``"unlimited"`` (default: the level of an organisation with none),
            ``"free"`` (a new hosted organisation), ``"business"``, ``"enterprise"``, or a
            number: tokens per window in every category (service level ``custom``).
        rate_limit_window: the bucket's window in seconds (1, as on the server).
        event_quota: after this many triggered events the events routes answer 402 Payment
            Required (None: no quota, as self-hosted; 0: every request, as the fork with
            ``IS_EVENT_RESOURCE_LIMITING_ENABLED``).
        max_body_bytes: larger bodies are a 413 (20 MB, as on the server).
        batch_event_limit: analytics batches with more events are a 413 (None: no limit).
        api_keys: accept only these keys (None: any key).
        server_version: ``"fork"``/``"2024-05"`` (default: NxPKG/teleflow at 2066d4c74) or
            ``"latest"``/``"2024-10"`` (Novu: ``timestamp``/``path`` in error bodies).
        workflows: per-workflow set-up, name to :class:`Workflow` or a dict of its fields
            (``active``, ``steps``, ``active_steps``, ``tenant_required``, ``delayed``).
        tenants: the tenant identifiers that exist; a trigger naming another is
            ``no_tenant_found`` (None: every tenant exists).
        allowed_hosts: more ``Host`` names the dashboard and control routes answer to.
        max_stored_rows: rows each stored table keeps before dropping its oldest.
        max_stored_bytes: bytes each stored table keeps before dropping its oldest.
        request_log: called with one line per API request (None: silent).
        body_read_timeout: seconds a client has to send a whole body, however slowly it
            trickles in; then the request is refused (400) and the connection closed.

    Raises:
        ValueError: for a bad limit, server version or workflow set-up.
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        db_path: Optional[str] = None,
        known_workflows: Optional[Iterable[str]] = None,
        idempotency: bool = True,
        rate_limiting: bool = True,
        rate_limit_tier: Union[str, int] = "unlimited",
        rate_limit_window: float = WINDOW_SECONDS,
        event_quota: Optional[int] = None,
        max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
        batch_event_limit: Optional[int] = None,
        api_keys: Optional[Iterable[str]] = None,
        server_version: str = FORK,
        workflows: Optional[Mapping[str, Any]] = None,
        tenants: Optional[Iterable[str]] = None,
        allowed_hosts: Iterable[str] = (),
        max_stored_rows: int = StoreLimits.max_rows,
        max_stored_bytes: int = StoreLimits.max_bytes,
        request_log: Optional[Callable[[str], None]] = None,
        body_read_timeout: float = BODY_READ_TIMEOUT,
    ) -> None:
        _check_limit("batch_event_limit", batch_event_limit)
        _check_limit("max_body_bytes", max_body_bytes)
        _check_limit("max_stored_rows", max_stored_rows)
        _check_limit("max_stored_bytes", max_stored_bytes)
        self._host = host
        self._port = port
        self._max_body_bytes = max_body_bytes
        if not 0 < body_read_timeout <= 3600:
            raise ValueError(f"body_read_timeout must be in (0, 3600] s, got {body_read_timeout!r}")
        self._body_read_timeout = body_read_timeout
        settings = build_settings(
            server_version, known_workflows, workflows, tenants, api_keys, batch_event_limit
        )
        for name, flag in (("idempotency", idempotency), ("rate_limiting", rate_limiting)):
            if not isinstance(flag, bool):
                raise ValueError(f"{name} must be True or False, got {flag!r}")
        settings.idempotency = idempotency
        _check_quota(event_quota)
        settings.event_quota = event_quota
        limiter = RateLimiter(rate_limit_tier, rate_limit_window) if rate_limiting else None
        settings.rate_limit_tier = None if limiter is None else str(limiter.tier)
        self._service = Service(
            settings,
            db_path=db_path,
            limiter=limiter,
            guard=Guard(host, allowed_hosts),
            store_limits=StoreLimits(max_stored_rows, max_stored_bytes),
            log_line=request_log,
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
        if not is_loopback(self._host):
            warnings.warn(
                f"the emulator listens on {self._host}, beyond this machine: anyone who can "
                "reach it can read every stored payload. Bind 127.0.0.1 unless you mean it.",
                RuntimeWarning,
                stacklevel=2,
            )
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
        server = EmulatorHTTPServer(
            (self._host, self._port), self._service, self._max_body_bytes, self._body_read_timeout
        )
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
        """Answer the next ``count`` matching requests with ``status``, unprocessed.

        Like a gateway in front of the server: nothing is kept for an idempotency key.

        Args:
            count: how many requests (1 to 1,000,000).
            status: the HTTP status to answer.
            headers: response headers to add (e.g. ``Retry-After``).
            body: JSON-encoded unless str/bytes (default: the NestJS error shape).
            path: apply only to paths starting with this (None: any API path).

        Raises:
            ValueError: for a bad count, status or headers.
        """
        self._service.faults.add(Fault("fail", count, status, dict(headers or {}), body, 0.0, path))

    def delay_next(self, count: int, seconds: float, path: Optional[str] = None) -> None:
        """Answer the next ``count`` matching requests ``seconds`` late (they are processed).

        ``clear_faults()`` and ``stop()`` end delays in progress.

        Args:
            count: how many requests.
            seconds: how late (0 to 3600).
            path: apply only to paths starting with this (None: any API path).

        Raises:
            ValueError: for a bad count or delay.
        """
        self._service.faults.add(Fault("delay", count, seconds=seconds, path=path))

    def drop_next(self, count: int, path: Optional[str] = None) -> None:
        """Process and store the next ``count`` matching requests, then close without answering.

        The fault "drop the connection after processing": the answer is lost after the server
        did the work (its idempotency key, when honoured, keeps the answer for a resend).

        Args:
            count: how many requests.
            path: apply only to paths starting with this (None: any API path).

        Raises:
            ValueError: for a bad count.
        """
        self._service.faults.add(Fault("drop", count, path=path))

    def set_event_quota(self, quota: Optional[int]) -> None:
        """Answer 402 on the events routes once ``quota`` events were triggered (None: never).

        Args:
            quota: how many events (triggers, bulk events, broadcasts) the quota allows.

        Raises:
            ValueError: for a quota below 0.
        """
        _check_quota(quota)
        self._service.settings.event_quota = quota

    def set_batch_event_limit(self, limit: Optional[int]) -> None:
        """Make analytics batches of more than ``limit`` events a 413 (None: no limit).

        Args:
            limit: the largest batch accepted.

        Raises:
            ValueError: for a limit below 1.
        """
        _check_limit("limit", limit)
        self._service.settings.batch_event_limit = limit

    def set_workflow(
        self,
        name: str,
        *,
        active: bool = True,
        steps: int = 1,
        active_steps: Optional[int] = None,
        tenant_required: bool = False,
        delayed: bool = False,
    ) -> None:
        """Set up workflow ``name`` so triggers get the answer the server would give.

        Args:
            name: the workflow (trigger identifier); it exists from now on.
            active: False: triggers answer ``trigger_not_active``.
            steps: 0: ``no_workflow_steps_defined``.
            active_steps: 0: ``no_workflow_active_steps_defined`` (default: all active).
            tenant_required: a trigger without a tenant identifier is a 400.
            delayed: it has a delay or digest step: cancel returns true while it is pending.

        Raises:
            ValueError: for a value of the wrong type or out of range.
        """
        workflow = Workflow(active, steps, active_steps, tenant_required, delayed)
        self._service.settings.set_workflow(name, workflow)

    def settings(self) -> dict[str, Any]:
        """The emulated server's settings: server_version, workflows, tenants, limits."""
        return self._service.settings.describe()

    def clear_faults(self) -> None:
        """Drop pending faults and end delays in progress."""
        self._service.faults.clear()

    def pending_faults(self) -> list[dict[str, Any]]:
        """Faults injected and not yet used up, in order."""
        return self._service.faults.pending()

    def reset(self) -> None:
        """Forget everything received, every counter and pending fault."""
        self._service.reset()


def _check_quota(value: Optional[int]) -> None:
    if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 0):
        raise ValueError(f"event_quota must be an integer >= 0 or None, got {value!r}")


def _check_limit(name: str, value: Optional[int]) -> None:
    if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
        raise ValueError(f"{name} must be an integer >= 1 or None, got {value!r}")
