"""Flush analytics when the process is told to stop with SIGTERM.

Containers, Kubernetes, systemd and most process managers stop a program with SIGTERM.
Python's default action for it ends the process at once, without running ``atexit``
handlers, so the exit flush never runs and everything queued is lost. Nothing here is
installed unless you call :func:`flush_on_sigterm`.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import threading
from types import FrameType
from typing import TYPE_CHECKING, Any, Callable, List, Optional, Union

from ..analytics.lifecycle import exit_flush_running

if TYPE_CHECKING:
    from ..client import Client

logger = logging.getLogger("teleflow_py.integrations")

_Handler = Union[Callable[[int, Optional[FrameType]], Any], int, None]
# How much longer than its own bound the handler waits for the flush: a hang guard only.
_GUARD = 1.0


def flush_on_sigterm(client: Client) -> None:
    """On SIGTERM, deliver ``client``'s queued analytics, then let the signal act.

    The handler flushes within the client's ``shutdown_timeout``, then hands the signal
    to what was installed before: a Python handler is called (the queue was flushed, the
    client keeps working, and the exit flush sends anything tracked later); ``SIG_IGN``
    keeps ignoring it; the default action (or a handler not set from Python) runs as if
    nothing had intervened: the process ends, killed by SIGTERM, and its exit status says
    so. A SIGTERM that arrives while the process already runs its exit flush lets that
    flush finish, and the process then ends as it was ending. A second SIGTERM while
    flushing goes straight to the previous action, after one line on stderr saying how
    many events were not delivered (lost with the process; with a ``spool_path`` they
    stay in the spool for the next process). Calling this for several clients chains
    their handlers.

    Call it once, from the main thread, where your program starts. It changes the
    process-wide SIGTERM handler, so nothing in the SDK calls it for you.

    Processes forked afterwards inherit the handler. End a ``multiprocessing.Pool`` with
    ``close()`` and ``join()`` then, not ``terminate()`` (nor by leaving a ``with Pool()``
    block, which calls it): an idle worker may miss the SIGTERM of ``terminate()`` while
    it waits for the pool's lock (CPython issue 82408, true of any SIGTERM handler written
    in Python), and ``terminate()`` then waits for it forever.

    Args:
        client: the client whose queue to deliver.

    Raises:
        RuntimeError: not called from the main thread (Python runs signal handlers only
            there, and refuses to install them from another thread).
    """
    if threading.current_thread() is not threading.main_thread():
        raise RuntimeError(
            "flush_on_sigterm() must be called from the main thread: Python installs and "
            "runs signal handlers only there; call it where your program starts"
        )
    previous = signal.getsignal(signal.SIGTERM)
    signal.signal(signal.SIGTERM, _FlushThenPass(client, previous))


class _FlushThenPass:
    """The SIGTERM handler: deliver, then do what the previous handler would have done."""

    def __init__(self, client: Client, previous: _Handler) -> None:
        self._client = client
        self._previous = previous
        self._busy = False

    def __call__(self, signum: int, frame: Optional[FrameType]) -> None:
        if exit_flush_running() and not self._busy:
            # The process is already ending and this signal interrupted its exit flush:
            # let that flush finish (it is bounded by shutdown_timeout). Waiting for it
            # here would wait for this very thread. A second signal ends the process.
            self._busy = True
            return
        if not self._busy:
            self._busy = True
            try:
                self._deliver()
            finally:
                self._busy = False
        else:
            self._report_undelivered()
        self._pass_on(signum, frame)

    def _report_undelivered(self) -> None:
        # A second signal cuts the flush short: say what that costs before the process ends.
        # Read on a thread with a bounded wait: this handler may have interrupted the main
        # thread inside the client, holding a lock the count needs.
        counted: List[int] = []
        reader = threading.Thread(
            target=lambda: counted.append(self._client.analytics_stats.pending), daemon=True
        )
        with contextlib.suppress(RuntimeError):  # no new threads: the interpreter is ending
            reader.start()
            reader.join(_GUARD)
        number = f"{counted[0]:,}" if counted else "an unknown number of"
        noun = "event" if counted == [1] else "events"
        if self._client.config.spool_path:
            fate = f"they stay in the spool {self._client.config.spool_path}"
        else:
            fate = "they are lost"
        message = (
            f"teleflow_py: a second SIGTERM cut the analytics flush short: {number} {noun} "
            f"not delivered; {fate}\n"
        )
        with contextlib.suppress(OSError):
            os.write(2, message.encode("utf-8", "replace"))

    def _deliver(self) -> None:
        client = self._client
        budget = client.config.shutdown_timeout
        if callable(self._previous) or self._previous == signal.SIG_IGN:
            # The process goes on for now: flush and keep the client usable.
            def work() -> None:
                client.flush(timeout=budget)
        else:
            # The process ends right after: shut down (it retries within the budget and
            # reports what it could not deliver).
            def work() -> None:
                client.shutdown(timeout=budget)

        # On a thread of its own: this handler interrupts the main thread anywhere, maybe
        # inside the client holding a lock the flush needs; a bounded join cannot deadlock.
        worker = threading.Thread(target=_logged(work), name="teleflow-sigterm", daemon=True)
        try:
            worker.start()
        except RuntimeError:
            # No new threads (the interpreter is exiting): the exit flush runs anyway.
            return
        worker.join(budget + _GUARD)

    def _pass_on(self, signum: int, frame: Optional[FrameType]) -> None:
        previous = self._previous
        if callable(previous):
            previous(signum, frame)
        elif previous != signal.SIG_IGN:
            # SIG_DFL, or a handler installed outside Python: end as the default would.
            signal.signal(signum, signal.SIG_DFL)
            os.kill(os.getpid(), signum)


def _logged(work: Callable[[], None]) -> Callable[[], None]:
    def run() -> None:
        try:
            work()
        except Exception:
            logger.exception("teleflow_py analytics: the flush on SIGTERM failed")

    return run
