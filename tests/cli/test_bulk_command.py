"""``teleflow bulk``: every line once, whatever is re-run, resumed or split across machines."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable, List

import pytest
from child_signals import teleflow_command

from teleflow_py.emulator import Emulator

from .conftest import (
    API_KEY,
    Runner,
    command_env,
    run_command,
    run_in_process,
    sent_lines,
    write_jsonl,
)

BULK = "/v1/events/trigger/bulk"
SUMMARY_FIELDS = {
    "ok",
    "lines",
    "events",
    "requests",
    "replayed_requests",
    "replayed_events",
    "not_processed",
    "not_processed_lines",
    "unconfirmed",
    "first_unsent_line",
    "maybe_delivered_lines",
    "error",
}


def _wait_for(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + 60  # a hang guard, not a timing assertion
    while not condition():
        assert time.monotonic() < deadline, f"gave up waiting for {what}"
        time.sleep(0.02)


def _bulk_sizes(emulator: Emulator) -> List[int]:
    return [len(r["body"]["events"]) for r in emulator.requests(path=BULK) if r["body"]]


def test_every_line_is_sent_once_and_a_rerun_sends_nothing_twice(
    cli: Runner, emulator: Emulator, tmp_path: Path
) -> None:
    data = write_jsonl(tmp_path / "campaign.jsonl", 250)
    first = cli("bulk", str(data), "--json")  # default settings
    assert first.code == 0, first.err
    assert set(first.json) == SUMMARY_FIELDS
    assert first.json["ok"] is True
    assert first.json["events"] == 250
    assert first.json["requests"] == 3
    assert first.json["lines"] == {"first": 1, "last": 250}
    assert sorted(sent_lines(emulator)) == list(range(1, 251))
    assert sorted(_bulk_sizes(emulator)) == [50, 100, 100]

    again = cli("bulk", str(data))
    assert again.code == 0, again.err
    assert again.out.strip() == (
        "lines 1-250: 250 events sent in 3 requests; 250 of them were sent before "
        "(same lines, same keys) and not triggered again: to send them again on purpose, "
        "run with a new --key-prefix (e.g. --key-prefix teleflow-bulk-2)"
    )
    assert sorted(sent_lines(emulator)) == list(range(1, 251))  # nothing twice


def test_stdin_is_read_with_the_same_keys_as_the_file(
    cli_here: Runner, emulator: Emulator, tmp_path: Path
) -> None:
    data = write_jsonl(tmp_path / "c.jsonl", 120)
    assert cli_here("bulk", "-", stdin=data.read_text()).code == 0
    ran = cli_here("bulk", str(data), "--json")
    assert ran.json["replayed_events"] == 120
    assert sorted(sent_lines(emulator)) == list(range(1, 121))


def test_slices_sent_from_two_machines_cover_the_file_exactly_once(
    emulator: Emulator, tmp_path: Path
) -> None:
    data = write_jsonl(tmp_path / "campaign.jsonl", 600)
    # "Machine B" has its own copy under another name and directory, read from stdin.
    elsewhere = tmp_path / "machine-b"
    elsewhere.mkdir()
    copy = shutil.copy(data, elsewhere / "copy-of-campaign.jsonl")
    a = run_command(["bulk", str(data), "--lines", "1:300", "--json"], base_url=emulator.url)
    b = run_command(
        ["bulk", "-", "--lines", "301:", "--json"],
        base_url=emulator.url,
        stdin=Path(copy).read_text(),
    )
    assert a.code == b.code == 0, a.err + b.err
    assert (a.json["lines"], b.json["lines"]) == (
        {"first": 1, "last": 300},
        {"first": 301, "last": 600},
    )
    assert sorted(sent_lines(emulator)) == list(range(1, 601))
    # The whole file afterwards: the same keys, so every request is a replay.
    whole = run_command(["bulk", str(data), "--json"], base_url=emulator.url)
    assert whole.json["replayed_events"] == 600
    assert sorted(sent_lines(emulator)) == list(range(1, 601))


def test_a_bad_line_stops_before_its_chunk_and_resume_carries_on(
    cli: Runner, cli_here: Runner, emulator: Emulator, tmp_path: Path
) -> None:
    data = write_jsonl(tmp_path / "c.jsonl", 250)
    rows = data.read_text().splitlines(keepends=True)
    rows[169] = '{"name": "digest", "to": "user-170", "payload": {"line": 170}\n'  # no closing }
    data.write_text("".join(rows))
    ran = cli("bulk", str(data))
    assert ran.code == 2
    assert ran.err_lines[-1] == (
        "teleflow: error: line 170: not valid JSON: Expecting ',' delimiter (column 62); "
        "first line not sent: 101; carry on with --resume-from 101"
    )
    assert sorted(sent_lines(emulator)) == list(range(1, 101))

    rows[169] = json.dumps({"name": "digest", "to": "user-170", "payload": {"line": 170}}) + "\n"
    data.write_text("".join(rows))
    resumed = cli_here("bulk", str(data), "--resume-from", "101", "--json")
    assert resumed.code == 0, resumed.err
    assert resumed.json["lines"] == {"first": 101, "last": 250}
    assert sorted(sent_lines(emulator)) == list(range(1, 251))


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        ('{"to": "user-7"}', "line 7: has no 'name' (the workflow to trigger)"),
        ('"just a string"', "line 7: must be a JSON object (a trigger), not str"),
        ('{"name": "digest"}', "line 7: to: is required"),
    ],
)
def test_bad_lines_in_the_first_chunk_send_nothing(
    cli_here: Runner, emulator: Emulator, tmp_path: Path, line: str, reason: str
) -> None:
    data = write_jsonl(tmp_path / "c.jsonl", 50)
    rows = data.read_text().splitlines(keepends=True)
    rows[6] = line + "\n"
    data.write_text("".join(rows))
    ran = cli_here("bulk", str(data), "--json")
    assert ran.code == 2
    assert ran.err_lines == [f"teleflow: error: {reason}; nothing was sent"]
    assert ran.json["first_unsent_line"] == 1
    assert ran.json["error"]["exit_code"] == 2
    assert emulator.requests() == []


def test_unreadable_input_is_a_usage_error(cli_here: Runner, tmp_path: Path) -> None:
    missing = cli_here("bulk", str(tmp_path / "missing.jsonl"))
    assert missing.code == 2
    assert missing.err_lines == [
        f"teleflow: error: cannot read {tmp_path / 'missing.jsonl'}: No such file or directory"
    ]
    directory = cli_here("bulk", str(tmp_path))
    assert directory.code == 2
    assert "Is a directory" in directory.err
    for args, expected in (
        (["--lines", "5"], "--lines: expected A:B"),
        (["--resume-from", "0"], "--resume-from: must be a line number >= 1"),
        (["--concurrency", "0"], "--concurrency: must be 1 to 64"),
        (["--key-prefix", "has space"], "--key-prefix: must be printable ASCII"),
    ):
        ran = cli_here("bulk", "-", *args, stdin="")
        assert ran.code == 2
        assert expected in ran.err, ran.err


def test_a_chunk_whose_answer_was_lost_on_a_self_hosted_server_exits_4(tmp_path: Path) -> None:
    # A self-hosted server as shipped (IS_API_IDEMPOTENCY_ENABLED=false in NxPKG/teleflow
    # apps/api/src/.env.production): the chunk was processed, its answer lost; a retry would
    # deliver it twice, so the run stops and says the lines may have been delivered.
    data = write_jsonl(tmp_path / "lost.jsonl", 300)
    with Emulator(idempotency=False) as emulator:
        emulator.drop_next(1, path=BULK)
        ran = run_command(
            ["bulk", str(data), "--concurrency", "1", "--json"], base_url=emulator.url
        )
        assert ran.code == 4, ran.err
        assert ran.json["maybe_delivered_lines"] == [{"first": 1, "last": 100}]
        assert ran.json["first_unsent_line"] == 1
        assert ran.err_lines[-1].startswith(
            "teleflow: error: lines 1-100 may or may not have been delivered: POST http://"
        )
        assert ran.err_lines[-1].endswith("check them before carrying on with --resume-from 1")
        assert len(emulator.requests(path=BULK)) == 1  # not repeated
        assert sorted(sent_lines(emulator)) == list(range(1, 101))  # processed once


def test_a_failed_chunk_stops_and_resume_from_sends_the_rest_once(
    cli: Runner, cli_here: Runner, emulator: Emulator, tmp_path: Path
) -> None:
    data = write_jsonl(tmp_path / "c.jsonl", 500)
    # The first two requests go through (a delay of 0 s), the third gets a 500.
    emulator.delay_next(2, 0.0, path=BULK)
    emulator.fail_next(1, 500, headers={"X-Request-Id": "req-7"}, path=BULK)
    ran = cli("bulk", str(data), "--concurrency", "1", "--json")
    assert ran.code == 1
    assert ran.err_lines[-1] == (
        "teleflow: error: lines 201-300 not sent: HTTP 500: Injected fault: the server "
        "failed: try again later; a repeat with the same idempotency key is safe where the "
        "server deduplicates (request id req-7); first line not sent: 201; carry on with --resume-from 201"
    )
    assert ran.json["first_unsent_line"] == 201
    assert ran.json["error"]["request_id"] == "req-7"
    assert sorted(sent_lines(emulator)) == list(range(1, 201))

    resumed = cli_here("bulk", str(data), "--resume-from", "201")
    assert resumed.code == 0, resumed.err
    assert sorted(sent_lines(emulator)) == list(range(1, 501))


def test_resume_moves_past_an_error_the_server_replays_for_the_chunks_key(
    cli_here: Runner, emulator: Emulator, tmp_path: Path
) -> None:
    # The real server keeps an error answer under its key for 24 hours and replays it
    # (Novu: apps/api/src/app/shared/framework/idempotency.interceptor.ts, status ERROR,
    # Idempotency-Replay: true). The resume then sends the chunk under the next derived key.
    data = write_jsonl(tmp_path / "c.jsonl", 200)
    emulator.delay_next(1, 0.0, path=BULK)
    emulator.fail_next(1, 500, path=BULK)
    first = cli_here("bulk", str(data), "--concurrency", "1")
    assert first.code == 1
    emulator.fail_next(1, 500, headers={"Idempotency-Replay": "true"}, path=BULK)
    resumed = cli_here("bulk", str(data), "--resume-from", "101")
    assert resumed.code == 0, resumed.err
    keys = [r["headers"]["idempotency-key"] for r in emulator.requests(path=BULK)]
    assert keys[-1] == keys[-2] + "-1"
    assert sorted(sent_lines(emulator)) == list(range(1, 201))


def test_an_answer_lost_in_flight_is_resumed_without_triggering_twice(
    cli_here: Runner, emulator: Emulator, tmp_path: Path
) -> None:
    data = write_jsonl(tmp_path / "c.jsonl", 300)
    # The second request is processed and stored, but its answer never arrives.
    emulator.delay_next(1, 0.0, path=BULK)
    emulator.drop_next(1, path=BULK)
    ran = cli_here("bulk", str(data), "--concurrency", "1", "--max-retries", "0")
    assert ran.code == 3
    assert "lines 101-200 not sent: connection failed:" in ran.err
    assert "carry on with --resume-from 101" in ran.err
    resumed = cli_here("bulk", str(data), "--resume-from", "101", "--json")
    assert resumed.code == 0
    assert resumed.json["replayed_events"] == 100  # lines 101-200 were stored the first time
    assert sorted(sent_lines(emulator)) == list(range(1, 301))


def test_with_default_concurrency_a_failure_still_resumes_to_exactly_once(
    cli_here: Runner, emulator: Emulator, tmp_path: Path
) -> None:
    data = write_jsonl(tmp_path / "c.jsonl", 1000)
    emulator.delay_next(3, 0.0, path=BULK)
    emulator.fail_next(1, 500, path=BULK)
    ran = cli_here("bulk", str(data), "--json")
    assert ran.code == 1
    first_unsent = ran.json["first_unsent_line"]
    # The failed request may be any of the first ones to arrive (eight in flight).
    assert first_unsent in range(1, 1001, 100)
    assert set(range(1, first_unsent)) <= set(sent_lines(emulator))
    resumed = cli_here("bulk", str(data), "--resume-from", str(first_unsent))
    assert resumed.code == 0, resumed.err
    assert sorted(sent_lines(emulator)) == list(range(1, 1001))


def test_concurrency_keeps_that_many_requests_in_flight(emulator: Emulator, tmp_path: Path) -> None:
    data = write_jsonl(tmp_path / "c.jsonl", 800)
    emulator.delay_next(4, 120.0, path=BULK)  # hold the first four requests
    process = subprocess.Popen(
        [sys.executable, "-m", "teleflow_py", "bulk", str(data), "--concurrency", "4"],
        env=command_env(emulator.url),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        _wait_for(lambda: len(emulator.faults_served()) == 4, "four requests held at once")
        assert emulator.triggers() == []  # none answered yet: all four were in flight together
        emulator.clear_faults()
        _, err = process.communicate(timeout=120)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == 0, err
    assert sorted(sent_lines(emulator)) == list(range(1, 801))


def test_events_the_server_did_not_process_are_listed_by_line(tmp_path: Path) -> None:
    data = write_jsonl(tmp_path / "c.jsonl", 150)
    rows = data.read_text().splitlines(keepends=True)
    for index in (9, 119):
        rows[index] = rows[index].replace('"digest"', '"unknown"')
    data.write_text("".join(rows))
    with Emulator(known_workflows=["digest"]) as emu:
        ran = run_command(["bulk", str(data), "--json"], base_url=emu.url)
        assert len(emu.triggers()) == 148
    assert ran.code == 1
    assert ran.json["not_processed"] == 2
    assert [entry["line"] for entry in ran.json["not_processed_lines"]] == [10, 120]
    assert ran.json["not_processed_lines"][0]["status"] == "error"
    assert ran.err_lines[-1] == (
        "teleflow: error: 2 events not processed; first: line 10: status error: workflow_not_found"
    )


@pytest.mark.skipif(sys.platform == "win32", reason="sends SIGINT")
@pytest.mark.sigint
def test_ctrl_c_exits_130_naming_the_first_line_not_sent(emulator: Emulator) -> None:
    process = subprocess.Popen(
        teleflow_command("bulk", "-"),
        env=command_env(emulator.url),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdin is not None
        for number in range(1, 102):  # line 101 closes the first chunk
            body = {"name": "digest", "to": f"user-{number}", "payload": {"line": number}}
            process.stdin.write(json.dumps(body) + "\n")
        process.stdin.flush()
        _wait_for(lambda: len(emulator.triggers()) == 100, "the first chunk to be stored")
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == 130
    assert "Traceback" not in err
    assert err.splitlines()[-1] == (
        "teleflow: interrupted; first line not sent: 101; carry on with --resume-from 101"
    )
    # The summary's lines agree with the first line not sent.
    assert out.strip() == "lines 1-100: 100 events sent in 1 request; from line 101 on, not sent"


@pytest.mark.skipif(sys.platform == "win32", reason="sends SIGINT")
@pytest.mark.sigint
def test_ctrl_c_finishes_the_requests_in_flight_and_names_the_chunk_not_sent(
    emulator: Emulator, tmp_path: Path
) -> None:
    data = write_jsonl(tmp_path / "c.jsonl", 300)
    emulator.delay_next(1, 120.0, path=BULK)  # hold the first request
    process = subprocess.Popen(
        teleflow_command("bulk", str(data), "--concurrency", "1"),
        env=command_env(emulator.url),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        _wait_for(lambda: len(emulator.faults_served()) == 1, "the first request to be held")
        process.send_signal(signal.SIGINT)
        emulator.clear_faults()  # the request in flight is answered: its outcome is known
        out, err = process.communicate(timeout=60)
        # Chunk 2 may have been read and waiting for a thread: it is not counted as sent.
        assert out.strip() == (
            "lines 1-100: 100 events sent in 1 request; from line 101 on, not sent"
        ), out
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == 130
    assert err.splitlines()[-1] == (
        "teleflow: interrupted; first line not sent: 101; carry on with --resume-from 101"
    )
    assert sorted(sent_lines(emulator)) == list(range(1, 101))


def test_verbose_bulk_never_prints_the_key(emulator: Emulator, tmp_path: Path) -> None:
    data = write_jsonl(tmp_path / "c.jsonl", 120)
    env = command_env(emulator.url)
    del env["TELEFLOW_API_KEY"]
    ran = run_command(
        ["bulk", str(data), "--verbose", "--api-key", API_KEY], base_url=emulator.url, env=env
    )
    assert ran.code == 0
    assert ran.err.count(f"{BULK} -> 201") == 2
    assert "ApiKey ***" in ran.err
    assert re.search(r"idempotency-key': 'teleflow-bulk-1-100-[0-9a-f]{32}'", ran.err, re.I)


def test_plain_progress_lines_when_not_on_a_terminal(cli: Runner, tmp_path: Path) -> None:
    ran = cli("bulk", str(write_jsonl(tmp_path / "c.jsonl", 150)), "--concurrency", "1")
    assert ran.code == 0
    assert ran.err_lines[0] == "teleflow bulk: 100 events sent so far"
    assert "\r" not in ran.err


def _run_on_a_terminal(args: List[str], env: dict, prelude: str = "") -> str:
    """Run the command with stderr on a pseudo-terminal; return what it drew there."""
    import fcntl
    import pty
    import struct
    import termios

    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 100, 0, 0))
    code = prelude + "import sys\nfrom teleflow_py.cli import main\nsys.exit(main(sys.argv[1:]))"
    process = subprocess.Popen(
        [sys.executable, "-c", code, *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=slave,
        stdin=subprocess.DEVNULL,
    )
    os.close(slave)
    chunks = []
    while True:
        try:
            chunk = os.read(master, 4096)
        except OSError:  # EIO: the child closed the terminal
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(master)
    assert process.wait(timeout=120) == 0
    assert process.stdout is not None
    process.stdout.close()
    return b"".join(chunks).decode("utf-8", "replace")


@pytest.mark.skipif(sys.platform == "win32", reason="needs a pseudo-terminal")
def test_a_progress_bar_on_a_terminal_with_the_cli_extra(
    emulator: Emulator, tmp_path: Path
) -> None:
    pytest.importorskip("tqdm")
    data = write_jsonl(tmp_path / "c.jsonl", 250)
    drawn = _run_on_a_terminal(["bulk", str(data)], command_env(emulator.url))
    assert "teleflow bulk: 100%|" in drawn
    assert "250/250" in drawn


@pytest.mark.skipif(sys.platform == "win32", reason="needs a pseudo-terminal")
def test_plain_lines_on_a_terminal_without_the_cli_extra(
    emulator: Emulator, tmp_path: Path
) -> None:
    data = write_jsonl(tmp_path / "c.jsonl", 250)
    hide_tqdm = "import sys\nsys.modules['tqdm'] = None\n"  # as if not installed
    drawn = _run_on_a_terminal(["bulk", str(data)], command_env(emulator.url), hide_tqdm)
    assert "teleflow bulk: " in drawn and "events sent so far" in drawn
    assert "%|" not in drawn


def test_the_progress_line_says_when_requests_wait_for_the_rate_limit(tmp_path: Path) -> None:
    # 100 tokens a second and a bulk request costs 100: each request waits about 1 s.
    path = write_jsonl(tmp_path / "paced.jsonl", 400)
    with Emulator(rate_limit_tier=100) as emulator:
        paced = run_in_process(["bulk", str(path)], base_url=emulator.url)
        assert paced.code == 0, paced.err
        assert "waiting for the rate limit" in paced.err
        assert len(emulator.triggers()) == 400
        assert not [r for r in emulator.requests() if r["status"] == 429]


def test_no_pacing_sends_at_once_and_a_429_still_waits_and_retries(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "unpaced.jsonl", 300)
    with Emulator(rate_limit_tier=100) as emulator:
        ran = run_in_process(["bulk", str(path), "--no-pacing"], base_url=emulator.url)
        assert ran.code == 0, ran.err
        assert "waiting for the rate limit" not in ran.err
        assert [r for r in emulator.requests() if r["status"] == 429]
        assert sorted(t["payload"]["line"] for t in emulator.triggers()) == list(range(1, 301))
