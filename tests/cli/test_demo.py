"""``teleflow demo`` runs the whole SDK against an in-process emulator and says so."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from pathlib import Path

from teleflow_py.cli import main
from teleflow_py.demo import run_demo

ROOT = Path(__file__).resolve().parents[2]


def test_the_demo_walks_through_everything_and_every_check_holds() -> None:
    out = io.StringIO()
    assert run_demo(events=2000, out=out).ok
    text = out.getvalue()
    for expected in (
        "to subscriber 'ada': status=processed",
        "250 results from 3 requests of [100, 100, 50] events",
        "demo-digest.1",
        "cancel 'demo-reminder': True; cancel again: False",
        "2,000 track() calls",
        "attempts answered: ['503', '503', 'dropped', '201']",
        "triggers stored: 1 (not doubled)",
        "analytics batch attempts: ['503', '503', 'dropped', '200']",
        "checkout events stored: 100 (100 unique), none lost",
        "ok   outage events once, one key",
        "Dashboard: http://127.0.0.1:",
    ):
        assert expected in text, f"missing {expected!r} in:\n{text}"
    assert "FAIL" not in text


def test_the_demo_command_runs_in_a_fresh_interpreter() -> None:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    done = subprocess.run(
        [sys.executable, "-m", "teleflow_py", "demo", "--events", "500"],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "ok   500 events delivered" in done.stdout
    assert "Traceback" not in done.stderr


def test_the_command_line_explains_itself(capsys: object) -> None:
    try:
        main(["--help"])
    except SystemExit as exit_:
        assert exit_.code == 0
    try:
        main(["--version"])
    except SystemExit as exit_:
        assert exit_.code == 0
