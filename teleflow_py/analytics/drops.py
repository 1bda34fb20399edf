"""Drops and refusals of the analytics queue: counted, logged once per burst, on_drop called.

The base of :class:`~.batcher.Batcher`; one idea: a message that will not reach the
server is never silent.
"""

from __future__ import annotations

import logging
import threading
from typing import Any, Dict

from ..config import ClientConfig
from .batch import Batch, Message, decode
from .spool_share import Queue
from .stats import Counters

logger = logging.getLogger("teleflow_py.analytics")


class Drops:
    """Counting and reporting what a batcher drops or refuses."""

    _config: ClientConfig
    _counters: Counters
    _queue: Queue
    _drop_lock: threading.Lock
    _burst: int
    _refusal_logged: bool

    def _drop(self, message: Message, reason: str) -> bool:
        self._counters.dropped(reason)
        with self._drop_lock:
            first = self._burst == 0
            self._burst += 1
        if first and reason == "spool_error":
            logger.warning(
                "teleflow_py analytics: the spool %s cannot store events now (%s); track() "
                "returns False for them (see on_drop and analytics_stats)",
                self._config.spool_path,
                getattr(self._queue, "fault", None),
            )
        elif first and reason == "spool_full":
            logger.warning(
                "teleflow_py analytics: the spool %s is full (spool_max_bytes=%d); new "
                "events are dropped until it drains (see on_drop and analytics_stats)",
                self._config.spool_path,
                self._config.spool_max_bytes,
            )
        elif first:
            logger.warning(
                "teleflow_py analytics: the queue is full (max_queue_size=%d, "
                "max_queue_bytes=%d); new events are dropped until it drains (see on_drop "
                "and analytics_stats)",
                self._config.max_queue_size,
                self._config.max_queue_bytes,
            )
        self._call_on_drop(message, reason)
        return False

    def _end_drop_burst(self) -> None:
        # A burst ends once the queue is below half full, so a queue hovering at its
        # limit logs once rather than once per batch.
        if self._burst and len(self._queue) * 2 < self._config.max_queue_size:
            with self._drop_lock:
                dropped, self._burst = self._burst, 0
            logger.warning(
                "teleflow_py analytics: %d events were dropped in all (reasons in "
                "analytics_stats.dropped_by_reason)",
                dropped,
            )

    def _refuse(self, message: Message) -> bool:
        self._counters.dropped("shutdown")
        if not self._refusal_logged:
            self._refusal_logged = True
            logger.warning(
                "teleflow_py analytics: an event was sent after shutdown() and not queued "
                "(counted in analytics_stats.dropped_by_reason['shutdown'])"
            )
        self._call_on_drop(message, "shutdown")
        return False

    def _call_on_drop(self, message: Message, reason: str) -> None:
        on_drop = self._config.on_drop
        if on_drop is None:
            return
        event: Dict[str, Any] = decode(message.parts[0] if isinstance(message, Batch) else message)
        try:
            on_drop(event, reason)
        except Exception:
            logger.exception("teleflow_py analytics: on_drop raised")
