"""Process-wide hooks: flush at interpreter exit, start clean after ``fork()``.

Batchers are held in a ``WeakSet``: registering for exit never keeps a client alive.
A ``multiprocessing`` child ends with ``os._exit``, which skips ``atexit``; there the same
flush runs as one of multiprocessing's own exit finalizers instead.
"""

from __future__ import annotations

import atexit
import contextlib
import importlib
import logging
import os
import sys
import threading
import weakref
from typing import Any, Iterable, List
from urllib.parse import urlsplit

from typing_extensions import Protocol

from .._ctrl_c import CtrlC
from .._fork import on_fork
from .._waits import hides_an_interrupt
from .ids import forget_ids_after_fork

logger = logging.getLogger("teleflow_py.analytics")


class Managed(Protocol):
    """What the hooks need from a batcher."""

    @property
    def shuts_down_at_exit(self) -> bool:
        """Whether this batcher asked to be flushed at interpreter exit."""

    def begin_shutdown(self, timeout: Any = None) -> bool:
        """Start shutting down; ``True`` for the call that started it."""

    def resume_interrupted_shutdown(self) -> bool:
        """Restart the deadline of a shutdown whose caller was interrupted."""

    def finish_shutdown(self) -> Any:
        """Wait (bounded) for the shutdown started by :meth:`begin_shutdown`."""

    @property
    def pending(self) -> int:
        """Messages not delivered yet."""

    @property
    def queue(self) -> object:
        """The queue :attr:`pending` counts (the clients sharing a spool share it)."""

    def reset_after_fork(self) -> None:
        """Drop everything inherited from the parent process."""


_live: weakref.WeakSet[Managed] = weakref.WeakSet()


def manage(batcher: Managed) -> None:
    """Flush ``batcher`` at exit (if it asks to) and reset it in forked children."""
    _live.add(batcher)
    _flush_when_this_multiprocessing_child_ends()


_exit_flush_running = False


def exit_flush_running() -> bool:
    """Whether the flush at exit (or at the end of a multiprocessing child) is under way."""
    return _exit_flush_running


def _shutdown_all_at_exit() -> None:
    global _exit_flush_running
    try:
        _exit_flush_running = True
        _shutdown_all()
    except KeyboardInterrupt:
        # Ctrl-C at any point of the exit flush (starting it included): stop waiting, but
        # say what is lost rather than print a traceback. The flush waits on this thread
        # in short slices, so a Ctrl-C that lands just before a wait ends it at once too
        # (see teleflow_py._waits).
        _report_interrupted_exit_flush()
    finally:
        _exit_flush_running = False


def _report_interrupted_exit_flush() -> None:
    # A second Ctrl-C is held until the line is out: the report takes no time, and the
    # process is ending anyway. Under Python's own SIGINT handler it is dropped; a
    # program's own handler is handed it after the line, and whatever that raises is
    # dropped too. The count takes each queue's own lock, which no thread holds for more
    # than a few instructions and an interrupt cannot leave held: it is taken by a `with`
    # on a C lock, with no bytecode between the acquire and the block that releases it.
    shield = CtrlC(wake=_nothing, hold_for_own_handler=True)
    with shield:
        pending = _undelivered(b for b in list(_live) if b.shuts_down_at_exit)
        logger.warning(
            "teleflow_py analytics: the exit flush was interrupted; %d %s not delivered",
            pending,
            "event was" if pending == 1 else "events were",
        )
    # KeyboardInterrupt, sys.exit(): the process is ending already.
    with contextlib.suppress(BaseException):
        shield.pass_on()


def _nothing() -> None:
    """Nothing to wake: the report never waits."""


def _unless_an_interrupt(error: Exception) -> None:
    """Raise the Ctrl-C that ``error`` hides (see :func:`teleflow_py._waits.hides_an_interrupt`)."""
    if hides_an_interrupt(error):
        raise KeyboardInterrupt from error


def _undelivered(batchers: Iterable[Managed]) -> int:
    """Messages the ``batchers`` have not delivered, a spool they share counted once."""
    one_each = {id(batcher.queue): batcher for batcher in batchers}
    return sum(batcher.pending for batcher in one_each.values())


