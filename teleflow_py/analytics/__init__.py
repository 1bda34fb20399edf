"""Product analytics: track, identify and alias, queued and sent by a background worker.

messages (build, check, encode once) -> queue (behind a small interface: in memory, or
the SQLite spool) -> batcher (drops, worker, sharing, flushing: the worker thread, the
clients sharing a spool, flush, shutdown) -> delivery (send one batch, retry, split,
report). lifecycle holds the exit hook and the fork callbacks (registered with
:mod:`teleflow_py._fork`).

The spool: spool_share (one spool per path per process) -> spool (buffer, group and sync
commits) -> spool_fallback (the storage-fault policy) -> spool_rows (its statements) ->
spool_file (the file: mark, creation, opening); spool_inspect reads one from outside.
"""

from .mixin import AnalyticsMixin
from .queue import MemoryQueue, MessageQueue
from .spool_file import SpoolError
from .spool_inspect import inspect_spool, retry_dead_letters
from .stats import AnalyticsHealth, AnalyticsStats, FlushResult

__all__ = [
    "AnalyticsHealth",
    "AnalyticsMixin",
    "AnalyticsStats",
    "FlushResult",
    "MemoryQueue",
    "MessageQueue",
    "SpoolError",
    "inspect_spool",
    "retry_dead_letters",
]
