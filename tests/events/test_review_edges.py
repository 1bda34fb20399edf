"""Edges a careful user hits: which key is sent, netrc, forks, redirects, odd payloads."""

from __future__ import annotations

import contextlib
import email.utils
import gc
import os
import pickle
import socket
import subprocess
import sys
import textwrap
import threading
import time
import types
from pathlib import Path
from typing import Any, Dict, List

import pytest
import requests

from teleflow_py import (
    APIConnectionError,
    APIError,
    APITimeoutError,
    AuthenticationError,
    BulkTriggerError,
    Client,
    ClientConfig,
    PayloadTooLargeError,
    RateLimitError,
    ServiceUnavailableError,
    ValidationError,
)
from teleflow_py._core.calls import Call
from teleflow_py._transport import Transport
from teleflow_py.emulator import Emulator

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def strict_emulator(api_key: str) -> Any:
    """An emulator that accepts only the test key, so a test can prove which key was sent."""
    with Emulator(api_keys=[api_key]) as emu:
        yield emu


def test_the_configured_key_is_the_one_sent(strict_emulator: Emulator, api_key: str) -> None:
    with Client(api_key=api_key, base_url=strict_emulator.url) as api:
        assert api.trigger_event("w", "s").ok
    with Client(api_key=api_key + "x", base_url=strict_emulator.url) as api:
        with pytest.raises(AuthenticationError):
            api.trigger_event("w", "s")


def test_netrc_and_session_auth_never_replace_the_api_key(
    strict_emulator: Emulator, api_key: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    netrc = tmp_path / "netrc"
    netrc.write_text("machine 127.0.0.1 login someone password secret\n")
    netrc.chmod(0o600)
    monkeypatch.setenv("NETRC", str(netrc))
    session = requests.Session()
    session.auth = ("user", "password")
    with Client(api_key=api_key, base_url=strict_emulator.url) as api:
        assert api.trigger_event("w", "s").ok
    with Client(api_key=api_key, base_url=strict_emulator.url, session=session) as api:
        assert api.trigger_event("w", "s").ok
    assert [r["headers"]["authorization"] for r in strict_emulator.requests()] == [
        "ApiKey ***",
        "ApiKey ***",
    ]


def _recording_transport(api_key: str, url: str, waits: List[float], **settings: Any) -> Transport:
    config = ClientConfig.build(api_key, base_url=url, **settings)
    return Transport(config, sleep=waits.append)


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"Retry-After": "1.5"}, 1.5),
        ({"X-Secondly-Retry-After": "250"}, 0.25),
        ({"retry-after-ms": "40"}, 0.04),
        ({"RateLimit-Reset": "2"}, 2.0),
    ],
)
def test_the_sleep_taken_is_the_wait_asked_for(
    emulator: Emulator, api_key: str, headers: Dict[str, str], expected: float
) -> None:
    waits: List[float] = []
    transport = _recording_transport(api_key, emulator.url, waits)
    emulator.fail_next(1, 503, headers=headers)
    transport.send(Call("POST", "/v1/events/trigger", b'{"name":"w","to":"s"}', None))
    assert waits == [pytest.approx(expected)]


def test_an_http_date_retry_after_is_honoured(emulator: Emulator, api_key: str) -> None:
    waits: List[float] = []
    transport = _recording_transport(api_key, emulator.url, waits)
    date = email.utils.formatdate(time.time() + 30, usegmt=True)  # whole seconds
    until = email.utils.parsedate_to_datetime(date).timestamp()
    emulator.fail_next(1, 503, headers={"Retry-After": date})
    before = time.time()
    transport.send(Call("POST", "/v1/events/trigger", b'{"name":"w","to":"s"}', None))
    after = time.time()
    # The wait is the time left until the date, read at some moment of the call (bounds
    # taken around it, not a fixed range that a slow call would leave).
    assert len(waits) == 1 and until - after - 0.01 <= waits[0] <= until - before + 0.01


def test_backoff_grows_when_the_server_gives_no_wait(emulator: Emulator, api_key: str) -> None:
    waits: List[float] = []
    transport = _recording_transport(api_key, emulator.url, waits, max_retries=4)
    emulator.fail_next(4, 502)
    transport.send(Call("POST", "/v1/events/trigger", b'{"name":"w","to":"s"}', None))
    assert len(waits) == 4
    for number, wait in enumerate(waits, start=1):
        ceiling = min(8.0, 0.5 * 2 ** (number - 1))
        assert 0.75 * ceiling <= wait <= ceiling


