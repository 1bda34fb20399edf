"""``teleflow bulk`` under Ctrl-C: wherever the signal lands, the report never says less
than the server may have processed.

Each child raises SIGINT in itself at one chosen point of the sending loop (a patched
function of ``concurrent.futures``), where a loaded machine once let a real Ctrl-C land: the
request of chunk 1 answered and stored, the main thread not yet done with its bookkeeping.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import List

import pytest
from child_signals import SIGINT_DEFAULT

from teleflow_py.emulator import Emulator

from .conftest import command_env, sent_lines, write_jsonl

BULK = "/v1/events/trigger/bulk"
HANG_GUARD = 120  # seconds; not a timing assertion

# Ctrl-C inside ThreadPoolExecutor.submit, once chunk 1's request has been answered: the
# worker thread ran it before the main thread came back from starting that thread.
CTRL_C_IN_SUBMIT = """
import concurrent.futures, signal
_submit = concurrent.futures.ThreadPoolExecutor.submit
def submit(self, fn, /, *args, **kwargs):
    future = _submit(self, fn, *args, **kwargs)
    if not getattr(submit, "done", False):
        submit.done = True
        WAIT
        signal.raise_signal(signal.SIGINT)
    return future
concurrent.futures.ThreadPoolExecutor.submit = submit
"""
# Ctrl-C while chunk 1's answer is being counted (its future's result read).
CTRL_C_IN_RESULT = """
import concurrent.futures, signal
_result = concurrent.futures.Future.result
def result(self, timeout=None):
    if not getattr(result, "done", False):
        result.done = True
        signal.raise_signal(signal.SIGINT)
    return _result(self, timeout)
concurrent.futures.Future.result = result
"""
RUN = "import sys\nfrom teleflow_py.cli import main\nsys.exit(main(sys.argv[1:]))\n"


def _run(prelude: str, args: List[str], base_url: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", SIGINT_DEFAULT + prelude + RUN, *args],
        env=command_env(base_url),
        capture_output=True,
        text=True,
        timeout=HANG_GUARD,
        check=False,
    )


@pytest.mark.parametrize(
    ("prelude", "options"),
    [
        # Default settings.
        (CTRL_C_IN_SUBMIT.replace("WAIT", "concurrent.futures.wait([future])"), []),
        # One request at a time: chunk 1's answer is counted before chunk 2 is sent.
        (CTRL_C_IN_RESULT, ["--concurrency", "1"]),
    ],
    ids=["in-submit-after-the-answer", "while-counting-the-answer"],
)
def test_a_chunk_answered_before_the_ctrl_c_landed_is_counted_as_sent(
    emulator: Emulator, tmp_path: Path, prelude: str, options: List[str]
) -> None:
    data = write_jsonl(tmp_path / "c.jsonl", 250)
    ran = _run(prelude, ["bulk", str(data), *options], emulator.url)
    assert sorted(sent_lines(emulator)) == list(range(1, 101))  # the server stored chunk 1
    assert ran.returncode == 130, ran.stderr
    assert "Traceback" not in ran.stderr
    assert ran.stderr.splitlines()[-1] == (
        "teleflow: interrupted; first line not sent: 101; carry on with --resume-from 101"
    )
    assert ran.stdout.strip() == (
        "lines 1-100: 100 events sent in 1 request; from line 101 on, not sent"
    )


def test_a_chunk_in_flight_at_ctrl_c_whose_answer_is_lost_may_have_been_delivered(
    tmp_path: Path,
) -> None:
    # A server that does not deduplicate (IS_API_IDEMPOTENCY_ENABLED=false in NxPKG/teleflow
    # apps/api/src/.env.production): chunk 1 is processed, its answer lost after the Ctrl-C.
    # "first line not sent: 1" would have the user send lines 1-100 a second time.
    data = write_jsonl(tmp_path / "c.jsonl", 250)
    with Emulator(idempotency=False) as emulator:
        emulator.drop_next(1, path=BULK)
        ran = _run(CTRL_C_IN_SUBMIT.replace("WAIT", ""), ["bulk", str(data)], emulator.url)
        assert sorted(sent_lines(emulator)) == list(range(1, 101))
        assert len(emulator.requests(path=BULK)) == 1  # nothing after the Ctrl-C
    assert ran.returncode == 4, ran.stderr
    last = ran.stderr.splitlines()[-1]
    assert last.startswith(
        "teleflow: error: interrupted; lines 1-100 may or may not have been delivered: POST http://"
    ), last
    assert last.endswith("check them before carrying on with --resume-from 1"), last
    assert ran.stdout.strip() == "nothing sent"
