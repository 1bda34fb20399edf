"""Ctrl-C as a flag that a loop checks between its steps, not an exception at any bytecode.

Python raises ``KeyboardInterrupt`` at whichever bytecode of the main thread runs when the
signal is handled: between ``executor.submit`` returning and its future being recorded,
between a future taken off a list and its answer counted, or inside
``concurrent.futures.wait`` while it holds a future's lock. On a loaded machine a worker
thread may send a whole request in such a gap, and a loop that lost track of it reports
less than the server processed. :class:`CtrlC` records the Ctrl-C instead and wakes the
loop; it raises ``KeyboardInterrupt`` only inside :meth:`CtrlC.call`, around a blocking
step whose state nothing depends on once interrupted (reading the next lines from stdin).

Used by ``teleflow bulk`` (its request loop) and by the exit hook of the analytics queue
(its report of what an interrupted exit flush did not deliver, which a second Ctrl-C must
not cut short).
"""

from __future__ import annotations

import signal
import threading
from types import FrameType, TracebackType
from typing import Any, Callable, Optional, Type, TypeVar

T = TypeVar("T")


class CtrlC:
    """Records SIGINT in :attr:`pressed` while in use (a ``with`` block).

    It takes over SIGINT only in the main thread and where Python's own handler is in
    place: a program that ignores SIGINT (``nohup``, ``cmd &``) keeps ignoring it, and one
    with its own handler keeps it, unless ``hold_for_own_handler``.

    Args:
        wake: called (in the main thread, from the signal handler) at each Ctrl-C, to wake
            a loop blocked waiting; it must be safe to call at any point of that thread,
            e.g. ``queue.SimpleQueue.put``.
        hold_for_own_handler: also take over from a program's own SIGINT handler (a Python
            function), for a step that takes no time and must not be cut short (the exit
            report). The handler is given back when the block ends, and :meth:`pass_on`
            then hands it the Ctrl-C held meanwhile (several count as one), with the frame
            the signal interrupted.
    """

    def __init__(self, wake: Callable[[], Any], *, hold_for_own_handler: bool = False) -> None:
        self._wake = wake
        self._hold_for_own_handler = hold_for_own_handler
        self._raising = False
        self._previous: Any = None
        self._held_for: Optional[Callable[[int, Optional[FrameType]], Any]] = None
        self._frame: Optional[FrameType] = None
        #: Whether Ctrl-C was pressed while in use.
        self.pressed = False

    def __enter__(self) -> CtrlC:
        if threading.current_thread() is not threading.main_thread():
            return self
        current = signal.getsignal(signal.SIGINT)
        # (SIG_IGN and SIG_DFL are numbers, not callables: an ignored Ctrl-C stays ignored.)
        if current is signal.default_int_handler or (
            self._hold_for_own_handler and callable(current)
        ):
            self._previous = signal.signal(signal.SIGINT, self._handle)
        return self

    def __exit__(
        self,
        kind: Optional[Type[BaseException]],
        error: Optional[BaseException],
        traceback: Optional[TracebackType],
    ) -> None:
        previous, self._previous = self._previous, None
        if previous is None:
            return
        signal.signal(signal.SIGINT, previous)
        if self.pressed and previous is not signal.default_int_handler:
            self._held_for = previous

    def pass_on(self) -> None:
        """Hand the program's own handler the Ctrl-C held from it, if any (after the block).

        Raises:
            BaseException: whatever that handler raises.
        """
        handler, self._held_for = self._held_for, None
        frame, self._frame = self._frame, None
        if handler is not None:
            handler(signal.SIGINT, frame)

    def call(self, step: Callable[[], T]) -> T:
        """Return ``step()``; a Ctrl-C while it runs (or pressed before) raises in it.

        Args:
            step: a blocking step whose state nothing depends on once interrupted.

        Raises:
            KeyboardInterrupt: Ctrl-C, during the step or before it.
        """
        if self.pressed:
            raise KeyboardInterrupt
        try:
            self._raising = True
            return step()
        finally:
            self._raising = False

    def _handle(self, signum: int, frame: Optional[FrameType]) -> None:
        self.pressed = True
        if self._frame is None:
            self._frame = frame  # for a program's own handler (see pass_on)
        if self._raising:
            # Reset here too: the exception may land in ``call``'s finally before its reset.
            self._raising = False
            raise KeyboardInterrupt
        self._wake()
