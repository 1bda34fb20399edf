"""Whatever SIGINT disposition the test run inherits, the suite passes, and the SDK keeps
an ignored SIGINT ignored.

A shell without job control (``cmd &`` in a script, ``nohup``) starts its jobs with SIGINT
ignored, and an ignored signal stays ignored across fork and exec. The tests that send
SIGINT to a child (marked ``sigint``) give that child the default back
(``tests/child_signals.py``); a program that chose to ignore SIGINT must keep ignoring it
when it uses the SDK, the command line included.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import requests
from child_signals import SIGINT_IGNORED, teleflow_command
from lifecycle_support import (
    API_KEY,
    HANG_GUARD,
    REPO,
    child_env,
    delivered,
    program,
    wait_for_a_batch,
)

from teleflow_py.emulator import Emulator

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX signal dispositions")
TESTS = REPO / "tests"
RUN_PYTEST = "import sys, pytest; sys.exit(pytest.main())\n"


def _files_that_send_sigint() -> list[Path]:
    return sorted(
        path
        for path in TESTS.rglob("test_*.py")
        if path != Path(__file__).resolve()
        and re.search(r"send_signal\(\s*signal\.SIGINT\s*\)", path.read_text(encoding="utf-8"))
    )


@pytest.mark.timeout(600)
def test_the_sigint_tests_pass_in_a_test_run_that_ignores_sigint() -> None:
    files = _files_that_send_sigint()
    assert len(files) >= 5, files  # the search still finds them
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
    command = [sys.executable, "-c", SIGINT_IGNORED + RUN_PYTEST, "-p", "no:cacheprovider"]
    command += ["-n", "0", "-v", "-m", "sigint", *(str(path) for path in files)]
    run = subprocess.run(
        command,
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=590,
        check=False,
    )
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-2000:]
    passed = {line.split("::")[0] for line in run.stdout.splitlines() if " PASSED" in line}
    # Every file that sends SIGINT has its tests marked, so each one ran here.
    assert passed == {str(path.relative_to(REPO)) for path in files}, run.stdout[-4000:]


def test_a_program_that_ignores_sigint_keeps_ignoring_it_through_close(
    emulator: Emulator,
) -> None:
    # As the first test of test_interrupt.py, but the program ignores SIGINT: the Ctrl-C
    # that arrives while close() waits for the server changes nothing.
    emulator.delay_next(1, 2.0, path="/v1/events/batch")
    code = f"""
        import signal
        from teleflow_py import Client
        from teleflow_py.integrations.signals import flush_on_sigterm
        assert signal.getsignal(signal.SIGINT) is signal.SIG_IGN
        client = Client(api_key={API_KEY!r}, base_url={emulator.url!r})
        flush_on_sigterm(client)
        for n in range(100):
            client.track("e", user_id="u", properties={{"n": n}})
        client.close()
        print("closed; SIGINT still ignored:", signal.getsignal(signal.SIGINT) is signal.SIG_IGN)
    """
    child = subprocess.Popen(
        [sys.executable, "-c", SIGINT_IGNORED + program(code)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=child_env(),
    )
    wait_for_a_batch(emulator)
    child.send_signal(signal.SIGINT)
    out, err = child.communicate(timeout=HANG_GUARD)
    assert child.returncode == 0, err
    assert out.strip() == "closed; SIGINT still ignored: True"
    assert delivered(emulator) == {"u": list(range(100))}


def test_the_emulator_command_under_nohup_ignores_ctrl_c_and_stops_on_sigterm(
    tmp_path: Path,
) -> None:
    process = subprocess.Popen(
        teleflow_command("emulator", "--port", "0", "--json", sigint=SIGINT_IGNORED),
        cwd=tmp_path,
        env=child_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        url = json.loads(process.stdout.readline())["url"]
        process.send_signal(signal.SIGINT)
        with pytest.raises(subprocess.TimeoutExpired):
            process.wait(timeout=1.0)  # the ignored Ctrl-C did nothing
        assert requests.get(url + "/", timeout=HANG_GUARD).status_code == 200  # still serving
        process.send_signal(signal.SIGTERM)
        _, err = process.communicate(timeout=HANG_GUARD)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == 0, err
    assert err == ""
