"""Run a Python program in a subprocess against a server, and read what it delivered."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from collections import Counter
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

from child_signals import SIGINT_DEFAULT

from teleflow_py.emulator import Emulator

REPO = Path(__file__).resolve().parents[2]
API_KEY = "sk_test_lifecycle_0123456789"
# A guard against a hung interpreter only; the tests assert what happened, not how fast.
HANG_GUARD = 90.0


def child_env(extra_path: Sequence[Path] = ()) -> Dict[str, str]:
    """The environment of a child: this checkout first on the path, no bytecode files, and
    unbuffered output (children end with os._exit, which never flushes a pipe's buffer)."""
    path = [str(REPO), *map(str, extra_path)]
    return dict(
        os.environ,
        PYTHONPATH=os.pathsep.join(path),
        PYTHONDONTWRITEBYTECODE="1",
        PYTHONUNBUFFERED="1",
    )


def program(code: str) -> str:
    return textwrap.dedent(code)


def run_python(
    code: str, extra_path: Sequence[Path] = (), timeout: float = HANG_GUARD
) -> subprocess.CompletedProcess[str]:
    """Run ``code`` in a new interpreter (the one running the tests) and wait for it."""
    return subprocess.run(
        [sys.executable, "-c", program(code)],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=child_env(extra_path),
        check=False,
    )


def run_script(path: Path, timeout: float = HANG_GUARD) -> subprocess.CompletedProcess[str]:
    """Run the program in ``path`` (spawned children need a main module they can import)."""
    return subprocess.run(
        [sys.executable, str(path)],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=child_env(),
        check=False,
    )


def start_python(
    code: str, extra_path: Sequence[Path] = (), extra_env: Optional[Dict[str, str]] = None
) -> subprocess.Popen[str]:
    """Start ``code`` in a new interpreter; it should print ``ready`` when set up.

    Ctrl-C (SIGINT) interrupts it as in a terminal, even where the test run ignores SIGINT.
    """
    return subprocess.Popen(
        [sys.executable, "-c", SIGINT_DEFAULT + program(code)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**child_env(extra_path), **(extra_env or {})},
    )


def finish(child: subprocess.Popen[str], what_went_on: str) -> Tuple[str, str]:
    """``child``'s stdout and stderr once it ended; one still running at the guard is killed
    and fails the test, saying that ``what_went_on``."""
    try:
        return child.communicate(timeout=HANG_GUARD)
    except subprocess.TimeoutExpired:
        child.kill()
        _, err = child.communicate()
        raise AssertionError(f"{what_went_on}:\n{err}") from None


def wait_until_ready(process: subprocess.Popen[str]) -> None:
    assert process.stdout is not None
    line = process.stdout.readline()
    if line.strip() != "ready":
        process.kill()
        _, err = process.communicate(timeout=HANG_GUARD)
        raise AssertionError(f"the child did not get ready: {line!r}\n{err}")


def signal_and_wait(
    process: subprocess.Popen[str], signum: int = signal.SIGTERM
) -> Tuple[int, str, str]:
    """Send ``signum`` once the child is ready; return its exit code, stdout and stderr."""
    wait_until_ready(process)
    process.send_signal(signum)
    out, err = process.communicate(timeout=HANG_GUARD)
    return process.returncode, out, err


def wait_for_a_batch(emulator: Emulator) -> None:
    """Wait until the emulator has received a batch (answered or not yet)."""
    end = time.monotonic() + HANG_GUARD
    while not emulator.requests("/v1/events/batch"):
        assert time.monotonic() < end, "no batch arrived"
        time.sleep(0.01)


def delivered(emulator: Emulator) -> Dict[str, List[int]]:
    """Property ``n`` of each delivered event, per user, in arrival order.

    Also checks that no event arrived twice: the emulator counts the message_ids it had
    seen already.
    """
    assert emulator.stats()["duplicates_ignored"] == 0
    per_user: Dict[str, List[int]] = {}
    for event in emulator.events():
        per_user.setdefault(event["user_id"], []).append(event["properties"]["n"])
    return per_user


def counts(emulator: Emulator) -> Counter[str]:
    """How many events each user delivered (each message_id once)."""
    assert emulator.stats()["duplicates_ignored"] == 0
    return Counter(event["user_id"] for event in emulator.events())
