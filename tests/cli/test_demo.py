"""``teleflow demo`` runs the whole SDK against an in-process emulator and says so."""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import requests
from child_signals import teleflow_command

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
        "page_viewed events the server accepted: 2,000 of 2,000",
        "idempotency key: demo-outage (the same on all 4 attempts)",
        "analytics events stored        2,100  (page_viewed 2,000 + checkout 100: the 2,000 "
        "track() calls and the outage's 100)",
        "shutdown(): 0 events left undelivered, 0 dropped",
        "ok   outage events once, one key",
        "Dashboard: http://127.0.0.1:",
    ):
        assert expected in text, f"missing {expected!r} in:\n{text}"
    assert "FAIL" not in text
    # Self-explaining: no raw dataclass repr, and the two parts of the delivery add up.
    assert "FlushResult(" not in text and "AnalyticsStats(" not in text
    worker, _, rest = text.partition("the worker sent ")[2].partition(" while the calls ran; ")
    flushed = rest.split("flush() sent the other ")[1].split(" ")[0] if "other" in rest else "0"
    assert int(worker.replace(",", "")) + int(flushed.replace(",", "")) == 2000
    # The URL printed above is dead once the demo returns, and the demo says so last.
    assert (
        text.rstrip()
        .splitlines()[-1]
        .startswith(
            "The demo's emulator stopped when the demo ended, so the dashboard URL above no "
            "longer answers."
        )
    )


def test_more_events_than_the_emulator_lists_still_add_up() -> None:
    # The emulator's tables keep the newest 10,000 rows; its counters count every event.
    out = io.StringIO()
    assert run_demo(events=10_050, out=out).ok
    text = out.getvalue()
    assert "page_viewed events the server accepted: 10,050 of 10,050" in text
    assert "analytics events stored       10,150  (page_viewed 10,050 + checkout 100" in text


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
    assert "Run `teleflow demo --serve` to keep it serving until Ctrl-C." in done.stdout
    assert "Traceback" not in done.stderr


def test_the_demo_json_result_is_the_only_thing_on_stdout() -> None:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    done = subprocess.run(
        [sys.executable, "-m", "teleflow_py", "demo", "--events", "200", "--json"],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert set(result) == {"ok", "checks", "stats", "dashboard", "served"}
    assert result["ok"] is True and result["served"] is False
    assert result["checks"]["200 events delivered"] is True
    assert result["stats"]["events"] >= 200
    assert "[1] Trigger a workflow" in done.stderr  # the narration


@pytest.mark.skipif(sys.platform == "win32", reason="sends SIGINT")
@pytest.mark.sigint
def test_serve_keeps_the_dashboard_up_until_ctrl_c_which_exits_cleanly() -> None:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    process = subprocess.Popen(
        teleflow_command("demo", "--events", "100", "--serve"),
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        dashboard = ""
        for line in process.stdout:
            if line.startswith("Dashboard: "):
                dashboard = line.split()[1]
            if "keeps serving" in line:
                break
        assert dashboard, "the demo never said where its dashboard is"
        page = requests.get(dashboard, timeout=30)
        assert page.status_code == 200 and "<html" in page.text.lower()
        process.send_signal(signal.SIGINT)
        rest, err = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == 0, err
    assert err == ""  # no traceback, no "interrupted": Ctrl-C is how --serve ends
    assert rest.strip().splitlines()[-1] == "Stopped: the emulator and its dashboard are gone."
    with pytest.raises(requests.ConnectionError):
        requests.get(dashboard, timeout=30)


def test_the_command_line_explains_itself(capsys: object) -> None:
    try:
        main(["--help"])
    except SystemExit as exit_:
        assert exit_.code == 0
    try:
        main(["--version"])
    except SystemExit as exit_:
        assert exit_.code == 0


@pytest.mark.skipif(sys.platform == "win32", reason="sends SIGINT")
@pytest.mark.sigint
def test_ctrl_c_during_the_demo_is_one_line_and_exit_130() -> None:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    process = subprocess.Popen(
        teleflow_command("demo", "--events", "5000000"),
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        for line in process.stdout:
            if "track() calls" in line:
                break
        process.send_signal(signal.SIGINT)
        _, err = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == 130
    assert err.splitlines() == ["teleflow: interrupted"]
