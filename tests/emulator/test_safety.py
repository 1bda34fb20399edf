"""Safe to leave running: Host and cross-site checks, bounded memory, read deadline, 400s."""

from __future__ import annotations

import json
import select
import socket
import subprocess
import sys
import warnings
from pathlib import Path

import pytest
import requests

from teleflow_py.emulator import Emulator

from ._support import Api, raw_exchange, read_all, status_of, trigger_body


def test_a_foreign_host_is_refused_on_inspection_routes(emu: Emulator, api: Api) -> None:
    api.post("/v1/events/trigger", trigger_body())
    for path in ("/emulator/requests", "/", "/static/dashboard.js"):
        rebinding = raw_exchange(
            emu.port, f"GET {path} HTTP/1.1\r\nHost: evil.example\r\n\r\n".encode()
        )
        assert status_of(rebinding) == 403, path
        assert b"user-1" not in rebinding
    for host in ("localhost", f"127.0.0.1:{emu.port}", f"[::1]:{emu.port}", "app.localhost"):
        local = raw_exchange(
            emu.port, f"GET /emulator/stats HTTP/1.1\r\nHost: {host}\r\n\r\n".encode()
        )
        assert status_of(local) == 200, host


def test_the_bound_address_is_an_allowed_host_only_when_given() -> None:
    with Emulator(allowed_hosts=["devbox.lan"]) as emu:
        ok = raw_exchange(emu.port, b"GET /emulator/stats HTTP/1.1\r\nHost: devbox.lan:1\r\n\r\n")
        assert status_of(ok) == 200


@pytest.mark.parametrize(
    "headers",
    [
        {"Content-Type": "text/plain"},  # a form or no-cors fetch from any page
        {"Content-Type": "application/json", "Origin": "https://evil.example"},
        {"Content-Type": "application/json", "Sec-Fetch-Site": "cross-site"},
    ],
)
def test_a_cross_site_control_request_is_refused(
    emu: Emulator, api: Api, headers: dict[str, str]
) -> None:
    api.post("/v1/events/trigger", trigger_body())
    response = requests.post(emu.url + "/emulator/reset", data="{}", headers=headers, timeout=30)
    assert response.status_code == 403
    assert len(emu.triggers()) == 1
    fault = requests.post(
        emu.url + "/emulator/faults", data='{"kind":"drop"}', headers=headers, timeout=30
    )
    assert fault.status_code == 403 and emu.pending_faults() == []


def test_the_dashboard_origin_may_control(emu: Emulator, api: Api) -> None:
    api.post("/v1/events/trigger", trigger_body())
    headers = {"Origin": emu.url, "Sec-Fetch-Site": "same-origin"}
    response = requests.post(emu.url + "/emulator/reset", json={}, headers=headers, timeout=30)
    assert response.status_code == 200 and emu.triggers() == []


def test_binding_beyond_loopback_warns() -> None:
    with pytest.warns(RuntimeWarning, match="beyond this machine"), Emulator(host="0.0.0.0"):
        pass
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        Emulator().start().stop()


@pytest.mark.parametrize(
    "query",
    ["limit=0", "limit=-1", "limit=1e3", "limit=" + "9" * 40, "limit=100001", "colour=red"],
)
def test_a_bad_query_value_is_a_400(emu: Emulator, query: str) -> None:
    response = requests.get(f"{emu.url}/emulator/triggers?{query}", timeout=30)
    assert response.status_code == 400 and response.json()["message"]


@pytest.mark.parametrize(
    "raw",
    [
        b'{"kind":"delay","seconds":1e400}',
        b'{"kind":"delay","seconds":1' + b"0" * 400 + b"}",
        b'{"kind":"delay","seconds":-1}',
        b'{"kind":"fail","status":503,"count":1e400}',
        b"[" * 100_000 + b"]" * 100_000,
    ],
)
def test_a_bad_control_value_is_a_400(emu: Emulator, raw: bytes) -> None:
    response = requests.post(
        emu.url + "/emulator/faults",
        data=raw,
        headers={"Content-Type": "application/json"},
        timeout=30,
    )
    assert response.status_code == 400 and response.json()["message"]
    assert emu.pending_faults() == []


def test_json_nested_100000_deep_is_a_400_on_the_api(api: Api) -> None:
    deep = b'{"name":"w","to":"u","payload":' + b'{"a":' * 100_000 + b"1" + b"}" * 100_001
    response = api.session.post(
        api.url + "/v1/events/trigger",
        data=deep,
        headers={"Content-Type": "application/json"},
        timeout=30,
    )
    assert response.status_code == 400
    assert api.post("/v1/events/trigger", trigger_body()).status_code == 201


