"""On the main thread the answer is read in slices (teleflow_py/_waits.py), and none is lost.

The main thread waits for the socket at most 0.1 s at a time, so that a Ctrl-C is handled
at once (tests/lifecycle/test_ctrl_c_in_a_read.py); a slice that ends with no bytes leaves
the socket as it was. Here the server sends its answer in pieces with pauses longer than a
slice (each piece its own TLS record over TLS), over plain TCP and over TLS: every byte
arrives, in order. That the read timeout and the deadline still end a read that gets
nothing, on the main thread where pytest runs, is tests/events/test_deadlines.py's.
"""

from __future__ import annotations

import shutil
import socket
import ssl
import subprocess
import threading
import time
from pathlib import Path
from typing import Iterator, List, Optional

import pytest

from teleflow_py import Client

API_KEY = "sk_test_0123456789abcdef"
RESULT = b'{"data":{"acknowledged":true,"status":"processed","transactionId":"tx-slices"}}'
ANSWER = (
    b"HTTP/1.1 201 Created\r\nContent-Type: application/json\r\n"
    + f"Content-Length: {len(RESULT)}\r\n\r\n".encode()
    + RESULT
)
PAUSE = 0.25  # longer than a slice (0.1 s); what is asserted holds at any speed


class PausingServer:
    """Answers each request in 5 pieces, ``PAUSE`` apart (TLS when given a context)."""

    def __init__(self, tls: Optional[ssl.SSLContext]) -> None:
        self._tls = tls
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self.errors: List[BaseException] = []
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self._listener.accept()
            except OSError:
                return
            threading.Thread(target=self._answer, args=(conn,), daemon=True).start()

    def _answer(self, conn: socket.socket) -> None:
        try:
            if self._tls is not None:
                conn = self._tls.wrap_socket(conn, server_side=True)
            with conn:
                pending = b""
                while True:  # one request after another on the kept-alive connection
                    while b"\r\n\r\n" not in pending:
                        more = conn.recv(65536)
                        if not more:
                            return
                        pending += more
                    head, _, pending = pending.partition(b"\r\n\r\n")
                    length = next(
                        int(line.split(b":")[1])
                        for line in head.split(b"\r\n")
                        if line.lower().startswith(b"content-length:")
                    )
                    while len(pending) < length:
                        pending += conn.recv(65536)
                    pending = pending[length:]
                    step = len(ANSWER) // 5 + 1
                    for start in range(0, len(ANSWER), step):
                        time.sleep(PAUSE)
                        conn.sendall(ANSWER[start : start + step])
        except BaseException as exc:  # shown by the test
            self.errors.append(exc)

    def close(self) -> None:
        self._listener.close()


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A self-signed certificate for 127.0.0.1 (key and certificate in one file)."""
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.skip("needs the openssl command to make a certificate")
    folder = tmp_path_factory.mktemp("tls")
    pem = folder / "server.pem"
    subprocess.run(
        [
            openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
            "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
            "-keyout", str(pem), "-out", str(pem),
        ],
        check=True,
        capture_output=True,
    )  # fmt: skip
    return pem


@pytest.fixture(params=["plain", "tls"])
def server(
    request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> Iterator[PausingServer]:
    tls = None
    if request.param == "tls":
        pem = request.getfixturevalue("certificate")
        tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        tls.load_cert_chain(pem)
        monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(pem))  # the client verifies it
    serving = PausingServer(tls)
    serving.scheme = "https" if tls else "http"  # type: ignore[attr-defined]
    yield serving
    serving.close()
    assert serving.errors == []


def test_an_answer_paused_between_its_pieces_is_read_whole_on_the_main_thread(
    server: PausingServer,
) -> None:
    assert threading.current_thread() is threading.main_thread()  # where slices are cut
    url = f"{server.scheme}://127.0.0.1:{server.port}"  # type: ignore[attr-defined]
    with Client(api_key=API_KEY, base_url=url, register_atexit=False) as client:
        for n in range(2):  # the second on the kept-alive connection
            result = client.trigger_event("welcome", f"s-{n}")
            assert result.transaction_id == "tx-slices"
            assert result.acknowledged
