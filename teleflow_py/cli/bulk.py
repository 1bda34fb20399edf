"""``teleflow bulk FILE.jsonl``: trigger one event per line, 100 per request, resumable.

The file is read as a stream (see :mod:`teleflow_py.cli.jsonl`): at most ``--concurrency``
chunks (and at most 8 MiB of parsed lines, see :func:`~.jsonl.line_weight`) are in flight
and one more is being read, so memory does not grow with the file.
Each chunk is one :meth:`~teleflow_py.Client.trigger_bulk_event` call of at most 100
events under a key derived from its lines, so a chunk sent again (a re-run, a resume, a
slice run elsewhere) is answered from the server's idempotency store, not triggered twice.
"""

from __future__ import annotations

import argparse
import os
import stat
import sys
from concurrent.futures import Future, ThreadPoolExecutor
from queue import SimpleQueue
from typing import IO, Dict, Iterator, Optional

from .._bodies import DEFAULT_CONCURRENCY as LIBRARY_CONCURRENCY
from .._ctrl_c import CtrlC
from ..client import Client
from ..errors import ServerError
from ..results import BulkTriggerResult
from .bulk_summary import Summary, stop_line
from .jsonl import (
    ALL_LINES,
    DEFAULT_KEY_PREFIX,
    MAX_CHUNK_WEIGHT,
    BadLine,
    Chunk,
    LineRange,
    check_key_prefix,
    read_chunks,
)
from .options import add_api_options, make_client
from .output import (
    EXIT_API_ERROR,
    EXIT_OK,
    InterruptedByUser,
    Output,
    UsageError,
    exit_code_for,
    plural,
)
from .progress import Progress

HELP = "trigger the events of a JSON Lines file, 100 per request, resumable"

#: The library's default: paced by the rate-limit headers, 8 in flight meet no 429.
DEFAULT_CONCURRENCY = LIBRARY_CONCURRENCY
MAX_CONCURRENCY = 64
#: The header on an answer the server replayed from its idempotency store.
REPLAY_HEADER = "Idempotency-Replay"
#: The most the chunks in flight may weigh together (see :func:`~.jsonl.line_weight`).
IN_FLIGHT_WEIGHT = MAX_CHUNK_WEIGHT
#: Derived keys (``<key>-1``, ``-2``, ...) tried for a chunk whose 5xx the server replays.
MAX_KEY_STEPS = 3


def configure_parser(parser: argparse.ArgumentParser) -> None:
    """Add the arguments of ``teleflow bulk``.

    Args:
        parser: the sub-command's parser.
    """
    parser.add_argument(
        "file",
        metavar="FILE.jsonl",
        help='one trigger per line, e.g. {"name": "welcome", "to": "ada"}; - reads stdin',
    )
    parser.add_argument(
        "--concurrency",
        type=int,
        default=DEFAULT_CONCURRENCY,
        metavar="N",
        help=f"requests in flight at once, 1 to {MAX_CONCURRENCY} (default: {DEFAULT_CONCURRENCY})",
    )
    parser.add_argument(
        "--no-pacing",
        action="store_true",
        help="send as fast as --concurrency allows instead of spacing the requests by the "
        "rate-limit budget the server announces (a 429 still waits and retries)",
    )
    parser.add_argument(
        "--lines",
        metavar="A:B",
        help="send only lines A to B (1-based, inclusive; A: or :B open-ended); "
        "the keys are the same whichever machine sends them",
    )
    parser.add_argument(
        "--resume-from",
        type=int,
        metavar="N",
        help="start at line N: the first line not sent, as a failed run reports it",
    )
    parser.add_argument(
        "--key-prefix",
        default=DEFAULT_KEY_PREFIX,
        metavar="PREFIX",
        help="first part of every idempotency key; change it to send the same lines "
        f"again on purpose (default: {DEFAULT_KEY_PREFIX})",
    )
    add_api_options(parser)


