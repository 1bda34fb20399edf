"""Child side of ``test_exit_flush_interrupt.py``: Ctrl-C at a chosen point of the exit flush.

Each ``at_*`` function arms one point of one client's exit flush. The Ctrl-C comes once,
on the main thread, while the SDK's exit flush runs, and the child first writes
``ctrl-c at <point>`` on stderr, so a point the flush never reached fails its test rather
than passing it. A Ctrl-C is ``signal.raise_signal(SIGINT)``: Python handles it at the
next check of the main thread, right where it is raised, as a terminal's Ctrl-C landing
at that bytecode.
"""

from __future__ import annotations

import _thread
import logging
import signal
import sys
import threading
from typing import Any, Callable

from teleflow_py import Client
from teleflow_py.analytics.lifecycle import exit_flush_running


def _ctrl_c(point: str) -> None:
    sys.stderr.write(f"ctrl-c at {point}\n")
    signal.raise_signal(signal.SIGINT)


class _Once:
    """True the first time it is asked on the main thread during the exit flush."""

    def __init__(self) -> None:
        self.fired = False

    def __call__(self) -> bool:
        if (
            self.fired
            or not exit_flush_running()
            or threading.current_thread() is not threading.main_thread()
        ):
            return False
        self.fired = True
        return True


def _before(client: Client, method: str, point: str) -> _Once:
    """Ctrl-C as the batcher's ``method`` is called (before it runs)."""
    batcher = client._batcher
    original: Callable[..., Any] = getattr(batcher, method)
    once = _Once()

    def interrupted(*args: Any, **kwargs: Any) -> Any:
        if once():
            _ctrl_c(point)
        return original(*args, **kwargs)

    setattr(batcher, method, interrupted)
    return once


def at_the_start(client: Client) -> None:
    """Before the client's shutdown begins: nothing is closing yet."""
    _before(client, "begin_shutdown", "the start")


def before_the_first_wait(client: Client) -> None:
    """Every shutdown has begun; the flush is about to wait for the worker."""
    _before(client, "finish_shutdown", "the first wait")


def holding_the_batcher_lock(client: Client) -> None:
    """Inside ``with`` the batcher's lock (begin_shutdown reads the stats under it)."""
    batcher = client._batcher
    stats = batcher.stats
    once = _Once()

    def interrupted() -> Any:
        if batcher._cond._is_owned() and once():  # type: ignore[attr-defined]
            _ctrl_c("holding the batcher lock")
        return stats()

    batcher.stats = interrupted  # type: ignore[method-assign]


class _LockLeftHeld:
    """The batcher lock, as ``Condition.__enter__`` (Python code) takes it.

    The Ctrl-C lands after the lock is taken and before the ``with`` block starts: the
    block never runs, so the lock stays held.
    """

    def __init__(self, lock: Any) -> None:
        self._lock = lock
        self._once = _Once()

    def __enter__(self) -> bool:
        taken: bool = self._lock.__enter__()
        if self._once():
            _ctrl_c("taking the batcher lock")
        return taken

    def __exit__(self, *exc: object) -> None:
        self._lock.__exit__(*exc)


def taking_the_batcher_lock(client: Client) -> None:
    """Between taking the batcher's lock and the ``with`` block (the lock is left held)."""
    cond = client._batcher._cond
    cond._lock = _LockLeftHeld(cond._lock)  # type: ignore[attr-defined]


def between_release_and_wait(client: Client) -> None:
    """Inside ``Condition.wait``: its lock released, the guard that takes it back not begun.

    The caller's ``with`` then cannot release the lock and raises ``RuntimeError`` in the
    interrupt's place.
    """
    cond = client._batcher._cond
    release_save = cond._release_save  # type: ignore[attr-defined]
    once = _Once()

    def interrupted() -> Any:
        state = release_save()
        if once():
            _ctrl_c("between release and wait")
        return state

    cond._release_save = interrupted  # type: ignore[attr-defined]


def in_the_wait(client: Client) -> None:
    """While the main thread is blocked in the C-level wait of ``Condition.wait``.

    Any timed wait of the main thread is the point (``client`` only names the child's
    client, as for the other points).

    The interrupt trips Python's flag from another thread after the main thread's last
    check, as a SIGINT that lands just before the wait does on a loaded machine; the
    blocked wait does not return for it.
    """
    real_lock = threading._allocate_lock  # type: ignore[attr-defined]
    waiting = threading.Event()
    once = _Once()

    def interrupt() -> None:
        waiting.wait()
        sys.stderr.write("ctrl-c at in the wait\n")
        _thread.interrupt_main()

    class Waiter:
        """The lock ``Condition.wait`` waits on; says when the main thread waits."""

        def __init__(self) -> None:
            self._lock = real_lock()

        def acquire(self, blocking: bool = True, timeout: float = -1) -> bool:
            if blocking and timeout > 0 and once():
                waiting.set()
            return bool(self._lock.acquire(blocking, timeout))

        def release(self) -> None:
            self._lock.release()

        def __enter__(self) -> bool:
            return self.acquire()

        def __exit__(self, *exc: object) -> None:
            self.release()

    threading.Thread(target=interrupt, daemon=True).start()
    threading._allocate_lock = Waiter  # type: ignore[attr-defined]


class _AtRecord(logging.Filter):
    def __init__(self, start: str, point: str) -> None:
        super().__init__()
        self._start = start
        self._point = point
        self._once = _Once()

    def filter(self, record: logging.LogRecord) -> bool:
        if record.getMessage().startswith(self._start) and self._once():
            _ctrl_c(self._point)
        return True


def during_the_report(client: Client) -> None:
    """A first Ctrl-C before the first wait, a second one as the report is logged."""
    before_the_first_wait(client)
    logging.getLogger("teleflow_py.analytics").addFilter(
        _AtRecord("teleflow_py analytics: the exit flush was interrupted", "the report")
    )


def during_the_count(client: Client) -> None:
    """A first Ctrl-C before the first wait, a second one as the report counts the loss."""
    first = _before(client, "finish_shutdown", "the first wait")
    queue = client._batcher._queue
    pending = queue.pending
    second = _Once()

    def interrupted() -> int:
        # After the first Ctrl-C, the next count is the report's.
        if first.fired and second():
            _ctrl_c("the count")
        return pending()

    queue.pending = interrupted  # type: ignore[method-assign]


def during_the_report_under_its_own_handler(client: Client) -> None:
    """As :func:`during_the_report`, in a program with its own SIGINT handler. It says on
    stderr when it runs and whether it got a frame; it raises ``KeyboardInterrupt`` the
    first time (as Python's own does) and ``SystemExit`` after that, as programs that
    end on a second Ctrl-C do."""
    calls = []

    def own(signum: int, frame: Any) -> None:
        calls.append(signum)
        sys.stderr.write(f"own handler, frame={frame is not None}\n")
        if len(calls) == 1:
            raise KeyboardInterrupt
        sys.exit(130)

    signal.signal(signal.SIGINT, own)
    during_the_report(client)
