"""Cheap message ids and timestamps for the ``track()`` hot path.

``str(uuid.uuid4())`` costs about as much as encoding a small event, so ids are minted in
blocks from one ``os.urandom`` read and handed out one by one. The pool is emptied in a
forked child: a child that kept its parent's pool would reuse the parent's ids.
"""

from __future__ import annotations

import datetime as _dt
import os
import time
from typing import List, Tuple

from .._validation import uuid4_text

_BLOCK = 256

_pool: List[str] = []


def _mint_block() -> List[str]:
    digits = os.urandom(16 * _BLOCK).hex()
    return [uuid4_text(digits[start : start + 32]) for start in range(0, len(digits), 32)]


def new_message_id() -> str:
    """A random UUID4 string, unique across threads and forked processes."""
    global _pool
    try:
        # list.pop is atomic under the GIL, so threads never share an id.
        return _pool.pop()
    except IndexError:
        # Two threads may refill at once; each block is fresh randomness, so that is harmless.
        block = _mint_block()
        identifier = block.pop()
        _pool = block
        return identifier


def forget_ids_after_fork() -> None:
    """Drop ids inherited from the parent (called in a forked child)."""
    global _pool
    _pool = []


_second_cache: Tuple[int, str] = (-1, "")


def utc_now_iso() -> str:
    """The current time as ISO-8601 UTC with microseconds and a ``Z``.

    The date and time of day are formatted once per second; only the fraction changes.
    """
    global _second_cache
    now = time.time()
    second = int(now)
    cached_second, prefix = _second_cache
    if second != cached_second:
        prefix = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))
        _second_cache = (second, prefix)
    # %-formatting truncates the float for %d, cheaper than int() and an f-string.
    return "%s.%06dZ" % (prefix, (now - second) * 1_000_000)  # noqa: UP031


def iso_utc(moment: _dt.datetime) -> str:
    """``moment`` as ISO-8601 UTC with a ``Z``; a naive datetime is taken to be UTC."""
    if moment.tzinfo is not None and moment.utcoffset() is not None:
        moment = moment.astimezone(_dt.timezone.utc).replace(tzinfo=None)
    return moment.isoformat(timespec="microseconds") + "Z"