def _shutdown_all() -> None:
    # Start every shutdown first, so that their deadlines run at the same time rather
    # than one after another. A shutdown interrupted earlier (Ctrl-C in close()) is
    # resumed with a new deadline rather than skipped. A KeyboardInterrupt is the
    # caller's to report.
    started: List[Managed] = []
    for batcher in list(_live):
        try:
            if batcher.shuts_down_at_exit and (
                batcher.begin_shutdown() or batcher.resume_interrupted_shutdown()
            ):
                started.append(batcher)
        except Exception as exc:
            _unless_an_interrupt(exc)
            logger.exception("teleflow_py analytics: shutdown at exit failed")
    if started:
        logger.debug(
            "teleflow_py analytics: the exit flush started: %d events to deliver",
            _undelivered(started),
        )
    for batcher in started:
        try:
            batcher.finish_shutdown()
        except Exception as exc:
            _unless_an_interrupt(exc)
            logger.exception("teleflow_py analytics: shutdown at exit failed")


def _reset_all_after_fork() -> None:
    forget_ids_after_fork()
    for batcher in list(_live):
        batcher.reset_after_fork()


# The pid of the process whose multiprocessing exit runs the flush (0: none yet).
_flushing_at_child_exit = 0
# Higher runs earlier: before multiprocessing's own queues and managers are torn down.
_EXIT_PRIORITY = 100


def _flush_when_this_multiprocessing_child_ends(_: object = None) -> None:
    """Inside a multiprocessing child, run the exit flush as the child finishes.

    Such a child leaves through ``os._exit`` (fork and forkserver start methods), after
    running multiprocessing's exit finalizers; the flush becomes one of them.
    """
    global _flushing_at_child_exit
    process = sys.modules.get("multiprocessing.process")
    util = sys.modules.get("multiprocessing.util")
    if process is None or util is None or _flushing_at_child_exit == os.getpid():
        return
    if process.parent_process() is None:
        return  # the main process: atexit covers it
    _flushing_at_child_exit = os.getpid()
    util.Finalize(None, _shutdown_all_at_exit, exitpriority=_EXIT_PRIORITY)


class _ForkToken:
    """What multiprocessing's after-fork registry holds on to (it keeps weak references)."""


_fork_token = _ForkToken()
_watching_multiprocessing_forks = False


def _watch_multiprocessing_forks() -> None:
    # A forked multiprocessing child clears the finalizers it inherited, then runs the
    # after-fork callbacks registered with it: register there, once, before forking.
    global _watching_multiprocessing_forks
    util = sys.modules.get("multiprocessing.util")
    if util is not None and not _watching_multiprocessing_forks and _live:
        _watching_multiprocessing_forks = True
        util.register_after_fork(_fork_token, _flush_when_this_multiprocessing_child_ends)


atexit.register(_shutdown_all_at_exit)
on_fork(before=_watch_multiprocessing_forks, after_in_child=_reset_all_after_fork)


_uwsgi_warned = threading.Event()


def warn_if_uwsgi_without_threads() -> None:
    """Warn once per process when running under uWSGI with threads disabled.

    uWSGI without ``enable-threads`` never runs the worker thread, so nothing would be sent.
    """
    if _uwsgi_warned.is_set():
        return
    try:
        # Only importable inside a uWSGI process.
        uwsgi = importlib.import_module("uwsgi")
    except ImportError:
        return
    options = getattr(uwsgi, "opt", {})
    enabled = options.get("enable-threads") or options.get(b"enable-threads")
    if not enabled and not _uwsgi_warned.is_set():
        _uwsgi_warned.set()
        logger.warning(
            "teleflow_py analytics: uWSGI runs without threads, so queued events are not "
            "sent in the background; start uWSGI with --enable-threads"
        )


def prepare_green_resolver(base_url: str) -> None:
    """Under gevent, ready the DNS resolver for ``base_url`` now, not at exit.

    gevent makes its resolver on the first connection and, by default, resolves on a
    thread pool of its own. Made at exit, the resolver imports ``concurrent.futures``,
    which Python refuses once threads have shut down, and the pool needs a new thread,
    which Python 3.12 refuses at exit: the whole queue would be lost. Called on the worker
    (a green thread under gevent), so the caller never waits for DNS.
    """
    monkey = sys.modules.get("gevent.monkey")
    if monkey is None or not monkey.is_module_patched("socket"):
        return
    address = urlsplit(base_url)
    port = address.port or (443 if address.scheme == "https" else 80)
    try:
        sys.modules["gevent"].get_hub().resolver.getaddrinfo(address.hostname, port)
    except Exception:
        # Only a warm-up: a name that does not resolve fails again, and is reported,
        # when a batch is sent.
        logger.debug("teleflow_py analytics: resolving %s failed", address.hostname, exc_info=True)