class BulkSender:
    """Sends chunks with up to ``concurrency`` requests in flight; stops at the first failure.

    Args:
        client: the client whose ``trigger_bulk_event`` sends each chunk.
        concurrency: requests in flight at once.
        progress: counts what was sent.
        first_line: the first line to be read (where a run stopped before reading resumes).
        key_prefix: the first part of the chunks' keys (named in the summary).
    """

    def __init__(
        self,
        client: Client,
        concurrency: int,
        progress: Progress,
        first_line: int = 1,
        key_prefix: str = DEFAULT_KEY_PREFIX,
    ) -> None:
        self._client = client
        self._concurrency = concurrency
        self._progress = progress
        self._first_line = first_line
        self.summary = Summary(key_prefix=key_prefix)

    def send(self, chunks: Iterator[Chunk]) -> Summary:
        """Send every chunk, or stop at the first one that fails; return the summary.

        Failures (a bad line, an unreadable stream, a refused or unanswered request, Ctrl-C)
        end up in the summary's ``error``, never raised. After Ctrl-C no chunk is sent, and
        the requests in flight are waited for: each is counted by its answer.

        Args:
            chunks: the chunks to send, as :func:`~teleflow_py.cli.jsonl.read_chunks` yields them.
        """
        summary = self.summary
        in_flight: Dict[Future[BulkTriggerResult], Chunk] = {}
        # Futures as they finish, and None for a Ctrl-C that wakes the loop.
        finished: SimpleQueue[Optional[Future[BulkTriggerResult]]] = SimpleQueue()
        # The first line not yet handed to a thread: where an interrupted run resumes.
        next_line = self._first_line
        executor = ThreadPoolExecutor(self._concurrency, thread_name_prefix="teleflow-bulk")
        # Ctrl-C is a flag checked between the steps below, so it never lands between a
        # request handed to a thread and its recording, or its answer and its counting.
        with CtrlC(wake=lambda: finished.put(None)) as ctrl_c:
            try:
                while summary.error is None:
                    try:
                        # Reading stdin may block for good: Ctrl-C interrupts it.
                        chunk = ctrl_c.call(lambda: next(chunks, None))
                    except KeyboardInterrupt:
                        break
                    if chunk is None:
                        break
                    if summary.first_line is None:
                        summary.first_line = chunk.first_line
                    summary.last_line = chunk.last_line
                    while self._full(in_flight, chunk) and not self._stopping(ctrl_c):
                        self._collect(in_flight, finished.get())
                    if self._stopping(ctrl_c):
                        summary.unsent_from.append(chunk.first_line)
                        break
                    if chunk.events:
                        future = executor.submit(self._send, chunk)
                        in_flight[future] = chunk
                        future.add_done_callback(finished.put)
                    else:
                        self._progress.advance(0, chunk.last_line - chunk.first_line + 1)
                    next_line = chunk.last_line + 1
            except BadLine as bad:
                summary.stop(bad, bad.chunk_first_line, None)
            except OSError as exc:
                summary.stop(exc, next_line, None)
            finally:
                if ctrl_c.pressed:
                    # Requests not yet started are not sent; the others are waited for.
                    for future in in_flight:
                        future.cancel()
                    summary.stop(InterruptedByUser("interrupted"), next_line, None)
                while in_flight:
                    self._collect(in_flight, finished.get())
                executor.shutdown(wait=True)
                self._progress.close()
        return summary

    def _stopping(self, ctrl_c: CtrlC) -> bool:
        return self.summary.error is not None or ctrl_c.pressed

    def _full(self, in_flight: Dict[Future[BulkTriggerResult], Chunk], chunk: Chunk) -> bool:
        # At most ``concurrency`` requests, and at most IN_FLIGHT_WEIGHT of lines in flight
        # (or a single chunk): memory stays flat whatever the lines hold.
        if not in_flight:
            return False
        weight = sum(sent.weight for sent in in_flight.values()) + chunk.weight
        return len(in_flight) >= self._concurrency or weight > IN_FLIGHT_WEIGHT

    def _send(self, chunk: Chunk) -> BulkTriggerResult:
        key = chunk.key
        for step in range(1, MAX_KEY_STEPS + 1):
            try:
                return self._client.trigger_bulk_event(chunk.events, idempotency_key=key)
            except ServerError as exc:
                # The server keeps a key's error answer for 24 hours too, and replays it
                # (Novu: apps/api/src/app/shared/framework/idempotency.interceptor.ts). A
                # replayed 5xx proves the first attempt under this key triggered nothing,
                # so the next key of a fixed sequence is safe; a re-run walks the same one.
                if exc.headers.get(REPLAY_HEADER) != "true":
                    raise
                key = f"{chunk.key}-{step}"
        return self._client.trigger_bulk_event(chunk.events, idempotency_key=key)

    def _collect(
        self,
        in_flight: Dict[Future[BulkTriggerResult], Chunk],
        future: Optional[Future[BulkTriggerResult]],
    ) -> None:
        if future is None:  # a Ctrl-C woke the wait
            return
        summary = self.summary
        chunk = in_flight.pop(future)
        if future.cancelled():
            summary.unsent_from.append(chunk.first_line)
            return
        error = future.exception()
        if error is not None:
            summary.stop(error, chunk.first_line, chunk)
            return
        result = future.result()
        summary.requests += 1
        summary.events += len(chunk.events)
        summary.sent_chunks.append((chunk.first_line, len(chunk.events)))
        if any(r.headers.get(REPLAY_HEADER) == "true" for r in result.responses):
            summary.replayed_requests += 1
            summary.replayed_events += len(chunk.events)
        summary.unconfirmed += len(result.unconfirmed)
        for index, trigger in result.failed:
            summary.not_processed_at(chunk.lines[index], trigger.status, trigger.error)
        self._progress.advance(len(chunk.events), chunk.last_line - chunk.first_line + 1)


