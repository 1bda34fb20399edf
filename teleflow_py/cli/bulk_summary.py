"""What a ``teleflow bulk`` run did, in numbers and words that never say less than the
server may have processed: the summary, and the line saying why it stopped."""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Tuple

from .jsonl import DEFAULT_KEY_PREFIX, Chunk
from .output import InterruptedByUser, Output, maybe_delivered, plural

#: How many events the server did not process are listed one by one (all are counted).
MAX_LISTED = 20


@dataclass
class Summary:
    """What a bulk run did; ``first_unsent_line`` is where ``--resume-from`` carries on."""

    first_line: Optional[int] = None
    last_line: Optional[int] = None
    events: int = 0
    requests: int = 0
    replayed_requests: int = 0
    replayed_events: int = 0
    not_processed: int = 0
    not_processed_lines: List[Dict[str, Any]] = field(default_factory=list)
    unconfirmed: int = 0
    unsent_from: List[int] = field(default_factory=list)
    error: Optional[BaseException] = None
    failed_chunk: Optional[Chunk] = None
    #: ``(first line, events)`` of every chunk the server accepted.
    sent_chunks: List[Tuple[int, int]] = field(default_factory=list)
    key_prefix: str = DEFAULT_KEY_PREFIX
    #: Whether Ctrl-C stopped the run (whatever error is reported).
    interrupted: bool = False
    #: The chunks whose request failed after it was sent to a server that does not
    #: deduplicate: the server may have processed them.
    maybe_delivered_chunks: List[Chunk] = field(default_factory=list)
    _error_line: int = 0

    @property
    def first_unsent_line(self) -> Optional[int]:
        """The first line whose event is not confirmed sent, or ``None`` when all were."""
        return min(self.unsent_from) if self.unsent_from else None

    def not_processed_at(self, line: int, status: str, error: Any) -> None:
        """Count an event the server did not process, and list it if among the first lines.

        Requests answer in any order, so the list keeps the :data:`MAX_LISTED` lowest lines,
        in line order: the first it names is the first line not processed.
        """
        self.not_processed += 1
        listed = self.not_processed_lines
        if len(listed) == MAX_LISTED and line > listed[-1]["line"]:
            return
        at = bisect.bisect([entry["line"] for entry in listed], line)
        listed.insert(at, {"line": line, "status": status, "error": error})
        del listed[MAX_LISTED:]

    def stop(self, error: BaseException, first_unsent: int, chunk: Optional[Chunk]) -> None:
        """Record why the run stopped.

        The failure reported is one that may have been delivered (the user must check its
        lines before sending them again), else Ctrl-C, else any; the earliest line first.

        Args:
            error: what stopped it.
            first_unsent: the first line this failure left unsent.
            chunk: the chunk that failed, when a request failed.
        """
        self.unsent_from.append(first_unsent)
        self.interrupted |= isinstance(error, InterruptedByUser)
        if chunk is not None and maybe_delivered(error):
            self.maybe_delivered_chunks.append(chunk)
        if self.error is None or (_rank(error), -first_unsent) > (
            _rank(self.error),
            -self._error_line,
        ):
            self.error, self.failed_chunk, self._error_line = error, chunk, first_unsent

    def as_json(self, output: Output) -> Dict[str, Any]:
        """The ``--json`` result.

        Args:
            output: where it goes (its key hint and names are used in the error's message).
        """
        return {
            "ok": self.error is None and not self.not_processed,
            "lines": {"first": self.first_line, "last": self.last_line},
            "events": self.events,
            "requests": self.requests,
            "replayed_requests": self.replayed_requests,
            "replayed_events": self.replayed_events,
            "not_processed": self.not_processed,
            "not_processed_lines": self.not_processed_lines,
            "unconfirmed": self.unconfirmed,
            "first_unsent_line": self.first_unsent_line,
            "maybe_delivered_lines": [
                {"first": chunk.first_line, "last": chunk.last_line}
                for chunk in self.maybe_delivered_in_order()
            ],
            "error": output.fields(self.error) if self.error is not None else None,
        }

    def maybe_delivered_in_order(self) -> List[Chunk]:
        """The chunks the server may have processed although their request failed, in
        line order."""
        return sorted(self.maybe_delivered_chunks, key=lambda chunk: chunk.first_line)

    def as_text(self) -> str:
        """The human summary: its line ranges agree with ``first line not sent``."""
        if self.first_line is None or self.last_line is None:
            return "nothing sent" if self.error is not None else "no lines to read: nothing sent"
        if self.events == 0 and self.error is not None:
            return "nothing sent"
        sent = f"{plural(self.events, 'event')} sent in {plural(self.requests, 'request')}"
        unsent = self.first_unsent_line
        if unsent is None:
            text = f"lines {self.first_line}-{self.last_line}: {sent}"
        else:
            # Requests run side by side: a later chunk may be done when an earlier one fails.
            later = sum(events for first, events in self.sent_chunks if first > unsent)
            text = sent
            if unsent > self.first_line:
                text = f"lines {self.first_line}-{unsent - 1}: {sent}"
            if later:
                text += (
                    f" ({plural(later, 'event')} of them from lines after line {unsent}: a "
                    "resume sends them again under the same keys, and the server does not "
                    "trigger them twice)"
                )
            text += f"; from line {unsent} on, not sent"
        if self.replayed_events:
            text += (
                f"; {self.replayed_events:,} of them were sent before (same lines, same keys) "
                "and not triggered again: to send them again on purpose, run with a new "
                f"--key-prefix (e.g. --key-prefix {self.key_prefix}-2)"
            )
        if self.not_processed:
            text += f"; {self.not_processed:,} not processed by the server"
        if self.unconfirmed:
            text += (
                f"; {self.unconfirmed:,} accepted without a result of their own "
                "(sent: do not send them again)"
            )
        return text


def _rank(error: BaseException) -> int:
    return 2 if maybe_delivered(error) else 1 if isinstance(error, InterruptedByUser) else 0


def stop_line(summary: Summary, output: Output) -> str:
    """The line after ``teleflow:`` saying why the run stopped and where to carry on.

    Args:
        summary: a summary with an ``error``.
        output: its ``describe`` words the error.
    """
    error = summary.error
    assert error is not None
    unsent = summary.first_unsent_line
    if isinstance(error, InterruptedByUser):
        what = str(error)
    elif summary.failed_chunk is not None:
        chunk = summary.failed_chunk
        lines = f"lines {chunk.first_line}-{chunk.last_line}"
        if maybe_delivered(error) and unsent is not None:
            # "may or may not have been delivered: ...": the server may have processed them.
            lines = "lines " + ", ".join(
                f"{c.first_line}-{c.last_line}" for c in summary.maybe_delivered_in_order()
            )
            what = f"{lines} {output.describe(error)}"
            if summary.interrupted:
                what = f"interrupted; {what}"
            return f"{what}; check them before carrying on with --resume-from {unsent}"
        what = f"{lines} not sent: {output.describe(error)}"
    else:
        what = output.describe(error)
    if unsent is None:
        return what
    if summary.events == 0 and summary.first_line in (None, unsent):
        return f"{what}; nothing was sent"
    return f"{what}; first line not sent: {unsent}; carry on with --resume-from {unsent}"
