"""``teleflow emulator`` in a subprocess: one-line errors, --api-key, a log line per request."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
from pathlib import Path
from typing import Iterator

import pytest
import requests

REPO = Path(__file__).resolve().parents[2]


def command(*options: str) -> list[str]:
    return [sys.executable, "-m", "teleflow_py", "emulator", *options]


def env() -> dict[str, str]:
    return dict(os.environ, PYTHONPATH=str(REPO))


def fails_with_one_line(*options: str) -> str:
    result = subprocess.run(
        command(*options), capture_output=True, text=True, timeout=60, env=env()
    )
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("teleflow emulator: error: ")
    return lines[0]


@pytest.fixture
def busy_port() -> Iterator[int]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield sock.getsockname()[1]


def test_a_port_in_use_is_one_line(busy_port: int) -> None:
    line = fails_with_one_line("--port", str(busy_port))
    assert f"port {busy_port} is already in use" in line


@pytest.mark.parametrize("port", ["70000", "abc", "-1", ""])
def test_a_bad_port_is_one_line(port: str) -> None:
    assert "--port must be an integer from 0 to 65535" in fails_with_one_line("--port", port)


def test_an_unwritable_db_is_one_line(tmp_path: Path) -> None:
    line = fails_with_one_line("--port", "0", "--db", str(tmp_path / "missing" / "x.sqlite3"))
    assert "cannot open --db" in line


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        (("--server-version", "2019"), "server_version must be one of"),
        (("--rate-limit-tier", "0"), "--rate-limit-tier (a tier or N) must be an integer"),
        (("--rate-limit-tier", "gold"), "--rate-limit-tier (a tier or N) must be an integer"),
        (("--event-quota", "-1"), "--event-quota must be an integer"),
    ],
)
def test_a_bad_option_value_is_one_line(options: tuple[str, ...], expected: str) -> None:
    assert expected in fails_with_one_line("--port", "0", *options)


def start(*options: str, described: str = "") -> tuple[subprocess.Popen[str], str]:
    process = subprocess.Popen(
        command("--port", "0", *options),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env(),
    )
    assert process.stdout is not None
    line = process.stdout.readline()
    match = re.search(r"http://127\.0\.0\.1:\d+", line)
    assert match, line
    assert "; server 2024-" in line and described in line, line  # flags included
    return process, match.group(0)


def stop(process: subprocess.Popen[str]) -> tuple[str, str]:
    process.send_signal(signal.SIGTERM)
    out, err = process.communicate(timeout=60)
    assert process.returncode == 0, err
    return out, err


def test_api_key_accepts_only_the_given_keys_and_each_request_is_logged() -> None:
    process, url = start("--api-key", "one", "--api-key", "two", "--server-version", "latest")
    try:
        answers = [
            requests.post(
                url + "/v1/events/trigger",
                json={"name": "w", "to": "u"},
                headers={"Authorization": f"ApiKey {key}", "Idempotency-Key": "k"},
                timeout=30,
            )
            for key in ("one", "two", "three")
        ]
        requests.get(url + "/emulator/stats", timeout=30)  # polling is not logged
    finally:
        out, _ = stop(process)
    assert [a.status_code for a in answers] == [201, 201, 401]
    assert "RateLimit-Limit" in answers[0].headers  # --server-version latest reached it
    lines = out.splitlines()  # the address line was read by start()
    assert len(lines) == 3, out
    assert "POST /v1/events/trigger 201" in lines[0] and "key=k" in lines[0]
    assert "POST /v1/events/trigger 401" in lines[2]
    assert not [line for line in lines if "one" in line.split() or "three" in line.split()]


def test_quiet_prints_only_the_address() -> None:
    process, url = start("--quiet")
    try:
        requests.post(url + "/v1/events/trigger", json={}, timeout=30)
    finally:
        out, _ = stop(process)
    assert out == ""  # the address line was read by start()


def test_binding_beyond_loopback_prints_a_warning() -> None:
    process = subprocess.Popen(
        command("--port", "0", "--host", "0.0.0.0", "--quiet"),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env(),
    )
    assert process.stdout is not None
    process.stdout.readline()
    _, err = stop(process)
    assert "warning" in err and "beyond this machine" in err and "Traceback" not in err


def test_the_flags_reach_the_emulator_as_a_self_hosted_server() -> None:
    process, url = start(
        "--idempotency",
        "off",
        "--rate-limiting",
        "off",
        "--event-quota",
        "1",
        "--quiet",
        described="server 2024-05: idempotency off, rate limiting off, event quota 1",
    )
    try:
        settings = requests.get(url + "/emulator/settings", timeout=30).json()
        headers = {"Authorization": "ApiKey k", "Idempotency-Key": "k"}
        body = {"name": "w", "to": "u"}
        first = requests.post(url + "/v1/events/trigger", json=body, headers=headers, timeout=30)
        second = requests.post(url + "/v1/events/trigger", json=body, headers=headers, timeout=30)
    finally:
        stop(process)
    assert (settings["idempotency"], settings["rate_limiting"]) == (False, False)

    assert settings["event_quota"] == 1
    assert first.status_code == 201 and "Idempotency-Key" not in first.headers
    assert "RateLimit-Limit" not in first.headers
    assert second.status_code == 402  # not a replay: the key is ignored, the quota is spent


def test_a_numeric_tier_is_a_custom_limit() -> None:
    process, url = start("--rate-limit-tier", "5", "--quiet")
    try:
        answer = requests.post(
            url + "/v1/events/trigger",
            json={"name": "w", "to": "u"},
            headers={"Authorization": "ApiKey k"},
            timeout=30,
        )
    finally:
        stop(process)
    assert answer.headers["RateLimit-Limit"] == "5"
    assert 'serviceLevel="custom"' in answer.headers["RateLimit-Policy"]
