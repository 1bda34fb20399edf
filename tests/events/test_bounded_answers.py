"""Every answer is read within max_response_bytes, on every route (issue 8).

The endless answers run in a subprocess, whose peak memory is then read: before this,
an endless chunked answer grew the process until the host killed it.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import requests
from rawserver import RawServer

from teleflow_py import Client, ResponseTooLargeError
from teleflow_py.emulator import Emulator

HERE = Path(__file__).parent

CHILD = textwrap.dedent(
    """
    import json, sys
    import requests
    sys.path.insert(0, sys.argv[1])
    from rawserver import RawServer
    from teleflow_py import Client, ResponseTooLargeError

    behaviour, route = sys.argv[2], sys.argv[3]
    outcome = {}
    with RawServer(behaviour) as server:
        session = requests.Session() if route == "session" else None
        # Defaults, as a new user has them (4 MiB cap, 30 s deadline).
        with Client(api_key="sk_test_0123456789abcdef", base_url=server.url,
                    session=session, register_atexit=False) as client:
            try:
                client.trigger_event("welcome", "s-1")
                outcome["error"] = None
            except ResponseTooLargeError as exc:
                outcome["error"] = type(exc).__name__
                outcome["retry_count"] = exc.retry_count
    outcome["requests"] = server.requests
    # VmHWM: this process's own peak (ru_maxrss would carry the parent's over exec).
    status = open("/proc/self/status").read()
    peak_kb = [line.split()[1] for line in status.splitlines() if line.startswith("VmHWM")]
    outcome["peak_mb"] = int(peak_kb[0]) / 1024
    print(json.dumps(outcome))
    """
)


@pytest.mark.timeout(120)
@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads VmHWM from /proc")
@pytest.mark.parametrize("behaviour", ["endless", "huge_length"])
@pytest.mark.parametrize("route", ["direct", "session"])
def test_an_endless_answer_ends_in_an_error_with_memory_bounded(behaviour: str, route: str) -> None:
    done = subprocess.run(
        [sys.executable, "-c", CHILD, str(HERE), behaviour, route],
        capture_output=True,
        text=True,
        timeout=110,
    )
    assert done.returncode == 0, done.stderr
    outcome = json.loads(done.stdout.strip().splitlines()[-1])
    assert outcome["error"] == "ResponseTooLargeError"
    assert outcome["retry_count"] == 0 and outcome["requests"] == 1  # never retried
    # Python, requests and the SDK take ~40 MB; the cap is 4 MiB. Unbounded, this grows
    # by about 1 GB a second until killed.
    assert outcome["peak_mb"] < 200, outcome


def test_a_small_cap_refuses_a_normal_answer_and_names_the_setting(
    emulator: Emulator, api_key: str
) -> None:
    with Client(api_key=api_key, base_url=emulator.url, max_response_bytes=1024) as client:
        with pytest.raises(ResponseTooLargeError, match="max_response_bytes=1024"):
            client.trigger_bulk_event([{"name": "welcome", "to": f"s-{i}"} for i in range(50)])
        assert client.trigger_event("welcome", "s-1").ok  # a short answer still fits


def test_the_cap_holds_on_a_callers_session(api_key: str) -> None:
    with (
        RawServer("endless") as server,
        Client(
            api_key=api_key,
            base_url=server.url,
            session=requests.Session(),
            max_response_bytes=64 * 1024,
        ) as client,
    ):
        with pytest.raises(ResponseTooLargeError):
            client.trigger_event("welcome", "s-1")


def test_the_analytics_worker_reads_within_the_cap_too(api_key: str) -> None:
    refused = []
    with (
        RawServer("endless") as server,
        Client(
            api_key=api_key,
            base_url=server.url,
            max_response_bytes=64 * 1024,
            on_error=lambda error, events: refused.append((error, len(events))),
            register_atexit=False,
        ) as client,
    ):
        client.track("signed_up", user_id="u-1")
        client.flush(timeout=20)
    assert len(refused) == 1
    error, count = refused[0]
    assert isinstance(error, ResponseTooLargeError) and count == 1


@pytest.mark.parametrize("behaviour", ["close_after", "until_eof"])
@pytest.mark.parametrize("route", ["direct", "session"])
def test_an_answer_that_closes_the_connection_is_read_whole(
    api_key: str, behaviour: str, route: str
) -> None:
    session = requests.Session() if route == "session" else None
    with (
        RawServer(behaviour) as server,
        Client(api_key=api_key, base_url=server.url, session=session) as client,
    ):
        for _ in range(3):  # and the next call opens a new connection
            assert client.trigger_event("welcome", "s-1").ok
    assert server.requests == 3
