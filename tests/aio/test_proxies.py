"""Both clients through an HTTP proxy named by the environment: the same promises as direct.

The sync client's own connections speak to the proxy (absolute form for an ``http://`` API,
a ``CONNECT`` tunnel for an ``https://`` one), as the async client does through aiohttp's
``proxy=``; so the whole-call deadline and the size cap hold through a proxy, on both. The
proxy is a loopback fixture (``proxy_server.py``) that records what a logging proxy would
keep: the API key shows there only in the ``Authorization`` header it must forward to an
``http://`` API, and never through a tunnel. Which proxy applies follows requests' reading
of ``HTTP(S)_PROXY`` / ``NO_PROXY`` (tests/unit/test_core_environment.py).
"""

from __future__ import annotations

import base64
import logging
import ssl
import threading
import time
from pathlib import Path
from typing import Callable, Iterator, Tuple

import pytest
from both_clients import API_KEY, Calls
from proxy_server import ForwardProxy
from rawserver import RawServer
from test_key_secrecy import _assert_key_not_recorded
from test_tls import ANSWER, serve_tls

from teleflow_py import APIConnectionError, APIError, APITimeoutError, ResponseTooLargeError
from teleflow_py.emulator import Emulator

CREDENTIALS = ("proxy-user", "p@ss:w/rd secret")
#: Unresolvable: a call that reaches the emulator went through the proxy.
API = "http://api.teleflow.invalid"
PROXY_VARIABLES = (
    "HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy",
    "NO_PROXY", "no_proxy",
)  # fmt: skip


@pytest.fixture
def proxy(emulator: Emulator, monkeypatch: pytest.MonkeyPatch) -> Iterator[ForwardProxy]:
    """A proxy that wants :data:`CREDENTIALS`, named in ``HTTP_PROXY`` and ``HTTPS_PROXY``."""
    for name in PROXY_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    with ForwardProxy(emulator.port, CREDENTIALS) as server:
        monkeypatch.setenv("HTTP_PROXY", server.url)
        monkeypatch.setenv("HTTPS_PROXY", server.url)
        yield server


def through_proxy(make_api: Callable[..., Calls], **options: object) -> Calls:
    """A client of the unresolvable http API (which warns: the key would travel in clear)."""
    with pytest.warns(UserWarning, match="unencrypted"):
        return make_api(base_url=API, **options)


def expected_authorization() -> str:
    return "Basic " + base64.b64encode(":".join(CREDENTIALS).encode()).decode()


def test_an_http_api_is_asked_in_absolute_form_with_the_proxy_credentials(
    make_api: Callable[..., Calls], proxy: ForwardProxy, emulator: Emulator
) -> None:
    api = through_proxy(make_api)
    assert api.trigger_event("welcome", "s-1", transaction_id="via-proxy").ok
    assert api.trigger_event("welcome", "s-2").ok
    assert [head.line for head in proxy.heads] == [
        b"POST http://api.teleflow.invalid/v1/events/trigger HTTP/1.1"
    ] * 2
    assert all(h.headers["proxy-authorization"] == expected_authorization() for h in proxy.heads)
    assert [t["to"] for t in emulator.triggers()] == ["s-1", "s-2"]
    # The proxy forwarded the key (it must, to an http:// API) and saw it nowhere else.
    key = API_KEY.encode()
    assert proxy.log.count(key) == proxy.log.lower().count(b"authorization: apikey " + key) == 2


def test_an_https_api_is_reached_through_a_connect_tunnel_the_proxy_cannot_read(
    make_api: Callable[..., Calls],
    proxy: ForwardProxy,
    tls_server: str,
    certificates: Tuple[Path, Path, Path],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(certificates[0]))
    api = make_api(base_url=tls_server)  # https://localhost:<port>, verified end to end
    assert api.trigger_event("welcome", "s-1").transaction_id == "tx-tls"
    assert api.trigger_event("welcome", "s-2").ok
    port = tls_server.rsplit(":", 1)[1]
    [connect] = proxy.heads  # one tunnel, kept alive for the second call
    assert connect.line.startswith(b"CONNECT localhost:%s HTTP/1." % port.encode())
    assert connect.headers["proxy-authorization"] == expected_authorization()
    # Everything after the CONNECT head was TLS: neither the key nor the body shows.
    assert API_KEY.encode() not in proxy.log and b"welcome" not in proxy.log


@pytest.mark.parametrize("api_scheme", ["http", "https"])
def test_refused_proxy_credentials_show_in_no_error_repr_or_log(
    make_api: Callable[..., Calls],
    proxy: ForwardProxy,
    tls_server: str,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    api_scheme: str,
) -> None:
    wrong = ("proxy-user", "wrong-proxy-secret")
    monkeypatch.setenv("HTTP_PROXY", proxy.url_with(wrong))
    monkeypatch.setenv("HTTPS_PROXY", proxy.url_with(wrong))
    caplog.set_level(logging.DEBUG)
    if api_scheme == "http":
        api = through_proxy(make_api, max_retries=1)
    else:
        api = make_api(base_url=tls_server, max_retries=1)
    with pytest.raises((APIError, APIConnectionError)) as caught:
        api.trigger_event("welcome", "s-1")
    assert "407" in str(caught.value)
    assert proxy.heads and all(h.headers["proxy-authorization"] for h in proxy.heads)
    token = base64.b64encode(":".join(wrong).encode()).decode()
    shown = [str(caught.value), repr(caught.value), repr(api.client), caplog.text]
    shown += [repr(vars(caught.value))]
    for text in shown:
        assert "wrong-proxy-secret" not in text and token not in text


