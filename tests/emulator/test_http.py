"""HTTP framing and bad raw input: each is answered, and the emulator keeps serving."""

from __future__ import annotations

import socket

import pytest
import requests

from teleflow_py.emulator import Emulator

from ._support import AUTH, Api, raw_exchange, read_all, status_of, trigger_body

AUTH_LINE = f"Authorization: {AUTH['Authorization']}\r\n"


def post_raw(path: str, headers: str, body: bytes = b"") -> bytes:
    head = f"POST {path} HTTP/1.1\r\nHost: localhost\r\n{AUTH_LINE}{headers}\r\n"
    return head.encode("latin-1") + body


def still_serving(emu: Emulator) -> bool:
    response = requests.post(
        emu.url + "/v1/events/trigger", json=trigger_body(), headers=AUTH, timeout=30
    )
    return response.status_code == 201


def test_keep_alive_reuses_one_connection_for_many_requests(api: Api, emu: Emulator) -> None:
    for _ in range(300):
        assert api.post("/v1/events/trigger", trigger_body()).status_code == 201
    assert emu.connections_accepted <= 2
    assert emu.stats()["requests"] == 300


def test_each_new_connection_is_counted(emu: Emulator) -> None:
    for _ in range(3):
        requests.get(emu.url + "/emulator/stats", headers={"Connection": "close"}, timeout=30)
    assert emu.connections_accepted == 3


def test_malformed_json_is_400(api: Api, emu: Emulator) -> None:
    response = api.session.post(
        api.url + "/v1/events/trigger",
        data=b'{"name": "w", "to": ',
        headers={"Content-Type": "application/json"},
        timeout=30,
    )
    assert response.status_code == 400
    assert response.json()["message"].startswith("Request body is not valid JSON")
    assert still_serving(emu)


def test_nan_is_not_json(api: Api) -> None:
    response = api.session.post(
        api.url + "/v1/events/trigger",
        data=b'{"name": "w", "to": "u", "payload": {"x": NaN}}',
        headers={"Content-Type": "application/json"},
        timeout=30,
    )
    assert response.status_code == 400


def test_oversized_body_is_413_unread_and_the_connection_closed() -> None:
    with Emulator(max_body_bytes=1000) as emu:
        # Announce 10 MB, send a little: the answer must come without the rest being read.
        request = post_raw(
            "/v1/events/trigger",
            "Content-Type: application/json\r\nContent-Length: 10000000\r\n",
            b"{" + b" " * 500,
        )
        answer = raw_exchange(emu.port, request, half_close=False)
        assert status_of(answer) == 413
        assert b"Connection: close" in answer
        assert b'"Payload Too Large"' in answer
        assert emu.requests()[0]["status"] == 413
        assert still_serving(emu)


def test_oversized_body_with_requests_gets_the_413() -> None:
    with Emulator(max_body_bytes=1000) as emu:
        response = requests.post(
            emu.url + "/v1/events/trigger",
            json={"name": "w", "to": "u", "payload": {"blob": "x" * 200_000}},
            headers=AUTH,
            timeout=30,
        )
        assert response.status_code == 413
        assert still_serving(emu)


def test_expect_100_continue_with_an_oversized_body_is_refused_first() -> None:
    with Emulator(max_body_bytes=1000) as emu:
        request = post_raw(
            "/v1/events/trigger",
            "Content-Type: application/json\r\nContent-Length: 5000\r\nExpect: 100-continue\r\n",
        )
        answer = raw_exchange(emu.port, request)
        assert status_of(answer) == 413
        assert b"100 Continue" not in answer


def test_truncated_body_is_400_and_nothing_is_stored(emu: Emulator) -> None:
    request = post_raw(
        "/v1/events/trigger",
        "Content-Type: application/json\r\nContent-Length: 100\r\n",
        b'{"name": "w", "to": "u"}',
    )
    answer = raw_exchange(emu.port, request)  # we stop sending: the server sees end of stream

    assert status_of(answer) == 400
    assert b"shorter than its Content-Length" in answer
    assert emu.triggers() == []
    assert still_serving(emu)


def test_stalled_body_times_out_and_frees_the_server(emu: Emulator) -> None:
    # At the default body_read_timeout (10 s), the one run of it at its default.
    with socket.create_connection(("127.0.0.1", emu.port), timeout=30) as stalled:
        stalled.sendall(
            post_raw(
                "/v1/events/trigger",
                "Content-Type: application/json\r\nContent-Length: 100\r\n",
                b"{",
            )
        )
        assert still_serving(emu)  # while one client stalls, others are served
        answer = read_all(stalled)  # the server gives up on the body and answers
    assert status_of(answer) == 400
    assert emu.triggers()[0]["to"] == "user-1"


def test_missing_content_length_is_411(emu: Emulator) -> None:
    request = post_raw("/v1/events/trigger", "Content-Type: application/json\r\n")
    answer = raw_exchange(emu.port, request)
    assert status_of(answer) == 411
    assert b'"Length Required"' in answer
    assert still_serving(emu)


def test_chunked_body_is_411(emu: Emulator) -> None:
    request = post_raw(
        "/v1/events/trigger",
        "Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n",
        b'5\r\n{"a":\r\n0\r\n\r\n',
    )
    assert status_of(raw_exchange(emu.port, request)) == 411
    assert still_serving(emu)


@pytest.mark.parametrize("length", ["abc", "-5", "1e3", "\u00b2"])
def test_invalid_content_length_is_400(emu: Emulator, length: str) -> None:
    request = post_raw("/v1/events/trigger", f"Content-Length: {length}\r\n")
    assert status_of(raw_exchange(emu.port, request)) == 400
    assert still_serving(emu)


def test_garbage_request_line_and_abrupt_clients_do_not_break_it(emu: Emulator) -> None:
    assert status_of(raw_exchange(emu.port, b"NOT HTTP AT ALL\r\n\r\n")) == 400
    with socket.create_connection(("127.0.0.1", emu.port), timeout=30) as sock:
        sock.sendall(b"POST /v1/events/trigger HTTP/1.1\r\nContent-Le")
    with socket.create_connection(("127.0.0.1", emu.port), timeout=30):
        pass
    assert still_serving(emu)


def test_two_pipelined_requests_on_one_connection(emu: Emulator) -> None:
    body = b'{"name":"w","to":"u"}'
    one = post_raw(
        "/v1/events/trigger",
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n",
        body,
    )
    answer = raw_exchange(emu.port, one + one)
    assert answer.count(b"HTTP/1.1 201 Created") == 2
    assert len(emu.triggers()) == 2
    assert emu.connections_accepted == 1


def test_http_1_0_keep_alive_is_honoured(emu: Emulator) -> None:
    request = (
        b"GET /emulator/stats HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"
        b"GET /emulator/stats HTTP/1.0\r\n\r\n"
    )
    answer = raw_exchange(emu.port, request)
    assert answer.count(b"HTTP/1.1 200") == 2
    assert b"Connection: keep-alive" in answer


def test_the_default_body_limit_is_the_servers_20_mb(emu: Emulator) -> None:
    # apps/api/src/bootstrap.ts: bodyParser.json({ limit: '20mb' }) on /v1/events.
    limit = 20 * 1024 * 1024
    request = post_raw("/v1/events/trigger", f"Content-Length: {limit + 1}\r\n", b"{}")
    assert status_of(raw_exchange(emu.port, request)) == 413
