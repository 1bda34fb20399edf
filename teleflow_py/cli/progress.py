"""Progress of ``teleflow bulk``: a bar on a terminal with the ``cli`` extra, else plain lines.

The bar comes from ``tqdm`` (``pip install 'teleflow-py[cli]'``), imported only when
stderr is a terminal. Without it, or when stderr is a pipe or a log, a plain line is
written after the first request and then at most every few seconds. Either says when the
requests wait for the server's rate limit (pacing, read from the SDK's DEBUG record of
each such wait, which carries ``teleflow_pacing``).
"""

from __future__ import annotations

import importlib
import logging
import threading
import time
from contextlib import contextmanager
from typing import Any, Iterator, Optional, TextIO

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
        self._lock = threading.Lock()
        self._waited = 0.0  # seconds of rate-limit waits since the last line
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
            with self._lock:
                waited, self._waited = self._waited, 0.0
            self._bar.set_postfix_str(
                f"waited {waited:.1f} s for the rate limit" if waited else "", refresh=False
            )
            self._bar.update(lines)
            return
        self._plain_line("")

    def rate_limited(self, seconds: float) -> None:
        """A request waits ``seconds`` for the rate limit: say so (at most every few seconds).

        Args:
            seconds: how long the request waits.
        """
        with self._lock:
            self._waited += seconds
        if self._enabled and self._bar is None:
            self._plain_line(", waiting for the rate limit")

    def _plain_line(self, note: str) -> None:
        now = time.monotonic()
        with self._lock:
            if self._last_plain is not None and now - self._last_plain < PLAIN_EVERY:
                return
            self._last_plain = now
        print(
            f"teleflow bulk: {plural(self._events, 'event')} sent so far{note}",
            file=self._stream,
            flush=True,
        )

    @contextmanager
    def showing_rate_limit_waits(self) -> Iterator[None]:
        """While inside, count the SDK's rate-limit waits into the progress lines."""
        handler = _PacingRecords(self)
        logger = logging.getLogger("teleflow_py.events")
        logger.addHandler(handler)
        try:
            yield
        finally:
            logger.removeHandler(handler)

    def close(self) -> None:
        """Take the bar off the screen (the summary follows)."""
        if self._bar is not None:
            self._bar.close()
            self._bar = None


class _PacingRecords(logging.Handler):
    """Passes the seconds of each rate-limit wait record to the progress."""

    def __init__(self, progress: Progress) -> None:
        super().__init__(logging.DEBUG)
        self._progress = progress

    def emit(self, record: logging.LogRecord) -> None:
        seconds = getattr(record, "teleflow_pacing", None)
        if isinstance(seconds, float):
            self._progress.rate_limited(seconds)


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