def _open(path: str) -> IO[bytes]:
    if path == "-":
        return sys.stdin.buffer
    try:
        return open(path, "rb")
    except OSError as exc:
        raise UsageError(f"cannot read {path}: {exc.strerror or exc}") from exc


def _count_lines(path: str, lines: LineRange) -> Optional[int]:
    """Lines the run will read, for the bar's total (a regular file only: one fast pass)."""
    try:
        if path == "-" or not stat.S_ISREG(os.stat(path).st_mode):
            return None
        count = 0
        with open(path, "rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                count += block.count(b"\n")
                tail = block[-1:]
        if count and tail != b"\n":
            count += 1
    except OSError:
        return None
    last = count if lines.last is None else min(lines.last, count)
    return max(0, last - lines.first + 1)


def _options(args: argparse.Namespace) -> LineRange:
    try:
        lines = LineRange.parse(args.lines) if args.lines else ALL_LINES
    except ValueError as exc:
        raise UsageError(f"--lines: {exc}") from None
    if args.resume_from is not None:
        if args.resume_from < 1:
            raise UsageError(f"--resume-from: must be a line number >= 1, got {args.resume_from}")
        lines = lines.starting_at(args.resume_from)
    if not 1 <= args.concurrency <= MAX_CONCURRENCY:
        raise UsageError(f"--concurrency: must be 1 to {MAX_CONCURRENCY}, got {args.concurrency}")
    try:
        check_key_prefix(args.key_prefix)
    except ValueError as exc:
        raise UsageError(f"--key-prefix: {exc}") from None
    return lines


def run(args: argparse.Namespace, output: Output) -> int:
    """Run ``teleflow bulk``; return the exit code.

    Args:
        args: the parsed command line.
        output: where the result and the error lines go.

    Raises:
        UsageError: bad options or input (exit code 2).
        TeleflowError: the API call failed; ``main`` prints it in one line and picks the
            exit code (1 API error, 2 invalid input, 3 connection).
    """
    lines = _options(args)
    with make_client(args, pace_by_rate_limit=not args.no_pacing) as client:
        stream = _open(args.file)
        try:
            total = _count_lines(args.file, lines) if output.stderr.isatty() else None
            progress = Progress(output.stderr, total)
            sender = BulkSender(client, args.concurrency, progress, lines.first, args.key_prefix)
            with progress.showing_rate_limit_waits():
                summary = sender.send(read_chunks(stream, lines, args.key_prefix))
        finally:
            if stream is not sys.stdin.buffer:
                stream.close()
    output.result(summary.as_json(output), summary.as_text())
    if summary.error is not None:
        interrupted = isinstance(summary.error, InterruptedByUser)
        output.note(f"teleflow: {'' if interrupted else 'error: '}{stop_line(summary, output)}")
        return exit_code_for(summary.error)
    if summary.not_processed:
        first = summary.not_processed_lines[0]
        output.note(
            f"teleflow: error: {plural(summary.not_processed, 'event')} not processed; first: "
            f"line {first['line']}: status {first['status']}: {'; '.join(first['error']) or '-'}"
        )
        return EXIT_API_ERROR
    return EXIT_OK
