"""Celery's ``worker_process_shutdown``, reduced to how Celery calls its receivers.

Celery's prefork pool sends it in the child, just before ``os._exit``, as
``send(sender=None, pid=..., exitcode=...)``; each receiver is called with ``signal``,
``sender`` and those keyword arguments. ``connect(weak=True)`` holds a weak reference.
"""

from __future__ import annotations

import weakref
from typing import Any, Callable, List


class Signal:
    def __init__(self) -> None:
        self._receivers: List[Callable[[], Any]] = []

    def connect(self, receiver: Callable[..., Any], weak: bool = True, **_: Any) -> None:
        if weak:
            self._receivers.append(weakref.ref(receiver))
        else:
            self._receivers.append(lambda: receiver)

    def send(self, sender: Any, **named: Any) -> None:
        for reference in self._receivers:
            receiver = reference()
            if receiver is not None:
                receiver(signal=self, sender=sender, **named)


worker_process_shutdown = Signal()
