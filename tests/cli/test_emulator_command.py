"""``teleflow emulator`` (``python -m teleflow_py emulator``): prints its URL, stops on Ctrl-C."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import requests
from child_signals import teleflow_command

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.skipif(sys.platform == "win32", reason="sends SIGINT")
@pytest.mark.sigint
def test_serve_prints_its_url_and_stops_on_ctrl_c(tmp_path: Path) -> None:
    env = dict(os.environ, PYTHONPATH=str(REPO))
    command = teleflow_command("emulator", "--port", "0", "--workflow", "w")
    process = subprocess.Popen(
        command, cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        match = re.search(r"http://127\.0\.0\.1:\d+", line)
        assert match, line + (process.stderr.read() if process.stderr else "")
        url = match.group(0)
        response = requests.post(
            url + "/v1/events/trigger",
            json={"name": "unknown", "to": "u"},
            headers={"Authorization": "ApiKey k"},
            timeout=30,
        )
        assert response.status_code == 422  # --workflow reached the emulator
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=60) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


@pytest.mark.skipif(sys.platform == "win32", reason="sends SIGINT")
@pytest.mark.sigint
def test_json_prints_the_url_as_json(tmp_path: Path) -> None:
    env = dict(os.environ, PYTHONPATH=str(REPO))
    command = teleflow_command("emulator", "--port", "0", "--json")
    process = subprocess.Popen(
        command, cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        assert process.stdout is not None
        started = json.loads(process.stdout.readline())
        assert set(started) == {"url", "dashboard"}
        assert requests.get(started["dashboard"], timeout=30).status_code == 200
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=60) == 0
        assert process.stderr is not None and process.stderr.read() == ""
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def test_a_port_in_use_is_one_line_and_exit_2() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = subprocess.run(
            [sys.executable, "-m", "teleflow_py", "emulator", "--port", str(port)],
            env=dict(os.environ, PYTHONPATH=str(REPO)),
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    assert done.returncode == 2
    expected = f"teleflow emulator: error: port {port} is already in use on 127.0.0.1"
    assert done.stderr.splitlines() == [expected], done.stderr