@pytest.mark.parametrize(
    ("sent", "shown"),
    [
        ("sk_live_raw_key", "***"),
        ("Bearer sk_live_raw_key", "Bearer ***"),
        ("apikey sk_live_raw_key", "apikey ***"),
        ("Token:sk_live_raw_key", "***"),
    ],
)
def test_keys_are_masked_whatever_the_scheme(emu: Emulator, sent: str, shown: str) -> None:
    headers = {"Authorization": sent, "X-Api-Key": "sk_live_raw_key"}
    requests.post(emu.url + "/v1/events/trigger", json=trigger_body(), headers=headers, timeout=30)
    [logged] = emu.requests()
    assert logged["headers"]["authorization"] == shown
    assert logged["headers"]["x-api-key"] == "***"
    assert "sk_live_raw_key" not in json.dumps(emu.requests())
    assert "sk_live_raw_key" not in requests.get(emu.url + "/emulator/requests", timeout=30).text


def test_an_unknown_route_body_is_not_stored(api: Api, emu: Emulator) -> None:
    api.session.post(api.url + "/v1/unknown", data=b"x" * 100_000, timeout=30)
    [logged] = emu.requests()
    assert logged["raw_body"] == "" and logged["body_size"] == 100_000 and logged["truncated"]


def test_stored_rows_are_capped_oldest_dropped_and_counted() -> None:
    with Emulator(max_stored_rows=5) as emu:
        api = Api(emu.url)
        for n in range(8):
            api.post("/v1/events/trigger", trigger_body(payload={"n": n}))
        assert [t["payload"]["n"] for t in emu.triggers()] == [3, 4, 5, 6, 7]
        stats = emu.stats()
        assert stats["notifications_dropped"] == 3 and stats["requests_dropped"] == 3
        assert stats["triggers"] == 8
        emu.reset()
        assert emu.triggers() == [] and emu.stats()["notifications_dropped"] == 0


def test_a_trickled_body_is_cut_off_by_one_deadline() -> None:
    # One byte at a time, each well within any per-read timeout: only a whole-body deadline
    # ends it. The body is 200 bytes; the emulator must answer long before they are all sent.
    with Emulator(body_read_timeout=1.0) as emu:
        head = (
            b"POST /v1/events/trigger HTTP/1.1\r\nHost: localhost\r\n"
            b"Authorization: ApiKey k\r\nContent-Type: application/json\r\n"
            b"Content-Length: 200\r\n\r\n"
        )
        with socket.create_connection(("127.0.0.1", emu.port), timeout=30) as sock:
            sock.sendall(head)
            sent = 0
            while sent < 200:
                readable, _, _ = select.select([sock], [], [], 0.2)
                if readable:
                    break
                sock.sendall(b" ")
                sent += 1
            answer = read_all(sock)
        assert status_of(answer) == 400
        assert sent < 200
        assert emu.triggers() == []


_MEASURE = r"""
import json, sys, requests
from teleflow_py.emulator import Emulator

def rss_kib():
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith("VmRSS:"))

with Emulator() as emu:
    session = requests.Session()
    session.headers["Authorization"] = "ApiKey k"
    payload = {"blob": "x" * 1_000_000}
    session.post(emu.url + "/v1/events/trigger", json={"name": "w", "to": "u", "payload": payload})
    before = rss_kib()
    for n in range(200):
        session.post(
            emu.url + "/v1/events/trigger",
            json={"name": "w", "to": "u", "payload": payload},
            headers={"Idempotency-Key": f"k-{n}"},
        )
        session.post(emu.url + "/v1/nowhere", data=b"y" * 1_000_000)
    after = rss_kib()
    print(json.dumps({"before": before, "after": after, "stats": emu.stats()}))
"""


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="needs Linux /proc")
def test_memory_stays_bounded_after_200_large_requests_with_defaults() -> None:
    # 200 triggers of 1 MB and 200 unknown-route bodies of 1 MB: 400 MB received. Kept whole,
    # they would grow the process by far more than the bound below.
    result = subprocess.run(
        [sys.executable, "-c", _MEASURE], capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr[-2000:]
    measured = json.loads(result.stdout)
    growth_mib = (measured["after"] - measured["before"]) / 1024
    assert growth_mib < 150, measured
    assert measured["stats"]["notifications_dropped"] > 0
    assert measured["stats"]["triggers"] == 201
