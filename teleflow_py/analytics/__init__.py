"""Product analytics: track, identify and alias, queued and sent by a background worker.

messages (build, check, encode once) -> queue (behind a small interface: in memory, or
the SQLite spool of spool.py over spool_file.py) -> batcher (the worker thread, flush,
shutdown) -> delivery (send one batch, retry, split, report). lifecycle holds the exit and
fork hooks.
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
