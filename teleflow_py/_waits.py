"""Waits on the caller's thread that a Ctrl-C always ends, and interrupts hidden by other errors.

Python runs a signal handler only between bytecodes of the main thread. A SIGINT that lands
after the last of those checks before a blocking C call (a lock's ``acquire`` with a
timeout, under ``Condition.wait``; ``time.sleep``; a socket read) trips a flag but does not
wake the call: the handler, and the ``KeyboardInterrupt``, wait until the call returns. A
Ctrl-C during the exit flush then waited out the whole ``shutdown_timeout`` (600 s in a
test, on a loaded machine). So on the main thread these waits are cut in slices of
:data:`WAIT_SLICE` seconds: a Ctrl-C that lands in such a gap is handled within one slice.
Other threads never run signal handlers and wait in one piece.

Used by the analytics queue (its flush, shutdown and retry waits) and by the sync driver's
socket reads (:mod:`teleflow_py._bounded`).
"""

from __future__ import annotations

import threading
import time
from typing import Callable, Optional

#: Longest wait of the main thread between two chances to run a pending signal handler.
WAIT_SLICE = 0.1


def on_main_thread() -> bool:
    """Whether the caller runs on the main thread, where Python runs signal handlers."""
    return threading.current_thread() is threading.main_thread()


def _piece(timeout: Optional[float]) -> Optional[float]:
    """The part of a wait of ``timeout`` seconds (None: no limit) waited in one call."""
    if not on_main_thread():
        return timeout
    return WAIT_SLICE if timeout is None else min(timeout, WAIT_SLICE)


def wait(cond: threading.Condition, timeout: Optional[float]) -> None:
    """``cond.wait(timeout)`` (``cond`` held), returning early on the main thread.

    For a caller that checks what it waits for in a loop and computes ``timeout`` anew.
    """
    cond.wait(_piece(timeout))


def wait_for(
    cond: threading.Condition, predicate: Callable[[], bool], timeout: Optional[float]
) -> bool:
    """``cond.wait_for(predicate, timeout)`` (``cond`` held), a Ctrl-C ending it at once."""
    if not on_main_thread():
        return cond.wait_for(predicate, timeout)
    end = None if timeout is None else time.monotonic() + timeout
    result = predicate()
    while not result:
        remaining = None if end is None else end - time.monotonic()
        if remaining is not None and remaining <= 0:
            break
        cond.wait(_piece(remaining))
        result = predicate()
    return result


def sleep(seconds: float) -> None:
    """``time.sleep(seconds)``, a Ctrl-C ending it at once."""
    if not on_main_thread():
        time.sleep(seconds)
        return
    end = time.monotonic() + seconds
    while True:
        remaining = end - time.monotonic()
        if remaining <= 0:
            return
        time.sleep(min(remaining, WAIT_SLICE))


def hides_an_interrupt(error: BaseException) -> bool:
    """Whether ``error`` was raised while a ``KeyboardInterrupt`` was on its way up.

    Python raises ``KeyboardInterrupt`` at whichever bytecode of the main thread runs: in
    ``Condition.wait`` between the release of its lock and the ``try`` that takes it back,
    the caller's ``with`` then fails to release the lock it no longer holds, and a
    ``RuntimeError`` takes the interrupt's place. Code that reports errors and goes on
    must treat such an error as the Ctrl-C it hides.
    """
    seen = set()
    cause: Optional[BaseException] = error
    while cause is not None and id(cause) not in seen:
        if isinstance(cause, KeyboardInterrupt):
            return True
        seen.add(id(cause))
        cause = cause.__context__
    return False
