"""Which queue a client gets: the memory queue, or the one spool of its path in this process.

Clients of one process naming the same spool file share one :class:`~.spool.Spool`, so
each event is sent once (separate spools on one file would each take the others' claims
for their own, since they share a pid).
"""

from __future__ import annotations

import logging
import os
import threading
import weakref
from typing import Tuple, Union

from ..config import ClientConfig
from .ids import new_message_id
from .queue import MemoryQueue
from .spool import Spool

logger = logging.getLogger("teleflow_py.analytics")

Queue = Union[MemoryQueue, Spool]

# One spool per path per process, shared by the clients that name it.
_shared: weakref.WeakValueDictionary[Tuple[int, str], Spool] = weakref.WeakValueDictionary()
_shared_lock = threading.Lock()


def _same_file_key(path: str) -> str:
    folder, name = os.path.split(path)
    return os.path.join(os.path.realpath(folder), name)


def open_queue(config: ClientConfig) -> Queue:
    """The queue a client's settings ask for: a :class:`Spool` or a :class:`MemoryQueue`.

    Clients of one process naming the same spool file share one :class:`Spool` (each
    event is then sent once); the first client's ``spool_mode`` and ``spool_max_bytes``
    apply. A spool that cannot be used (a path holding something else, a storage fault)
    never stops a process from starting: see :mod:`.spool_fallback`.
    """
    if config.spool_path is None:
        return MemoryQueue(config.max_queue_size, config.max_queue_bytes, new_message_id)
    key = (os.getpid(), _same_file_key(config.spool_path))
    with _shared_lock:
        spool = _shared.get(key)
        if spool is not None:
            if (spool.sync, spool.max_bytes) != (
                config.spool_mode == "sync",
                config.spool_max_bytes,
            ):
                logger.warning(
                    "teleflow_py analytics: another client of this process already uses the "
                    "spool %s; this client shares it with that client's spool_mode and "
                    "spool_max_bytes",
                    config.spool_path,
                )
            if spool.fault is None:
                spool.recount()
            return spool
        spool = Spool(config)
        _shared[key] = spool
        return spool