@pytest.mark.parametrize("behaviour", ["silent", "trickle_headers", "trickle_body", "endless"])
def test_through_a_proxy_the_deadline_and_the_size_cap_hold(
    make_api: Callable[..., Calls], proxy: ForwardProxy, behaviour: str
) -> None:
    # trickle_body: one byte every 50 ms for ever, each read well within the read timeout:
    # only the whole-call deadline ends the call (issue 13: 71 s for deadline=5 before).
    with RawServer(behaviour) as server:
        proxy.upstream = server.port
        endless = behaviour == "endless"
        cap = {"max_response_bytes": 100_000} if endless else {}
        api = through_proxy(make_api, deadline=1.0, **cap)
        expected = ResponseTooLargeError if endless else APITimeoutError
        with pytest.raises(expected):
            api.trigger_event("welcome", "s-1")
    assert proxy.heads[0].line == b"POST http://api.teleflow.invalid/v1/events/trigger HTTP/1.1"


@pytest.fixture
def trickling_tls_server(certificates: Tuple[Path, Path, Path]) -> Iterator[str]:
    """An https server that answers its headers, then the body one byte every 50 ms."""
    stop = threading.Event()

    def trickle(tls: ssl.SSLSocket) -> None:
        data = b""
        while b"\r\n\r\n" not in data:
            data += tls.recv(65536)
        tls.sendall(b"HTTP/1.1 201 Created\r\nContent-Length: %d\r\n\r\n" % len(ANSWER))
        for byte in ANSWER * 1000:
            if stop.is_set():
                return
            tls.sendall(bytes([byte]))
            time.sleep(0.05)

    yield from serve_tls(certificates, trickle)
    stop.set()


@pytest.mark.parametrize("where", ["the proxy's CONNECT answer", "the API's answer"])
def test_through_a_tunnel_the_deadline_holds_when_either_end_trickles(
    make_api: Callable[..., Calls],
    proxy: ForwardProxy,
    trickling_tls_server: str,
    certificates: Tuple[Path, Path, Path],
    monkeypatch: pytest.MonkeyPatch,
    where: str,
) -> None:
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(certificates[0]))
    proxy.trickle_connect = where == "the proxy's CONNECT answer"
    api = make_api(base_url=trickling_tls_server, deadline=1.0)
    with pytest.raises(APITimeoutError):
        api.trigger_event("welcome", "s-1")
    assert proxy.heads[0].line.startswith(b"CONNECT localhost:")


def test_no_proxy_sends_directly_to_the_hosts_it_names(
    make_api: Callable[..., Calls],
    proxy: ForwardProxy,
    emulator: Emulator,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # HTTP_PROXY names the proxy, NO_PROXY exempts the emulator's host: the call goes
    # straight to it, as requests' reading of NO_PROXY says.
    monkeypatch.setenv("NO_PROXY", "localhost,127.0.0.0/8")
    api = make_api(base_url=emulator.url)
    assert api.trigger_event("welcome", "s-1").ok
    assert proxy.heads == []
    assert len(emulator.triggers()) == 1


@pytest.mark.parametrize("api_scheme", ["http", "https"])
def test_a_failing_send_through_the_proxy_records_neither_secret_in_any_frame(
    make_api: Callable[..., Calls],
    proxy: ForwardProxy,
    trickling_tls_server: str,
    certificates: Tuple[Path, Path, Path],
    monkeypatch: pytest.MonkeyPatch,
    api_scheme: str,
) -> None:
    # What an error reporter recording every frame's locals (Sentry's capture_locals)
    # would keep of a call that timed out through the proxy: no API key, no proxy password
    # (test_key_secrecy.py, for the proxy routes).
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(certificates[0]))
    with RawServer("silent") as server:
        proxy.upstream = server.port
        if api_scheme == "http":
            api = through_proxy(make_api, deadline=1.0, max_retries=0)
        else:
            api = make_api(base_url=trickling_tls_server, deadline=1.0, max_retries=0)
        with pytest.raises(APITimeoutError) as caught:
            api.trigger_event("welcome", "s-1")
    no_secret_recorded(caught.value)


def no_secret_recorded(error: BaseException) -> None:
    # Here, not in the test: the test's own frame is in the traceback and would hold them.
    for secret in (API_KEY, CREDENTIALS[1], expected_authorization().split()[1]):
        assert _assert_key_not_recorded(error, secret, ours_only=False) > 10


def test_a_proxy_url_that_cannot_be_read_fails_the_call_clearly_and_close_still_works(
    monkeypatch: pytest.MonkeyPatch, make_api: Callable[..., Calls]
) -> None:
    # monkeypatch first: it is undone after make_api closes the client, so close() runs
    # under the unreadable proxy URL too.
    for name in PROXY_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HTTP_PROXY", "http://user:unread-secret@proxy.example:notaport")
    api = make_api(base_url="http://127.0.0.1:9")
    with pytest.raises(APIConnectionError) as caught:
        api.trigger_event("welcome", "s-1")
    assert not caught.value.retryable and "notaport" in str(caught.value)
    assert "unread-secret" not in str(caught.value) + repr(caught.value)
    # make_api closes the client at the end: that must not raise either.