@pytest.mark.parametrize("headers", [{"retry-after-ms": "900000"}, {"Retry-After": "1e400"}])
def test_an_over_cap_wait_in_any_header_is_raised_not_slept(
    emulator: Emulator, api_key: str, headers: Dict[str, str]
) -> None:
    waits: List[float] = []
    transport = _recording_transport(api_key, emulator.url, waits, max_retry_wait=60)
    emulator.fail_next(1, 429, headers=headers)
    with pytest.raises(RateLimitError):
        transport.send(Call("POST", "/v1/events/trigger", b'{"name":"w","to":"s"}', None))
    assert waits == []


def test_a_redirect_is_an_error_that_says_where(client: Client, emulator: Emulator) -> None:
    emulator.fail_next(1, 301, headers={"Location": "https://elsewhere.example/v1/events/trigger"})
    with pytest.raises(APIError) as caught:
        client.trigger_event("w", "s")
    assert caught.value.status == 301
    assert "elsewhere.example" in str(caught.value)
    assert len(emulator.requests()) == 1


def test_answer_headers_are_case_insensitive(client: Client, emulator: Emulator) -> None:
    result = client.trigger_event("w", "s")
    assert result.response is not None
    assert result.response.headers["content-type"].startswith("application/json")
    emulator.fail_next(1, 400, headers={"X-Request-Id": "r-1"})
    with pytest.raises(APIError) as caught:
        client.trigger_event("w", "s")
    assert caught.value.headers["x-request-id"] == "r-1"


def test_a_tls_failure_is_not_retried(emulator: Emulator, api_key: str) -> None:
    # https to a plain-http port: the handshake fails the same way on every attempt.
    https_url = emulator.url.replace("http://", "https://")
    with Client(api_key=api_key, base_url=https_url, max_retries=3) as api:
        with pytest.raises(APIConnectionError) as caught:
            api.trigger_event("w", "s")
    assert caught.value.retryable is False
    assert caught.value.retry_count == 0
    assert emulator.connections_accepted == 1


@pytest.mark.parametrize("bad", [".", ".."])
def test_cancel_refuses_dot_segments(client: Client, emulator: Emulator, bad: str) -> None:
    with pytest.raises(ValidationError) as caught:
        client.cancel_triggered_event(bad)
    assert caught.value.argument == "transaction_id"
    assert emulator.requests() == []


def test_odd_payloads_are_refused_with_their_path(client: Client, emulator: Emulator) -> None:
    looped: Dict[str, Any] = {"a": 1}
    looped["self"] = looped
    with pytest.raises(ValidationError, match=r"payload\['self'\].*circular"):
        client.trigger_event("w", "s", payload=looped)
    with pytest.raises(ValidationError, match=r"payload\['text'\].*surrogate"):
        client.trigger_event("w", "s", payload={"text": "bad \ud800"})
    with pytest.raises(ValidationError, match="transaction_id"):
        client.cancel_triggered_event("tx-\udfff")
    with pytest.raises(ValidationError, match="email must be a string"):
        client.trigger_event("w", {"subscriberId": "s", "email": 5})
    assert emulator.requests() == []


def test_any_mapping_is_sent_as_an_object(client: Client, emulator: Emulator) -> None:
    client.trigger_event(
        "w", "s", payload=types.MappingProxyType({"inner": types.MappingProxyType({"k": 1})})
    )
    assert emulator.requests()[0]["body"]["payload"] == {"inner": {"k": 1}}


def test_errors_survive_pickling(client: Client, emulator: Emulator) -> None:
    emulator.fail_next(4, 503, headers={"Retry-After": "0", "X-Request-Id": "r-9"})
    with pytest.raises(ServiceUnavailableError) as caught:
        client.trigger_event("w", "s")
    copy = pickle.loads(pickle.dumps(caught.value))
    assert type(copy) is ServiceUnavailableError
    assert (copy.status, copy.request_id, copy.retry_count, str(copy)) == (
        503,
        "r-9",
        3,
        str(caught.value),
    )
    with pytest.raises(ValidationError) as invalid:
        client.trigger_event("", "s")
    assert pickle.loads(pickle.dumps(invalid.value)).argument == "name"
    bulk = BulkTriggerError(caught.value, [], [("k.2", [{"name": "w", "to": "s"}])])
    assert pickle.loads(pickle.dumps(bulk)).unsent == [{"name": "w", "to": "s"}]


