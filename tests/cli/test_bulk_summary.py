"""The bulk summary's numbers agree with each other and with the first line not sent."""

from __future__ import annotations

import re
from pathlib import Path

from teleflow_py.cli.bulk_summary import Summary, stop_line
from teleflow_py.cli.jsonl import Chunk
from teleflow_py.cli.output import InterruptedByUser, Output, exit_code_for
from teleflow_py.emulator import Emulator
from teleflow_py.errors import APIConnectionError

from .conftest import run_command, sent_lines, write_jsonl

BULK = "/v1/events/trigger/bulk"


def test_a_later_chunk_sent_before_an_earlier_one_failed_is_explained() -> None:
    # Requests run side by side: chunk 2 may be accepted while chunk 1 fails.
    summary = Summary(first_line=1, last_line=300, events=100, requests=1)
    summary.sent_chunks.append((101, 100))
    summary.stop(InterruptedByUser("interrupted"), 1, None)
    assert summary.as_text() == (
        "100 events sent in 1 request (100 events of them from lines after line 1: a resume "
        "sends them again under the same keys, and the server does not trigger them twice); "
        "from line 1 on, not sent"
    )


def test_events_not_processed_are_listed_by_line_whatever_order_the_answers_came_in() -> None:
    # Chunks answer in any order: 27 failures, the later chunks' first. All are counted;
    # the list keeps the lowest lines in order, so its first entry is the first line.
    summary = Summary()
    for chunk_first in (201, 101, 1):
        for line in range(chunk_first + 9, chunk_first, -1):
            summary.not_processed_at(line, "error", "workflow_not_found")
    assert summary.not_processed == 27
    assert [entry["line"] for entry in summary.not_processed_lines] == [
        *range(2, 11),
        *range(102, 111),
        *range(202, 204),
    ]
    assert summary.not_processed_lines[0] == {
        "line": 2,
        "status": "error",
        "error": "workflow_not_found",
    }


def test_sent_lines_end_where_the_first_line_not_sent_begins() -> None:
    summary = Summary(first_line=1, last_line=900, events=800, requests=8)
    summary.sent_chunks.extend((100 * k + 1, 100) for k in range(8))
    summary.stop(InterruptedByUser("interrupted"), 801, None)
    assert summary.as_text() == (
        "lines 1-800: 800 events sent in 8 requests; from line 801 on, not sent"
    )


def test_after_a_failure_the_summary_counts_what_the_server_stored(
    emulator: Emulator, tmp_path: Path
) -> None:
    # Whichever chunk meets the refusal, the summary's numbers match what arrived.
    data = write_jsonl(tmp_path / "f.jsonl", 300)
    emulator.fail_next(1, 400, path=BULK)
    ran = run_command(["bulk", str(data), "--concurrency", "3"], base_url=emulator.url)
    assert ran.code == 1
    stored = len(sent_lines(emulator))
    named = re.search(r"first line not sent: (\d+)", ran.err)
    assert named, ran.err
    first_unsent = int(named.group(1))
    text = ran.out.strip()
    assert re.search(rf"\b{stored} events? sent in \d+ requests?", text), text
    assert text.endswith(f"from line {first_unsent} on, not sent"), text
    prefix = re.match(r"lines 1-(\d+): ", text)
    if prefix:
        assert int(prefix.group(1)) == first_unsent - 1
    assert set(range(1, first_unsent)) <= set(sent_lines(emulator))


def _chunk(first: int) -> Chunk:
    return Chunk(first_line=first, last_line=first + 99, key=f"k-{first}")


def _lost_answer() -> APIConnectionError:
    error = APIConnectionError("connection reset after the request was sent", url="http://x")
    error.maybe_delivered = True  # a server that does not deduplicate
    return error


def test_chunks_that_may_have_been_delivered_are_named_whatever_failed_earlier() -> None:
    # Chunk 2 failed plainly, chunks 3 and 5 lost their answers, then Ctrl-C: the line
    # names every chunk the server may have processed, not just the earliest failure.
    summary = Summary(first_line=1, last_line=500, events=100, requests=1)
    summary.sent_chunks.append((1, 100))
    summary.stop(APIConnectionError("connection refused", url="http://x"), 101, _chunk(101))
    summary.stop(_lost_answer(), 401, _chunk(401))
    summary.stop(InterruptedByUser("interrupted"), 501, None)
    summary.stop(_lost_answer(), 201, _chunk(201))
    assert summary.first_unsent_line == 101
    assert exit_code_for(summary.error) == 4  # EXIT_MAYBE_DELIVERED, not 130
    line = stop_line(summary, Output())
    assert line.startswith(
        "interrupted; lines 201-300, 401-500 may or may not have been delivered: "
    ), line
    assert line.endswith("; check them before carrying on with --resume-from 101"), line
    # --json names the same lines, so a script can check them before resuming.
    assert summary.as_json(Output())["maybe_delivered_lines"] == [
        {"first": 201, "last": 300},
        {"first": 401, "last": 500},
    ]


def test_without_a_chunk_that_may_have_been_delivered_ctrl_c_is_reported() -> None:
    summary = Summary(first_line=1, last_line=300, events=100, requests=1)
    summary.sent_chunks.append((1, 100))
    summary.stop(APIConnectionError("connection refused", url="http://x"), 201, _chunk(201))
    summary.stop(InterruptedByUser("interrupted"), 301, None)
    assert exit_code_for(summary.error) == 130
    assert stop_line(summary, Output()) == (
        "interrupted; first line not sent: 201; carry on with --resume-from 201"
    )
