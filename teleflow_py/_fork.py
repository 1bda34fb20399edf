"""The one ``os.register_at_fork`` of the package: a weak registry of fork callbacks.

A module that must act around ``fork()`` (drop a connection pool, keep SQLite connections
out of a child's hands, start analytics afresh) registers here with :func:`on_fork`
instead of calling ``os.register_at_fork`` itself, so the order of the hooks is written
in one place: ``before`` callbacks run newest first, the ``after`` ones oldest first (as
the standard library orders its own). A bound method is held weakly: the registry never
keeps its object alive, and skips it once the object is gone. A plain function is held
as is.

This module imports nothing from the package; anything may depend on it.
"""

from __future__ import annotations

import logging
import os
import threading
import weakref
from typing import Callable, List, Optional

logger = logging.getLogger("teleflow_py")

Callback = Callable[[], object]
_Ref = Callable[[], Optional[Callback]]

_lock = threading.Lock()
_before: List[_Ref] = []
_after_in_parent: List[_Ref] = []
_after_in_child: List[_Ref] = []


def _weak(callback: Callback) -> _Ref:
    """A bound method weakly (its object may go); a plain function as it is."""
    if hasattr(callback, "__self__") and hasattr(callback, "__func__"):
        return weakref.WeakMethod(callback)
    return lambda: callback


def on_fork(
    *,
    before: Optional[Callback] = None,
    after_in_parent: Optional[Callback] = None,
    after_in_child: Optional[Callback] = None,
) -> None:
    """Call these around every ``fork()`` of this process (held weakly).

    Args:
        before: runs in the parent just before the fork.
        after_in_parent: runs in the parent once the child exists.
        after_in_child: runs in the child, first thing.
    """
    with _lock:
        for callback, registry in (
            (before, _before),
            (after_in_parent, _after_in_parent),
            (after_in_child, _after_in_child),
        ):
            if callback is not None:
                registry.append(_weak(callback))


def _run(registry: List[_Ref], newest_first: bool) -> None:
    with _lock:
        refs = list(reversed(registry)) if newest_first else list(registry)
        # Forget the callbacks whose objects are gone.
        registry[:] = [ref for ref in registry if ref() is not None]
    for ref in refs:
        callback = ref()
        if callback is None:
            continue
        try:
            callback()
        except Exception:
            # A failing hook must not stop the others, nor the fork.
            logger.exception("teleflow_py: a fork hook failed")


def _run_before() -> None:
    _run(_before, newest_first=True)


def _run_after_in_parent() -> None:
    _run(_after_in_parent, newest_first=False)


def _run_after_in_child() -> None:
    global _lock
    # Another thread of the parent may have held the lock at the fork: never wait on it.
    _lock = threading.Lock()
    _run(_after_in_child, newest_first=False)


if hasattr(os, "register_at_fork"):
    os.register_at_fork(
        before=_run_before,
        after_in_parent=_run_after_in_parent,
        after_in_child=_run_after_in_child,
    )