@pytest.mark.skipif(not Path("/proc/self/fd").exists(), reason="counts open files in /proc")
def test_short_lived_threads_do_not_pile_up_connections(client: Client, emulator: Emulator) -> None:
    def one_call() -> None:
        client.trigger_event("w", "s")

    def open_files() -> int:
        gc.collect()
        return len(os.listdir("/proc/self/fd"))

    one_call()
    before = open_files()
    for _ in range(40):
        thread = threading.Thread(target=one_call)
        thread.start()
        thread.join(timeout=60)
    assert len(emulator.triggers()) == 41
    assert open_files() - before < 10


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_a_forked_child_never_writes_on_the_parents_connection(
    emulator: Emulator, api_key: str
) -> None:
    script = textwrap.dedent(
        f"""
        import os, sys, requests
        from teleflow_py import Client
        for session in (None, requests.Session()):
            client = Client(api_key={api_key!r}, base_url={emulator.url!r}, session=session)
            client.trigger_event("parent", "s")
            pid = os.fork()
            if pid == 0:
                ok = client.trigger_event("child", "s").ok
                os._exit(0 if ok else 1)
            _, status = os.waitpid(pid, 0)
            assert os.WEXITSTATUS(status) == 0, status
            client.trigger_event("parent-after", "s")
        print("done")
        """
    )
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    done = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    names = [t["name"] for t in emulator.triggers()]
    assert names == ["parent", "child", "parent-after"] * 2
    # Each child opened its own connection: the parent's pooled socket stayed the parent's.
    assert emulator.connections_accepted >= 4


def test_a_proxy_from_the_environment_is_used(
    emulator: Emulator, api_key: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The emulator stands in for the proxy: a request that reaches it went through the proxy,
    # since the API host itself does not resolve.
    monkeypatch.setenv("HTTP_PROXY", emulator.url)
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    with pytest.warns(UserWarning, match="unencrypted"):  # a host that is not loopback
        api = Client(api_key=api_key, base_url="http://api.teleflow.invalid", max_retries=0)
    with api:
        # Whatever the stand-in proxy answers, an answer means the proxy was used.
        with contextlib.suppress(APIError):
            api.trigger_event("w", "s")
    [seen] = emulator.requests()
    assert "/v1/events/trigger" in seen["path"]
    assert seen["headers"]["authorization"] == "ApiKey ***"


@pytest.fixture
def silent_server() -> Any:
    """Accepts connections and never reads or answers: writes fill up, reads wait forever."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    accepted: List[socket.socket] = []

    def accept() -> None:
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            conn.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            accepted.append(conn)

    threading.Thread(target=accept, daemon=True).start()
    yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    listener.close()
    for conn in accepted:
        conn.close()


def test_a_stalled_upload_ends_at_the_write_timeout(silent_server: str, api_key: str) -> None:
    # The read timeout is far beyond the test's hang guard: only the write timeout can end it.
    big = {"blob": "x" * (16 * 1024 * 1024)}
    with Client(
        api_key=api_key, base_url=silent_server, max_retries=0, write_timeout=0.3, timeout=1000
    ) as api:
        with pytest.raises(APITimeoutError, match="timed out"):
            api.trigger_event("w", "s", payload=big)


def test_a_silent_server_ends_at_the_read_timeout(silent_server: str, api_key: str) -> None:
    with Client(api_key=api_key, base_url=silent_server, max_retries=0, timeout=0.3) as api:
        with pytest.raises(APITimeoutError, match="timed out"):
            api.trigger_event("w", "s")


def test_an_upper_case_https_url_is_still_tls(emulator: Emulator, api_key: str) -> None:
    shouting = emulator.url.replace("http://", "HTTPS://")
    with Client(api_key=api_key, base_url=shouting, max_retries=0) as api:
        assert api.config.base_url.startswith("https://")
        # The emulator speaks plain HTTP: a TLS client fails the handshake and sends nothing
        # readable, so the key never crosses the wire in clear.
        with pytest.raises(APIConnectionError):
            api.trigger_event("w", "s")
    assert emulator.requests() == []


@pytest.fixture
def early_413_server() -> Any:
    """Reads the request head, answers 413 at once and closes without reading the body."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)

    def serve() -> None:
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            with conn:
                head = b""
                while b"\r\n\r\n" not in head:
                    chunk = conn.recv(4096)
                    if not chunk:
                        break
                    head += chunk
                body = b'{"statusCode":413,"message":"Payload Too Large"}'
                conn.sendall(
                    b"HTTP/1.1 413 Payload Too Large\r\nContent-Type: application/json\r\n"
                    b"Connection: close\r\nContent-Length: "
                    + str(len(body)).encode()
                    + b"\r\n\r\n"
                    + body
                )

    threading.Thread(target=serve, daemon=True).start()
    yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    listener.close()


def test_an_early_answer_to_a_large_body_is_reported_as_it_is(
    early_413_server: str, api_key: str
) -> None:
    big = {"blob": "x" * (8 * 1024 * 1024)}
    with Client(api_key=api_key, base_url=early_413_server, max_retries=0) as api:
        with pytest.raises(PayloadTooLargeError):
            api.trigger_event("w", "s", payload=big)
