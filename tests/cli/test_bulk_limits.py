"""``teleflow bulk`` refuses what the server would refuse, by line, and never holds it whole."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from teleflow_py.cli.jsonl import MAX_CHUNK_WEIGHT, MAX_LINE_BYTES, line_weight
from teleflow_py.emulator import Emulator

from ._bulk_server import CountingServer
from .conftest import command_env, run_command, sent_lines, write_jsonl

# The server refuses a body over 20 MB (the emulator, as the server: DEFAULT_MAX_BODY_BYTES).
SERVER_BODY_LIMIT = 20 * 1024 * 1024
# Peak resident memory the command may reach on any input file, in MB.
MEMORY_BOUND_MB = 100


def _line(number: int, payload_bytes: int) -> str:
    body = {"name": "digest", "to": f"user-{number}", "payload": {"line": number}}
    body["payload"]["pad"] = "x" * payload_bytes
    return json.dumps(body) + "\n"


def test_the_bounds_keep_every_request_under_the_server_s_body_limit() -> None:
    # A chunk's lines are re-encoded compactly (no spaces, UTF-8 as is): the body is at
    # most the lines plus a few bytes of framing per event, and a line weighs at least
    # its length.
    assert MAX_CHUNK_WEIGHT + 100 * 64 < SERVER_BODY_LIMIT
    assert MAX_LINE_BYTES <= MAX_CHUNK_WEIGHT
    line = _line(1, 1000).encode()
    assert line_weight(line) >= len(line)


def test_a_line_over_the_limit_is_refused_by_number_before_its_chunk_is_sent(
    emulator: Emulator, tmp_path: Path
) -> None:
    data = write_jsonl(tmp_path / "big.jsonl", 150)
    with data.open("a", encoding="utf-8") as handle:
        handle.write(_line(151, MAX_LINE_BYTES))  # over the limit with its framing
        handle.write(_line(152, 10))
    ran = run_command(["bulk", str(data)], base_url=emulator.url)
    assert ran.code == 2
    assert ran.err_lines[-1].startswith("teleflow: error: line 151: is ")
    assert f"over the {MAX_LINE_BYTES:,} bytes a line may have" in ran.err
    assert "first line not sent: 101; carry on with --resume-from 101" in ran.err
    # Lines 1-100 were sent; nothing of the chunk of line 151 was.
    assert sorted(sent_lines(emulator)) == list(range(1, 101))
    assert ran.out.strip() == (
        "lines 1-100: 100 events sent in 1 request; from line 101 on, not sent"
    )


def test_a_line_just_within_the_limit_is_sent(emulator: Emulator, tmp_path: Path) -> None:
    data = tmp_path / "edge.jsonl"
    line = _line(1, 0)
    line = _line(1, MAX_LINE_BYTES - len(line.encode()))
    assert len(line.encode()) == MAX_LINE_BYTES
    data.write_text(line, encoding="utf-8")
    ran = run_command(["bulk", str(data)], base_url=emulator.url)
    assert ran.code == 0, ran.err
    assert sent_lines(emulator) == [1]


def test_a_chunk_whose_lines_are_too_heavy_together_is_refused_at_the_line_that_tips_it(
    emulator: Emulator, tmp_path: Path
) -> None:
    # 100 lines of 200 kB are each allowed, but one request of them would be 20 MB.
    data = tmp_path / "wide.jsonl"
    lines = [_line(number, 200_000) for number in range(1, 101)]
    data.write_text("".join(lines), encoding="utf-8")
    ran = run_command(["bulk", str(data)], base_url=emulator.url)
    assert ran.code == 2
    match = re.search(r"line (\d+): lines 1-\1 would take about [\d.]+ MB of memory", ran.err)
    assert match, ran.err
    tipping = int(match.group(1))
    weights = [line_weight(line.encode()) for line in lines]
    assert sum(weights[: tipping - 1]) <= MAX_CHUNK_WEIGHT < sum(weights[:tipping])
    assert "make the payloads smaller" in ran.err
    assert emulator.bulk_calls() == []
    assert ran.out.strip() == "nothing sent"


def test_a_line_of_many_small_objects_weighs_what_it_takes_once_parsed(
    emulator: Emulator, tmp_path: Path
) -> None:
    # 120 kB of "{}," is 40,000 dicts: about 3 MB once parsed, 25 times its length, so
    # three such lines are too heavy for one request though the file is 360 kB.
    body = {"name": "digest", "to": "ada", "payload": {"items": [{}] * 40_000}}
    data = tmp_path / "objects.jsonl"
    data.write_text("\n".join([json.dumps(body, separators=(",", ":"))] * 3) + "\n")
    ran = run_command(["bulk", str(data)], base_url=emulator.url)
    assert ran.code == 2, ran.err
    assert "line 3: lines 1-3 would take about" in ran.err
    assert emulator.bulk_calls() == []


# Starts the command and prints its peak RSS (kB on Linux) as RUSAGE_CHILDREN reports it.
# A starter of its own: on Linux a child's ru_maxrss also counts the memory of the process
# that forked it, until its exec, so it must be forked from a small process, not pytest.
MEASURE = """
import resource, subprocess, sys
code = subprocess.run(sys.argv[1:]).returncode
print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
sys.exit(code)
"""


def _write_huge_line(path: Path, number: int, payload_bytes: int) -> None:
    # In pieces: the test process itself never holds the line.
    with path.open("a", encoding="utf-8") as handle:
        handle.write(f'{{"name": "digest", "to": "user-{number}", "payload": {{"pad": "')
        piece = "x" * (1024 * 1024)
        for _ in range(payload_bytes // len(piece)):
            handle.write(piece)
        handle.write('"}}\n')


@pytest.mark.skipif(sys.platform != "linux", reason="ru_maxrss is in kB on Linux")
def test_a_file_with_one_50_mb_line_is_refused_within_the_memory_bound(
    emulator: Emulator, tmp_path: Path
) -> None:
    data = write_jsonl(tmp_path / "huge.jsonl", 100)
    _write_huge_line(data, 101, 50 * 1024 * 1024)
    with data.open("a", encoding="utf-8") as handle:
        handle.write(_line(102, 10))
    done = subprocess.run(
        [sys.executable, "-c", MEASURE, sys.executable, "-m", "teleflow_py", "bulk", str(data)],
        env=command_env(emulator.url),
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 2, done.stderr
    assert "line 101: is 52,428,8" in done.stderr
    assert "first line not sent: 101" in done.stderr
    assert sorted(sent_lines(emulator)) == list(range(1, 101))
    # Default settings; the bound holds whatever the file holds.
    peak_mb = int(done.stdout.split()[-1]) / 1024
    assert peak_mb < MEMORY_BOUND_MB, f"peak {peak_mb:.0f} MB"


@pytest.mark.skipif(sys.platform != "linux", reason="ru_maxrss is in kB on Linux")
def test_the_heaviest_chunks_allowed_are_sent_within_the_memory_bound(tmp_path: Path) -> None:
    # Chunks just under the weight bound, one after another at the default concurrency:
    # the most a file the command accepts can make it hold.
    data = tmp_path / "heavy.jsonl"
    per_line = MAX_CHUNK_WEIGHT // 100 - line_weight(_line(400, 0).encode())
    with data.open("w", encoding="utf-8") as handle:
        for number in range(1, 401):
            handle.write(_line(number, per_line))
    with CountingServer() as server:
        done = subprocess.run(
            [sys.executable, "-c", MEASURE, sys.executable, "-m", "teleflow_py", "bulk", str(data)],
            env=command_env(server.url),
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )
        assert done.returncode == 0, done.stderr
        assert server.events == 400
    peak_mb = int(done.stdout.split()[-1]) / 1024
    assert peak_mb < MEMORY_BOUND_MB, f"peak {peak_mb:.0f} MB"
