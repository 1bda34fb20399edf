"""The users' pytest plugin: the teleflow_emulator fixture and its marker."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import requests

from teleflow_py.emulator import Emulator
from teleflow_py.pytest_plugin import EmulatorFixture

from ._support import Api, trigger_body

REPO = Path(__file__).resolve().parents[2]


def test_fixture_yields_a_running_emulator(teleflow_emulator: Emulator) -> None:
    api = Api(teleflow_emulator.url)
    assert api.post("/v1/events/trigger", trigger_body()).status_code == 201
    assert teleflow_emulator.triggers(name="welcome")[0]["to"] == "user-1"


def test_fixture_client_talks_to_the_emulator(teleflow_emulator: EmulatorFixture) -> None:
    client = teleflow_emulator.client
    assert client is teleflow_emulator.client  # created once, on first use
    client.trigger_event("welcome", "user-1")
    [trigger] = teleflow_emulator.triggers(name="welcome")
    assert trigger["to"] == "user-1"


def test_plugin_in_a_fresh_pytest_run(tmp_path: Path) -> None:
    """Marker options reach the Emulator, and the emulator is stopped after the test."""
    url_file = tmp_path / "url.txt"
    (tmp_path / "test_user.py").write_text(
        textwrap.dedent(
            f"""
            import pytest, requests

            @pytest.mark.teleflow_emulator(known_workflows=["welcome"], rate_limit_tier=100)
            def test_user_code(teleflow_emulator):
                open({str(url_file)!r}, "w").write(teleflow_emulator.url)
                headers = {{"Authorization": "ApiKey test"}}
                url = teleflow_emulator.url + "/v1/events/trigger"
                ok = requests.post(url, json={{"name": "welcome", "to": "u"}}, headers=headers)
                unknown = requests.post(url, json={{"name": "other", "to": "u"}}, headers=headers)
                assert ok.status_code == 201 and unknown.status_code == 422
                assert ok.headers["RateLimit-Limit"] == "100"
                assert len(teleflow_emulator.triggers(name="welcome")) == 1
            """
        )
    )
    env = dict(
        os.environ, PYTHONPATH=os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])
    )
    # "no:teleflow" blocks the installed entry point, if any, so "-p" loads it exactly once.
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "--strict-markers",
            "-p",
            "no:teleflow",
            "-p",
            "teleflow_py.pytest_plugin",
            "-p",
            "no:cacheprovider",
            str(tmp_path / "test_user.py"),
        ],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "1 passed" in result.stdout
    url = url_file.read_text()
    try:
        requests.get(url + "/emulator/stats", timeout=5)
    except requests.ConnectionError:
        pass
    else:
        raise AssertionError("the fixture left the emulator running")
