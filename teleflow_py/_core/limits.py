"""What one attempt may take: per-operation timeouts, the call's deadline, the answer's size.

One time limit, one name: the call's :class:`~teleflow_py._core.deadline.Deadline` lives in
:class:`Limits` (with the per-operation :class:`Timeouts` and ``max_response_bytes``); a
:class:`ReadBudget` reads both through its ``limits``. Every driver asks the same
questions: "how long may connecting, this write, this read take?" (:meth:`Limits.timeout`)
and "may the answer grow by this much?" (:meth:`ReadBudget.count`). Pure: nothing here
reads a socket or sleeps.
"""

from __future__ import annotations

from typing import Mapping, NamedTuple, Optional

from ..errors import ResponseTooLargeError
from .deadline import Deadline


class Timeouts(NamedTuple):
    """Seconds allowed to connect, for each socket read, and for each socket write."""

    connect: float
    read: float
    write: float


class Limits(NamedTuple):
    """What one attempt may take: per-operation timeouts, the call's deadline, answer size."""

    timeouts: Timeouts
    deadline: Deadline
    max_response_bytes: int

    def budget(self) -> ReadBudget:
        """A fresh budget for reading one answer."""
        return ReadBudget(self)

    def timeout(self, which: float, doing: str) -> float:
        """``which`` (one of :attr:`timeouts`) cut to the deadline.

        Raises:
            TimeoutError: the deadline has already passed (``doing`` says before what).
        """
        bounded = self.deadline.bound(which)
        if bounded <= 0:
            raise TimeoutError(f"{self.deadline.describe()} passed before {doing}")
        return bounded


class ReadBudget:
    """What one answer may still take: bytes (``max_response_bytes``) and time."""

    __slots__ = ("limits", "max_bytes", "used")

    def __init__(self, limits: Limits, head: int = 0, declared: Optional[int] = None) -> None:
        """Start with ``head`` bytes read (the answer's status line and headers) and, when
        the answer ``declared`` its length, that many more expected.

        Raises:
            ResponseTooLargeError: the head, or the head and the declared length, pass the
                cap.
        """
        self.limits = limits
        self.max_bytes = limits.max_response_bytes
        self.used = head
        if head + (declared or 0) > self.max_bytes:
            raise ResponseTooLargeError(self.max_bytes)

    def next_timeout(self) -> float:
        """The timeout of the next read (the read timeout cut to the deadline).

        Raises:
            TimeoutError: the deadline has passed.
        """
        return self.limits.timeout(self.limits.timeouts.read, "the answer was read")

    def count(self, size: int) -> None:
        """Add ``size`` bytes read.

        Raises:
            ResponseTooLargeError: the answer passed the cap.
        """
        self.used += size
        if self.used > self.max_bytes:
            raise ResponseTooLargeError(self.max_bytes)


class Answer(NamedTuple):
    """What the server answered: status, headers (case-insensitive) and the raw body."""

    status_code: int
    headers: Mapping[str, str]
    content: bytes
