"""gunicorn workers, with and without --preload: what each worker tracked is delivered
when the server stops (SIGTERM to the master, as a deploy does).

A gunicorn worker leaves through ``sys.exit``, so the exit flush runs in it; with
``--preload`` the client is made in the master and starts afresh in each forked worker;
a gevent worker patches after the fork, so that client was made before patching.
"""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import List

import pytest
from lifecycle_support import API_KEY, HANG_GUARD, child_env, counts

from teleflow_py.emulator import Emulator

pytest.importorskip("gunicorn")
pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="gunicorn runs on POSIX")

REQUESTS = 20
APP = f"""
import os
from teleflow_py import Client

client = Client(api_key={API_KEY!r}, base_url=os.environ["TEST_SERVER_URL"])

def app(environ, start_response):
    client.track("request", user_id="web", properties={{"n": 0}})
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [str(os.getpid()).encode()]
"""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def get_until_up(url: str) -> bytes:
    end = time.monotonic() + HANG_GUARD
    while True:
        try:
            with urllib.request.urlopen(url, timeout=HANG_GUARD) as answer:
                return bytes(answer.read())
        except OSError:
            if time.monotonic() > end:
                raise
            time.sleep(0.05)


@pytest.mark.parametrize(
    "options",
    [[], ["--preload"], ["--preload", "-k", "gevent"]],
    ids=["lazy", "preload", "gevent-preload"],
)
def test_gunicorn_workers_deliver_when_the_server_stops(
    emulator: Emulator, tmp_path: Path, options: List[str]
) -> None:
    if "gevent" in options:
        pytest.importorskip("gevent")
    (tmp_path / "webapp.py").write_text(APP)
    port = free_port()
    env = child_env([tmp_path])
    # gunicorn 23+ keeps a control socket under $HOME: keep it in the test's folder.
    env.update(TEST_SERVER_URL=emulator.url, HOME=str(tmp_path))
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gunicorn",
            "-w",
            "2",
            "-b",
            f"127.0.0.1:{port}",
            *options,
            "webapp:app",
        ],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        for _ in range(REQUESTS):
            get_until_up(f"http://127.0.0.1:{port}/")
    finally:
        server.send_signal(signal.SIGTERM)
        _, err = server.communicate(timeout=HANG_GUARD)
    assert server.returncode == 0, err
    assert counts(emulator) == {"web": REQUESTS}
    assert "not delivered" not in err
