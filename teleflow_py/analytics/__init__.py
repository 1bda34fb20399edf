"""Product analytics: track, identify and alias, queued and sent by a background worker.

messages (build, check, encode once) -> queue (behind a small interface) -> batcher (the
worker thread, flush, shutdown) -> delivery (send one batch, retry, split, report).
lifecycle holds the exit and fork hooks.
"""

from .mixin import AnalyticsMixin
from .queue import MemoryQueue, MessageQueue
from .stats import AnalyticsStats, FlushResult

__all__ = [
    "AnalyticsMixin",
    "AnalyticsStats",
    "FlushResult",
    "MemoryQueue",
    "MessageQueue",
]
