"""The attempts' timers: every phase of every exchange of a loop bounded by one shared handle.

An attempt has phases with different bounds: waiting for one of the connections (only the
call's deadline bounds it), then the wait for the answer's head (``timeout``), then each
read of the body (``timeout`` again); never past the deadline. Moving an
``asyncio.timeout`` to each phase's end costs a new timer handle per phase, on every call;
even one handle per attempt, armed and cancelled, costs about 4% of a raw aiohttp request
(the loop's heap of timers compares them in Python, and pops each cancelled one).

So an :class:`AttemptTimer` only writes down when its attempt must end, and one
:class:`Watchdog` per event loop keeps a single ``call_at`` handle, armed at the earliest
moment any watched attempt could expire. When it fires it looks at every attempt still
watched: one past its end has its task cancelled and its ``with`` block ends in
``asyncio.TimeoutError`` (as ``asyncio.timeout`` does); for the others the handle is armed
again at the earliest end. Attempts of a client share their bounds, so a later attempt
never ends earlier than the handle's moment: a call that goes well (nearly every one)
arms nothing, and an idle loop is woken at most once, for nothing, a read timeout later.
"""

from __future__ import annotations

import asyncio
import math
import sys
from types import TracebackType
from typing import Any, Dict, Optional, Set, Type


class Watchdog:
    """The one timer handle of a loop's attempts (see the module docstring).

    Args:
        loop: the loop the attempts run in.
    """

    __slots__ = ("_handle", "loop", "running", "timers", "when")

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        #: The attempts looked at (each :class:`AttemptTimer` adds and removes itself).
        self.timers: Set[AttemptTimer] = set()
        #: The attempt each task of the loop is running (a task runs one at a time), for
        #: :meth:`current`. Keyed by task rather than kept in a context variable, whose
        #: every set makes a new context map and a token: three more objects per call in
        #: flight. Held by the watchdog, so by its route's session for this loop only: a
        #: loop left with attempts pending (closed, never resumed) is let go with it.
        self.running: Dict[asyncio.Task[Any], AttemptTimer] = {}
        self._handle: Optional[asyncio.TimerHandle] = None
        #: When the handle fires (infinity: not armed). A timer whose end comes earlier
        #: calls :meth:`by`; checked by the timers themselves, one call less per attempt.
        self.when = math.inf

    def current(self) -> Optional[AttemptTimer]:
        """The timer of the attempt the current task of the loop is running, if any."""
        task = asyncio.current_task(self.loop)
        return None if task is None else self.running.get(task)

    def by(self, when: float) -> None:
        """Fire no later than loop time ``when``."""
        if when < self.when:
            if self._handle is not None:
                self._handle.cancel()
            self._handle = self.loop.call_at(when, self._fire)
            self.when = when

    def _fire(self) -> None:
        self._handle, self.when = None, math.inf
        now = self.loop.time()
        earliest = math.inf
        for timer in list(self.timers):
            end = timer.end()
            if end is None:
                continue
            if now >= end:
                self.timers.discard(timer)
                timer.expire()
            elif end < earliest:
                earliest = end
        if earliest < math.inf:
            self.by(earliest)


class AttemptTimer:
    """The timer of one attempt, used as ``with AttemptTimer(...) as timer:`` in its task.

    Args:
        watchdog: the running loop's :class:`Watchdog`.
        deadline_end: the loop time the call's deadline passes (``None``: no deadline).
        first_check: seconds from now to the earliest possible expiry (the first phase's
            bound, were it to start at once); kept as :attr:`first_check`.
    """

    __slots__ = ("_cancelling", "_deadline_end", "_phase_end", "_task", "_watchdog", "first_check")

    def __init__(
        self, watchdog: Watchdog, deadline_end: Optional[float], first_check: float
    ) -> None:
        self._watchdog = watchdog
        self._deadline_end = deadline_end
        self._phase_end: Optional[float] = None
        self._task: Optional[asyncio.Task[Any]] = None
        self._cancelling = 0
        self.first_check = first_check
        check = watchdog.loop.time() + first_check
        if deadline_end is not None and deadline_end < check:
            check = deadline_end
        watchdog.timers.add(self)
        if check < watchdog.when:
            watchdog.by(check)

    def __enter__(self) -> AttemptTimer:
        task = asyncio.current_task(self._watchdog.loop)
        assert task is not None, "an attempt runs in a task"
        self._task = task
        if sys.version_info >= (3, 11):
            self._cancelling = task.cancelling()
        self._watchdog.running[task] = self
        return self

    def phase(self, seconds: float) -> None:
        """The current phase must end within ``seconds`` from now (and the deadline)."""
        watchdog = self._watchdog
        end = watchdog.loop.time() + seconds
        self._phase_end = end
        if end < watchdog.when:
            watchdog.by(end)

    def end(self) -> Optional[float]:
        """The loop time the attempt must be over by (``None``: not bounded yet)."""
        phase, deadline = self._phase_end, self._deadline_end
        if phase is None:
            return deadline
        return phase if deadline is None else min(phase, deadline)

    def expire(self) -> None:
        """The attempt ran out of time: cancel its task (the ``with`` block raises)."""
        self._deadline_end = self._phase_end = -1.0  # expired for good
        if self._task is not None:
            self._task.cancel()

    def __exit__(
        self,
        exc_type: Optional[Type[BaseException]],
        exc: Optional[BaseException],
        traceback: Optional[TracebackType],
    ) -> None:
        self._watchdog.timers.discard(self)  # its attempt is over
        if self._task is not None:
            self._watchdog.running.pop(self._task, None)
        if exc_type is not asyncio.CancelledError or self._deadline_end != -1.0:
            return  # not cancelled, or not for running out of time
        if sys.version_info >= (3, 11):
            assert self._task is not None
            if self._task.uncancel() > self._cancelling:
                return  # cancelled from outside as well: that cancellation goes on
        raise asyncio.TimeoutError("the attempt ran out of time") from exc
