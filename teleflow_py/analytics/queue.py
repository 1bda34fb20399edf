"""The queue between callers and the worker, behind a small interface.

Callers only ``put``; the single worker thread ``take``s a batch, sends it, then either
``ack``s it or ``give_back``s it to the front (order kept, idempotency key kept). A durable
spool can stand in for :class:`MemoryQueue` by implementing :class:`MessageQueue`.
"""

from __future__ import annotations

import threading
from bisect import bisect_right
from collections import deque
from itertools import accumulate, islice
from time import monotonic
from typing import Callable, Deque, List, Optional, Tuple, cast

from typing_extensions import Protocol

from .batch import BODY_OVERHEAD, Batch, Message

#: Seconds between the marks that date queued messages (the precision of ``oldest_age``).
MARK_SPACING = 0.05


class MessageQueue(Protocol):
    """What the worker needs from a queue. ``put`` may be called from any thread; the
    other methods only from the worker thread."""

    def put(self, message: Message) -> bool:
        """Append ``message``; ``False`` (and nothing stored) when the queue is full."""

    def pending(self) -> int:
        """Messages waiting or taken and not yet settled, counted at one instant."""

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
        """Forget a taken batch for good (delivered)."""

    def reject(self, batch: Batch, error: Exception) -> None:
        """A taken batch the server refused for good: forget it, or keep it aside."""

    def oldest_age(self) -> Optional[float]:
        """Seconds the oldest waiting message has waited; ``None`` when none waits."""

    def persist(self, force: bool = False) -> None:
        """Write what is buffered to durable storage (at shutdown: ``force``)."""

    @property
    def full_reason(self) -> str:
        """The drop reason after ``put`` returned ``False``."""

    def __len__(self) -> int:
        """Messages waiting (batches given back count every message they hold)."""


def message_size(message: Message) -> int:
    """Bytes of encoded JSON a message holds (a batch: all of its messages)."""
    if isinstance(message, Batch):
        return sum(len(part) for part in message.parts)
    return len(message)


class MemoryQueue:
    """A bounded in-memory :class:`MessageQueue`.

    Bounded twice: at most ``max_size`` messages and ``max_bytes`` bytes of encoded JSON
    wait. ``put`` takes one short lock (about a tenth of a microsecond) so both bounds are
    exact. The time messages were queued is kept coarsely (one mark per
    :data:`MARK_SPACING` seconds of puts) for :meth:`oldest_age`.
    """

    full_reason = "queue_full"

    def __init__(self, max_size: int, max_bytes: int, new_key: Callable[[], str]) -> None:
        self._items: Deque[Message] = deque()
        self._max_size = max_size
        self._max_bytes = max_bytes
        self._new_key = new_key
        self._lock = threading.Lock()
        # Messages and encoded bytes waiting, a Batch counting every message it holds.
        self._count = 0
        self._bytes = 0
        # Messages and bytes taken and not yet settled: they count against the bounds
        # until acked, rejected or given back, so memory never exceeds them.
        self._held = 0
        self._held_bytes = 0
        # Numbering of messages: _put_number counts messages ever put, _taken_number those
        # taken; the oldest waiting is number _taken_number. _marks holds (number, time) of
        # the first message put in each MARK_SPACING window.
        self._put_number = 0
        self._taken_number = 0
        self._marks: Deque[Tuple[int, float]] = deque()
        self._last_mark = -MARK_SPACING

    def put(self, message: Message, force: bool = False) -> bool:
        """Append ``message`` unless a bound would be exceeded (``force``: even then)."""
        if type(message) is bytes:
            count, size = 1, len(message)
        else:
            count, size = len(message), message_size(message)
        with self._lock:
            total = self._count + self._held
            over = (
                total + count > self._max_size
                or self._bytes + self._held_bytes + size > self._max_bytes
            )
            # A single message bigger than the byte bound still fits in an empty queue.
            if over and not force and (total or count > self._max_size):
                return False
            self._count += count
            self._bytes += size
            now = monotonic()
            if now - self._last_mark >= MARK_SPACING:
                self._marks.append((self._put_number, now))
                self._last_mark = now
            self._put_number += count
            self._items.append(message)
        return True

    def take(self, max_events: int, max_bytes: int) -> Optional[Batch]:
        """The next batch (see :meth:`MessageQueue.take`)."""
        with self._lock:
            items = self._items
            if not items:
                return None
            head = items[0]
            if isinstance(head, Batch):
                items.popleft()
                self._taken(len(head), message_size(head))
                return head
            window = list(islice(items, min(max_events, len(items))))
            count = next(
                (i for i, item in enumerate(window) if type(item) is not bytes), len(window)
            )
            # ends[i]: body bytes with events 0..i, each counted with one comma too many.
            ends = list(accumulate(len(item) + 1 for item in window[:count]))
            room = max_bytes - BODY_OVERHEAD + 1
            if ends and ends[-1] > room:
                count = max(1, bisect_right(ends, room))
            popleft = items.popleft
            parts = cast(List[bytes], [popleft() for _ in range(count)])
            self._taken(count, ends[count - 1] - count)
        return Batch(self._new_key(), parts)

    def _taken(self, count: int, size: int) -> None:
        self._count -= count
        self._bytes -= size
        self._held += count
        self._held_bytes += size
        self._taken_number += count
        marks = self._marks
        while len(marks) > 1 and marks[1][0] <= self._taken_number:
            marks.popleft()

    def give_back(self, *batches: Batch) -> None:
        """Put ``batches`` back at the front, in order, each whole."""
        with self._lock:
            for batch in reversed(batches):
                self._items.appendleft(batch)
                size, data = len(batch), message_size(batch)
                self._count += size
                self._bytes += data
                self._held -= size
                self._held_bytes -= data
                self._taken_number -= size

    def ack(self, batch: Batch) -> None:
        """Forget a taken batch: its room in the queue is free again."""
        with self._lock:
            self._held -= len(batch)
            self._held_bytes -= message_size(batch)

    def reject(self, batch: Batch, error: Exception) -> None:
        """Forget a refused batch (its events were reported through ``on_error``)."""
        self.ack(batch)

    def persist(self, force: bool = False) -> None:
        """Nothing to write: memory is all there is."""

    def oldest_age(self) -> Optional[float]:
        """Seconds the oldest waiting message has waited (to within ``MARK_SPACING``)."""
        with self._lock:
            if not self._count or not self._marks:
                return None
            # After a batch was given back its mark may be gone: the next mark is then a
            # lower bound of its age.
            when = self._marks[0][1]
        return max(0.0, monotonic() - when)

    def pending(self) -> int:
        """Messages waiting or taken and not yet settled (one lock, so never torn)."""
        with self._lock:
            return self._count + self._held

    @property
    def bytes(self) -> int:
        """Encoded bytes of the messages waiting."""
        return self._bytes

    def __len__(self) -> int:
        return self._count
