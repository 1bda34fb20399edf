"""Read a JSON Lines file of trigger bodies as a stream of chunks with deterministic keys.

Chunk boundaries are fixed relative to line 1: chunk ``k`` (from 0) covers lines
``100k+1`` to ``100k+100``, whatever slice is read, so a line always falls in the same
chunk. A slice that starts inside a chunk (``--lines 150:``) makes a partial first chunk.

The idempotency key of a chunk is computed from what it covers and nothing else::

    <prefix>-<first line>-<last line>-<sha256 of those lines>[:32]

so the same lines of the same file give the same key on any machine, on any run, whether
read from a file or from stdin; a line that changed gives its chunk a new key. Blank lines
count as lines (and are hashed) but carry no event. A line without ``payload`` is sent
with an empty one, which the server requires in a bulk request.

Two bounds keep the command's memory flat whatever the file holds, and every request
well within what the server takes (a body of at most 20 MB): a line longer than
:data:`MAX_LINE_BYTES` is refused by its number without being held whole, and so is the
line at which a chunk's lines would take more than :data:`MAX_CHUNK_WEIGHT` in memory
once parsed (:func:`line_weight`, counted before parsing); nothing of that chunk is sent.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import IO, Iterator, List, Optional, Tuple, cast

from .._bodies import MAX_BULK_EVENTS, bulk_event_body
from ..errors import ValidationError
from ..types import TriggerEventBody
from .output import UsageError

#: Lines per chunk: one bulk request holds at most this many events.
CHUNK_LINES = MAX_BULK_EVENTS
DEFAULT_KEY_PREFIX = "teleflow-bulk"
MAX_KEY_PREFIX_LENGTH = 100
#: The longest line (one trigger, its line end included) read, in bytes: 1 MiB.
MAX_LINE_BYTES = 1024 * 1024
#: The most the lines of one chunk may take in memory once parsed (see :func:`line_weight`):
#: 8 MiB. Sending a chunk holds about five times its weight (the events, the client's
#: checked copy, the JSON text and its bytes), so this bounds the command's memory; it
#: is also far under the server's 20 MB limit on a request body.
MAX_CHUNK_WEIGHT = 8 * 1024 * 1024


class BadLine(UsageError):
    """A line that is not a trigger body. Its chunk is not sent.

    Args:
        line: the 1-based line number.
        chunk_first_line: the first line of the chunk the line belongs to.
        reason: what is wrong with it.
    """

    def __init__(self, line: int, chunk_first_line: int, reason: str) -> None:
        self.line = line
        self.chunk_first_line = chunk_first_line
        self.reason = reason
        super().__init__(f"line {line}: {reason}")


@dataclass
class Chunk:
    """Consecutive lines sent as one bulk request.

    ``first_line``/``last_line`` are the lines covered (blank ones included); ``lines``
    holds the line number of each event in ``events``.
    """

    first_line: int
    last_line: int
    key: str
    events: List[TriggerEventBody] = field(default_factory=list)
    lines: List[int] = field(default_factory=list)
    #: What its lines take in memory once parsed, estimated (see :func:`line_weight`).
    weight: int = 0


@dataclass(frozen=True)
class LineRange:
    """Lines ``first`` to ``last`` (1-based, inclusive; ``last=None``: to the end)."""

    first: int = 1
    last: Optional[int] = None

    @classmethod
    def parse(cls, text: str) -> LineRange:
        """Parse ``A:B``, ``A:`` or ``:B``.

        Args:
            text: the ``--lines`` value.

        Raises:
            ValueError: not that form, a number below 1, or ``B`` before ``A``.
        """
        first_text, colon, last_text = text.partition(":")
        if not colon:
            raise ValueError(f"expected A:B (for example 1:1000), got {text!r}")
        try:
            first = int(first_text) if first_text.strip() else 1
            last = int(last_text) if last_text.strip() else None
        except ValueError:
            raise ValueError(f"expected whole numbers in A:B, got {text!r}") from None
        if first < 1 or (last is not None and last < first):
            raise ValueError(f"expected 1 <= A <= B, got {text!r}")
        return cls(first, last)

    def starting_at(self, line: int) -> LineRange:
        """The same range, beginning no earlier than ``line``.

        Args:
            line: the first line wanted.
        """
        return LineRange(max(self.first, line), self.last)


#: Every line of a file.
ALL_LINES = LineRange()


def check_key_prefix(prefix: str) -> str:
    """A key prefix: 1 to 100 printable ASCII characters without spaces.

    Args:
        prefix: the ``--key-prefix`` value.

    Raises:
        ValueError: anything else.
    """
    if not 1 <= len(prefix) <= MAX_KEY_PREFIX_LENGTH:
        raise ValueError(f"must be 1 to {MAX_KEY_PREFIX_LENGTH} characters")
    if any(not 0x21 <= ord(char) <= 0x7E for char in prefix):
        raise ValueError("must be printable ASCII without spaces")
    return prefix


def chunk_key(prefix: str, first_line: int, last_line: int, digest: str) -> str:
    """The idempotency key of the chunk covering ``first_line``..``last_line``.

    Args:
        prefix: the key prefix.
        first_line: the chunk's first line.
        last_line: its last line.
        digest: the hex SHA-256 of its lines.
    """
    return f"{prefix}-{first_line}-{last_line}-{digest[:32]}"


def _chunk_start(line: int) -> int:
    return (line - 1) // CHUNK_LINES * CHUNK_LINES + 1


def _event(raw: bytes, line: int, chunk_first_line: int, index: int) -> TriggerEventBody:
    try:
        # JSON Lines is UTF-8 (a byte-order mark, as some editors write, is allowed).
        event = json.loads(raw.decode("utf-8-sig"))
    except UnicodeDecodeError:
        raise BadLine(line, chunk_first_line, "not UTF-8 text") from None
    except json.JSONDecodeError as exc:
        raise BadLine(
            line, chunk_first_line, f"not valid JSON: {exc.msg} (column {exc.colno})"
        ) from None
    except RecursionError:
        raise BadLine(line, chunk_first_line, "JSON nested too deeply") from None
    if not isinstance(event, dict):
        kind = type(event).__name__
        raise BadLine(line, chunk_first_line, f"must be a JSON object (a trigger), not {kind}")
    if "name" not in event:
        raise BadLine(line, chunk_first_line, "has no 'name' (the workflow to trigger)")
    try:
        # The client's own check of a bulk event, so nothing is refused later at send time.
        body = bulk_event_body(event, index)
    except ValidationError as exc:
        field_name = exc.argument.partition(".")[2] or "event"
        detail = str(exc).partition(": ")[2]
        raise BadLine(line, chunk_first_line, f"{field_name}: {detail}") from None
    # The server requires a payload on each bulk event, unlike a single trigger
    # (Novu: process-bulk-trigger passes it on without a default); none means empty.
    body.setdefault("payload", {})
    return cast(TriggerEventBody, body)


def _read_lines(stream: IO[bytes]) -> Iterator[Tuple[bytes, int]]:
    """Each line as ``(text, length)``; a line over :data:`MAX_LINE_BYTES` comes as
    ``(b"", length)``, read in pieces and dropped, so it is never held whole."""
    while True:
        raw = stream.readline(MAX_LINE_BYTES + 1)
        if not raw:
            return
        if len(raw) <= MAX_LINE_BYTES or raw.endswith(b"\n"):
            yield raw, len(raw)
            continue
        length = len(raw)
        while not raw.endswith(b"\n"):
            raw = stream.readline(MAX_LINE_BYTES)
            if not raw:
                break
            length += len(raw)
        yield b"", length


def line_weight(raw: bytes) -> int:
    """What a line of JSON takes in memory once parsed, estimated from its text alone.

    Its bytes, plus what Python spends on each object or array (``{``, ``[``: 64 bytes),
    on each element (``,``: 32) and on each string (two ``"``: 50); an upper estimate for
    ordinary JSON, counted at C speed before anything is parsed. A line of one long string
    weighs about its length; ``[{},{},...]`` about 30 times its length.

    Args:
        raw: the line's bytes.
    """
    containers = raw.count(b"{") + raw.count(b"[")
    return len(raw) + 64 * containers + 32 * raw.count(b",") + 25 * raw.count(b'"')


def _too_long(line: int, chunk_first_line: int, length: int) -> BadLine:
    return BadLine(
        line,
        chunk_first_line,
        f"is {length:,} bytes long, over the {MAX_LINE_BYTES:,} bytes a line may have "
        "(nothing of its chunk was sent); send it on its own with teleflow trigger, or "
        "make its payload smaller",
    )


def _chunk_too_large(line: int, chunk: Chunk) -> BadLine:
    lines = f"lines {chunk.first_line}-{line}" if line > chunk.first_line else "this line"
    return BadLine(
        line,
        chunk.first_line,
        f"{lines} would take about {chunk.weight / 1e6:,.1f} MB of memory once parsed, over "
        f"the {MAX_CHUNK_WEIGHT / 1e6:,.1f} MB one request of 100 lines may take (nothing of "
        "this chunk was sent): make the payloads smaller",
    )


def read_chunks(
    stream: IO[bytes], lines: Optional[LineRange] = None, key_prefix: str = DEFAULT_KEY_PREFIX
) -> Iterator[Chunk]:
    """Yield the chunks of ``lines`` of ``stream``, each checked before it is yielded.

    Reads one line at a time and holds at most one chunk: memory does not grow with the
    file. Chunks with no event (only blank lines) are yielded too, with no events.

    Args:
        stream: the file, opened in binary mode.
        lines: the slice to read (default: every line).
        key_prefix: the first part of every key (see :func:`chunk_key`).

    Raises:
        BadLine: a line is not a valid trigger body, or is too long, or its chunk is too
            large (raised before its chunk is yielded).
        OSError: the stream cannot be read.
    """
    lines = lines or ALL_LINES
    current: Optional[Chunk] = None
    digest = hashlib.sha256()
    number = 0
    for number, (raw, length) in enumerate(_read_lines(stream), start=1):
        if number < lines.first:
            continue
        if lines.last is not None and number > lines.last:
            number -= 1
            break
        start = _chunk_start(number)
        if current is not None and start != _chunk_start(current.first_line):
            current.last_line = number - 1
            current.key = chunk_key(key_prefix, current.first_line, number - 1, digest.hexdigest())
            yield current
            current = None
        if current is None:
            current = Chunk(first_line=number, last_line=number, key="")
            digest = hashlib.sha256()
        if not raw:
            raise _too_long(number, current.first_line, length)
        current.weight += line_weight(raw)
        if current.weight > MAX_CHUNK_WEIGHT:
            raise _chunk_too_large(number, current)
        text = raw.rstrip(b"\r\n")
        digest.update(text + b"\n")
        if text.strip():
            current.events.append(_event(text, number, current.first_line, len(current.events)))
            current.lines.append(number)
    if current is not None:
        current.last_line = number
        current.key = chunk_key(key_prefix, current.first_line, number, digest.hexdigest())
        yield current
