"""Injected faults: a FIFO queue of "the next N matching requests fail / are late / are dropped".

``fail`` answers with a chosen status and does not process the request. ``delay`` sleeps and
then processes normally. ``drop`` processes (and stores) the request, then closes the socket
without answering: the ambiguous failure a client must retry with the same idempotency key.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any, Optional

from .wire import Reply, encode_json, error_body

KINDS = ("fail", "delay", "drop")
MAX_COUNT = 1_000_000
MAX_DELAY_SECONDS = 3600.0


def _header_safe(value: Any) -> bool:
    # A line break in a name or value would let a fault spec write arbitrary response lines.
    return isinstance(value, str) and "\r" not in value and "\n" not in value


@dataclass
class Fault:
    """One injected fault, applied to the next ``count`` requests whose path starts with ``path``."""

    kind: str
    count: int
    status: Optional[int] = None
    headers: dict[str, str] = field(default_factory=dict)
    body: Any = None
    seconds: float = 0.0
    path: Optional[str] = None

    def __post_init__(self) -> None:
        # Validated here so the Python API and the HTTP control API reject the same things.
        if self.kind not in KINDS:
            raise ValueError(f"kind must be one of {', '.join(KINDS)}, got {self.kind!r}")
        if (
            isinstance(self.count, bool)
            or not isinstance(self.count, int)
            or not 1 <= self.count <= MAX_COUNT
        ):
            raise ValueError(f"count must be an integer from 1 to {MAX_COUNT}, got {self.count!r}")
        if self.kind == "fail" and not (
            isinstance(self.status, int)
            and not isinstance(self.status, bool)
            and 100 <= self.status <= 599
        ):
            raise ValueError(f"status must be an HTTP status code (100-599), got {self.status!r}")
        if self.kind == "delay" and not (
            isinstance(self.seconds, (int, float))
            and not isinstance(self.seconds, bool)
            and 0 <= self.seconds <= MAX_DELAY_SECONDS  # False for NaN and infinity
        ):
            raise ValueError(
                f"seconds must be a number from 0 to {MAX_DELAY_SECONDS:g}, got {self.seconds!r}"
            )
        if self.path is not None and not isinstance(self.path, str):
            raise ValueError(f"path must be a string prefix or None, got {self.path!r}")
        if not isinstance(self.headers, dict) or not all(
            _header_safe(k) and _header_safe(v) and k.strip() for k, v in self.headers.items()
        ):
            raise ValueError("headers must map header names to string values (no line breaks)")

    def matches(self, path: str) -> bool:
        """True if this fault applies to a request for ``path``."""
        return self.path is None or path.startswith(self.path)

    def reply(self) -> Reply:
        """The answer of a ``fail`` fault: its body (NestJS error shape by default) and headers."""
        status = self.status or 500
        if isinstance(self.body, bytes):
            body = self.body
        elif isinstance(self.body, str):
            body = self.body.encode("utf-8")
        else:
            body = encode_json(
                error_body(status, "Injected fault") if self.body is None else self.body
            )
        headers = {"Content-Type": "application/json; charset=utf-8"}
        # A caller's Content-Type (any spelling) replaces the default.
        if any(name.lower() == "content-type" for name in self.headers):
            headers.clear()
        headers.update(self.headers)
        return Reply(status, body, headers)

    def describe(self) -> dict[str, Any]:
        """A JSON-able view of the pending fault."""
        view: dict[str, Any] = {"kind": self.kind, "count": self.count, "path": self.path}
        if self.kind == "fail":
            view.update(status=self.status, headers=dict(self.headers))
        if self.kind == "delay":
            view["seconds"] = self.seconds
        return view


class FaultQueue:
    """Pending faults in injection order; ``sleep`` serves delays that clearing cuts short."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._pending: list[Fault] = []
        self._generation = 0  # bumped by clear(): delays in progress end early

    def add(self, fault: Fault) -> None:
        """Queue ``fault`` after those already pending."""
        with self._cond:
            self._pending.append(fault)

    def take(self, path: str) -> Optional[Fault]:
        """Consume one use of the first pending fault matching ``path``, if any."""
        with self._cond:
            for fault in self._pending:
                if fault.matches(path):
                    fault.count -= 1
                    if fault.count == 0:
                        self._pending.remove(fault)
                    return fault
        return None

    def pending(self) -> list[dict[str, Any]]:
        """Descriptions of the faults still waiting, in order."""
        with self._cond:
            return [fault.describe() for fault in self._pending]

    def clear(self) -> int:
        """Drop every pending fault and wake delays in progress; return how many were dropped."""
        with self._cond:
            dropped = len(self._pending)
            self._pending.clear()
        self.wake()
        return dropped

    def wake(self) -> None:
        """End the delays in progress now (on clear and on shutdown)."""
        with self._cond:
            self._generation += 1
            self._cond.notify_all()

    @property
    def generation(self) -> int:
        """How many times delays were ended: read when a delay is taken, given to :meth:`sleep`."""
        with self._cond:
            return self._generation

    def sleep(self, seconds: float, since: int) -> bool:
        """Wait ``seconds``, or less if ``wake()`` was called since ``generation`` read ``since``;
        whether it was cut short.

        A clear that comes after the delay was taken and before its sleep began (a test sees
        the request and clears at once) ends it too.
        """
        with self._cond:
            return self._cond.wait_for(lambda: self._generation != since, timeout=seconds)
