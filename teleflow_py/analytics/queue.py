"""The queue between callers and the worker, behind a small interface.

Callers only ``put``; the single worker thread ``take``s a batch, sends it, then either
``ack``s it or ``give_back``s it to the front (order kept, idempotency key kept). A durable
spool can stand in for :class:`MemoryQueue` by implementing :class:`MessageQueue`.
"""

from __future__ import annotations

from bisect import bisect_right
from collections import deque
from itertools import accumulate, islice
from typing import Callable, Deque, List, Optional, cast

from typing_extensions import Protocol

from .batch import BODY_OVERHEAD, Batch, Message


class MessageQueue(Protocol):
    """What the worker needs from a queue. ``put`` may be called from any thread; the
    other methods only from the worker thread."""

    def put(self, message: Message) -> bool:
        """Append ``message``; ``False`` (and nothing stored) when the queue is full."""

    def take(self, max_events: int, max_bytes: int) -> Optional[Batch]:
        """The next batch, or ``None`` when empty.

        A batch given back or an alias comes out whole and alone; otherwise up to
        ``max_events`` events whose body fits in ``max_bytes`` form a batch with a new key.
        """

    def give_back(self, *batches: Batch) -> None:
        """Return taken messages to the front, in order, to be taken again first.

        Usually the batch as taken (same key); after a 413, the two halves of it.
        """

    def ack(self, batch: Batch) -> None:
        """Forget a taken batch for good (delivered, or reported as failed)."""

    def __len__(self) -> int:
        """Messages waiting (batches given back count every message they hold)."""


class MemoryQueue:
    """A bounded in-memory :class:`MessageQueue`; ``put`` takes no lock.

    The bound is checked without a lock, so callers racing each other may overshoot it by
    a few messages; in exchange ``put`` costs little more than ``deque.append``.
    """

    def __init__(self, max_size: int, new_key: Callable[[], str]) -> None:
        self._items: Deque[Message] = deque()
        self._max_size = max_size
        self._new_key = new_key
        # Messages beyond one per queued Batch. Only the worker changes it.
        self._extra = 0

    def put(self, message: Message) -> bool:
        """Append ``message`` unless the queue is full."""
        if len(self._items) + self._extra >= self._max_size:
            return False
        self._items.append(message)
        return True

    def take(self, max_events: int, max_bytes: int) -> Optional[Batch]:
        """The next batch (see :meth:`MessageQueue.take`)."""
        items = self._items
        if not items:
            return None
        head = items[0]
        if isinstance(head, Batch):
            items.popleft()
            self._extra -= len(head) - 1
            return head
        # Only this (worker) thread removes messages, so the first ``count`` stay put while
        # callers append behind them; work on a copy of their references, then pop.
        window = list(islice(items, min(max_events, len(items))))
        count = next((i for i, item in enumerate(window) if type(item) is not bytes), len(window))
        # ends[i]: body bytes with events 0..i, each counted with one comma too many.
        ends = list(accumulate(len(item) + 1 for item in window[:count]))
        room = max_bytes - BODY_OVERHEAD + 1
        if ends and ends[-1] > room:
            count = max(1, bisect_right(ends, room))
        popleft = items.popleft
        parts = cast(List[bytes], [popleft() for _ in range(count)])
        return Batch(self._new_key(), parts)

    def give_back(self, *batches: Batch) -> None:
        """Put ``batches`` back at the front, in order, each whole."""
        for batch in reversed(batches):
            self._extra += len(batch) - 1
            self._items.appendleft(batch)

    def ack(self, batch: Batch) -> None:
        """Nothing to do: a taken batch is no longer held in memory."""

    def __len__(self) -> int:
        return len(self._items) + self._extra
