"""One timer per attempt: a single ``call_at`` handle bounds every phase of an exchange.

An attempt has phases with different bounds: waiting for one of the connections (only the
call's deadline bounds it), then the wait for the answer's head (``timeout``), then each
read of the body (``timeout`` again); never past the deadline. Moving an
``asyncio.timeout`` to each phase's end costs a new timer handle per phase, on every call.
:class:`AttemptTimer` instead keeps one handle, armed at the earliest moment the attempt
could expire; a phase change only writes down its end. When the handle fires it checks:
expired, the task is cancelled and the ``with`` block ends in ``asyncio.TimeoutError`` (as
``asyncio.timeout`` does); not yet, it re-arms for the real end. An exchange that goes
well (nearly every one) thus costs one handle, armed and cancelled, like aiohttp's own
session timeout it replaces.
"""

from __future__ import annotations

import asyncio
import sys
from types import TracebackType
from typing import Any, Optional, Type


class AttemptTimer:
    """The timer of one attempt, used as ``with AttemptTimer(...) as timer:`` in its task.

    Args:
        loop: the running loop.
        deadline_end: the loop time the call's deadline passes (``None``: no deadline).
        first_check: seconds from now to the earliest possible expiry (the first phase's
            bound, were it to start at once).
    """

    __slots__ = ("_cancelling", "_deadline_end", "_handle", "_loop", "_phase_end", "_task")

    def __init__(
        self, loop: asyncio.AbstractEventLoop, deadline_end: Optional[float], first_check: float
    ) -> None:
        self._loop = loop
        self._deadline_end = deadline_end
        self._phase_end: Optional[float] = None
        check = loop.time() + first_check
        self._task: Optional[asyncio.Task[Any]] = None
        self._cancelling = 0
        self._handle: Optional[asyncio.TimerHandle] = None
        self._arm(check if deadline_end is None else min(check, deadline_end))

    def __enter__(self) -> AttemptTimer:
        task = asyncio.current_task(self._loop)
        assert task is not None, "an attempt runs in a task"
        self._task = task
        if sys.version_info >= (3, 11):
            self._cancelling = task.cancelling()
        return self

    def phase(self, seconds: float) -> None:
        """The current phase must end within ``seconds`` from now (and the deadline)."""
        end = self._loop.time() + seconds
        self._phase_end = end
        handle = self._handle
        if handle is None or handle.when() > end:
            self._arm(end)

    def _end(self) -> Optional[float]:
        phase, deadline = self._phase_end, self._deadline_end
        if phase is None:
            return deadline
        return phase if deadline is None else min(phase, deadline)

    def _arm(self, when: float) -> None:
        if self._handle is not None:
            self._handle.cancel()
        self._handle = self._loop.call_at(when, self._check)

    def _check(self) -> None:
        self._handle = None
        end = self._end()
        if end is not None and self._loop.time() >= end:
            self._expire()
        elif end is not None:
            self._arm(end)

    def _expire(self) -> None:
        self._deadline_end = self._phase_end = -1.0  # expired for good
        if self._task is not None:
            self._task.cancel()

    @property
    def expired(self) -> bool:
        """Whether the attempt ran out of time (its task was cancelled for it)."""
        return self._deadline_end == -1.0

    def __exit__(
        self,
        exc_type: Optional[Type[BaseException]],
        exc: Optional[BaseException],
        traceback: Optional[TracebackType],
    ) -> None:
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None
        if not self.expired or exc_type is not asyncio.CancelledError:
            return
        if sys.version_info >= (3, 11):
            assert self._task is not None
            if self._task.uncancel() > self._cancelling:
                return  # cancelled from outside as well: that cancellation goes on
        raise asyncio.TimeoutError("the attempt ran out of time") from exc
