"""A batch: messages that travel together under one idempotency key.

Event messages are pre-encoded JSON objects (``bytes``), so a request body is built by
joining them, never by encoding again. An alias travels alone, as a batch of its own.
"""

from __future__ import annotations

import json
import uuid
from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

EVENTS_PATH = "/v1/events/batch"
ALIAS_PATH = "/v1/identify/alias"

#: One request body is at most this many bytes (the server's documented batch limit).
MAX_BATCH_BYTES = 500 * 1024
#: A batch holds at most this many events. ``flush_at`` waiting events start a send; when
#: more wait (a burst, a slow link), the batch grows up to this count and
#: :data:`MAX_BATCH_BYTES`, so one request carries the backlog.
MAX_BATCH_EVENTS = 1000
#: One encoded event is at most this many bytes.
MAX_EVENT_BYTES = 32 * 1024

_EVENTS_OPEN = b'{"events":['
_EVENTS_CLOSE = b"]}"
#: Bytes a batch body adds around its events (the commas are counted per event).
BODY_OVERHEAD = len(_EVENTS_OPEN) + len(_EVENTS_CLOSE)

# Keys of split batches are derived under this namespace, so a retried split sends the
# very same keys again.
_SPLIT_NAMESPACE = uuid.UUID("6f1c2a0e-3b7d-4c55-9a8e-2d4b1f0c7e91")


class Batch:
    """Messages sent in one request, with the idempotency key they keep while together."""

    __slots__ = ("key", "parts", "path", "spool_id")

    def __init__(
        self,
        key: str,
        parts: Sequence[bytes],
        path: str = EVENTS_PATH,
        spool_id: Optional[int] = None,
    ) -> None:
        self.key = key
        self.parts: Tuple[bytes, ...] = tuple(parts)
        self.path = path
        #: The spool's row of this batch (halves of a split keep their parent's).
        self.spool_id = spool_id

    def __len__(self) -> int:
        return len(self.parts)

    def __repr__(self) -> str:
        return f"Batch(key={self.key!r}, messages={len(self.parts)}, path={self.path!r})"

    @property
    def is_alias(self) -> bool:
        """Whether this is an alias call rather than a batch of events."""
        return self.path == ALIAS_PATH

    def body(self) -> bytes:
        """The request body: the pre-encoded events joined, or the alias body as is."""
        if self.is_alias:
            return self.parts[0]
        return _EVENTS_OPEN + b",".join(self.parts) + _EVENTS_CLOSE

    def split(self) -> Tuple[Batch, Batch]:
        """Two halves, in order, whose keys are derived from this key (same every time).

        Raises:
            ValueError: the batch holds a single message and cannot be split.
        """
        if len(self.parts) < 2:
            raise ValueError("a batch of one message cannot be split")
        middle = len(self.parts) // 2
        return (
            Batch(_child_key(self.key, 0), self.parts[:middle], self.path, self.spool_id),
            Batch(_child_key(self.key, 1), self.parts[middle:], self.path, self.spool_id),
        )

    def decoded(self) -> List[Dict[str, Any]]:
        """The messages as dicts (fresh copies), for callbacks and error reports."""
        return [decode(part) for part in self.parts]


def _child_key(parent: str, half: int) -> str:
    return str(uuid.uuid5(_SPLIT_NAMESPACE, f"{parent}/{half}"))


def decode(part: bytes) -> Dict[str, Any]:
    """One pre-encoded message as a dict."""
    value: Dict[str, Any] = json.loads(part)
    return value


#: What a queue holds: an encoded event, or a batch (an alias, or a batch given back).
Message = Union[bytes, Batch]
