"""Progress of ``teleflow bulk``: a bar on a terminal with the ``cli`` extra, else plain lines.

The bar comes from ``tqdm`` (``pip install 'teleflow-py[cli]'``), imported only when
stderr is a terminal. Without it, or when stderr is a pipe or a log, a plain line is
written after the first request and then at most every few seconds.
"""

from __future__ import annotations

import importlib
import time
from typing import Any, Optional, TextIO

from .output import plural

#: Seconds between two plain progress lines.
PLAIN_EVERY = 5.0


class Progress:
    """Counts events sent; shows them as a bar or as plain lines.

    Args:
        stream: where progress goes (stderr).
        total_lines: lines to read, when known (a file, not stdin), for the bar's total.
        enabled: ``False`` prints nothing.
    """

    def __init__(self, stream: TextIO, total_lines: Optional[int], enabled: bool = True) -> None:
        self._stream = stream
        self._enabled = enabled
        self._bar: Any = None
        self._events = 0
        self._last_plain: Optional[float] = None
        if enabled and _is_terminal(stream):
            tqdm = _tqdm_class()
            if tqdm is not None:
                self._bar = tqdm(
                    total=total_lines,
                    unit=" lines",
                    file=stream,
                    dynamic_ncols=True,
                    desc="teleflow bulk",
                )

    def advance(self, events: int, lines: int) -> None:
        """Count a chunk done.

        Args:
            events: events the chunk sent.
            lines: lines it covered.
        """
        self._events += events
        if not self._enabled:
            return
        if self._bar is not None:
            self._bar.update(lines)
            return
        now = time.monotonic()
        if self._last_plain is None or now - self._last_plain >= PLAIN_EVERY:
            self._last_plain = now
            print(
                f"teleflow bulk: {plural(self._events, 'event')} sent so far",
                file=self._stream,
                flush=True,
            )

    def close(self) -> None:
        """Take the bar off the screen (the summary follows)."""
        if self._bar is not None:
            self._bar.close()
            self._bar = None


def _is_terminal(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


def _tqdm_class() -> Any:
    try:
        return importlib.import_module("tqdm").tqdm
    except ImportError:
        return None
