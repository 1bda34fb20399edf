"""TLS on both clients' own connections: verified against the CA bundle requests would use.

A throwaway certificate authority signs a certificate for ``localhost``; a small TLS server
on loopback answers every request with a processed trigger.
"""

from __future__ import annotations

import shutil
import socket
import ssl
import subprocess
import threading
from pathlib import Path
from typing import Callable, Iterator, Tuple

import pytest
from both_clients import Calls

from teleflow_py import APIConnectionError

ANSWER = b'{"data":{"acknowledged":true,"status":"processed","transactionId":"tx-tls"}}'

pytestmark = pytest.mark.skipif(shutil.which("openssl") is None, reason="needs openssl")


@pytest.fixture(scope="module")
def certificates(tmp_path_factory: pytest.TempPathFactory) -> Tuple[Path, Path, Path]:
    """(CA certificate, server certificate, server key) for localhost."""
    folder = tmp_path_factory.mktemp("tls")

    def openssl(*args: str) -> None:
        subprocess.run(["openssl", *args], cwd=folder, check=True, capture_output=True)

    # The extensions Python 3.13's strict verification asks of a CA and a server certificate.
    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj",
            "/CN=test-ca", "-addext", "basicConstraints=critical,CA:TRUE",
            "-addext", "keyUsage=critical,keyCertSign,cRLSign",
            "-keyout", "ca.key", "-out", "ca.pem")  # fmt: skip
    openssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=localhost",
            "-keyout", "server.key", "-out", "server.csr")  # fmt: skip
    (folder / "san.ext").write_text(
        "subjectAltName=DNS:localhost,IP:127.0.0.1\n"
        "basicConstraints=CA:FALSE\n"
        "keyUsage=digitalSignature,keyEncipherment\n"
        "extendedKeyUsage=serverAuth\n"
        "subjectKeyIdentifier=hash\n"
        "authorityKeyIdentifier=keyid,issuer\n"
    )
    openssl("x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
            "-CAcreateserial", "-days", "2", "-extfile", "san.ext", "-out", "server.pem")  # fmt: skip
    return folder / "ca.pem", folder / "server.pem", folder / "server.key"


def serve_tls(
    certificates: Tuple[Path, Path, Path], answer: Callable[[ssl.SSLSocket], None]
) -> Iterator[str]:
    """An https server for ``localhost`` on loopback: ``answer`` serves each connection.

    Yields its URL; stops accepting when the caller's ``with`` (or fixture) ends.
    """
    _, cert, key = certificates
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    listener = socket.create_server(("127.0.0.1", 0))

    def serve(conn: socket.socket) -> None:
        try:
            with context.wrap_socket(conn, server_side=True) as tls:
                answer(tls)
        except (OSError, ssl.SSLError):
            return  # a client that refused our certificate, or went away

    def accept() -> None:
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            threading.Thread(target=serve, args=(conn,), daemon=True).start()

    threading.Thread(target=accept, daemon=True).start()
    yield f"https://localhost:{listener.getsockname()[1]}"
    listener.close()


def _processed(tls: ssl.SSLSocket) -> None:
    """Answer every request of the connection with a processed trigger."""
    stream = tls.makefile("rb")
    while True:
        length = 0
        while (line := stream.readline()) not in (b"\r\n", b""):
            if line.lower().startswith(b"content-length:"):
                length = int(line.split(b":")[1])
        if not line:
            return
        stream.read(length)
        tls.sendall(
            b"HTTP/1.1 201 Created\r\nContent-Type: application/json\r\n"
            b"Content-Length: %d\r\n\r\n%s" % (len(ANSWER), ANSWER)
        )


@pytest.fixture
def tls_server(certificates: Tuple[Path, Path, Path]) -> Iterator[str]:
    yield from serve_tls(certificates, _processed)


def test_a_certificate_signed_by_the_configured_bundle_is_accepted(
    make_api: Callable[..., Calls],
    tls_server: str,
    certificates: Tuple[Path, Path, Path],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(certificates[0]))
    api = make_api(base_url=tls_server)
    assert api.trigger_event("welcome", "s-1").transaction_id == "tx-tls"
    assert api.trigger_event("welcome", "s-2").ok  # again, on the kept-alive connection


def test_an_unknown_certificate_is_refused_and_not_retried(
    make_api: Callable[..., Calls], tls_server: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"):
        monkeypatch.delenv(name, raising=False)
    api = make_api(base_url=tls_server)
    with pytest.raises(APIConnectionError) as caught:
        api.trigger_event("welcome", "s-1")
    assert not caught.value.retryable and caught.value.retry_count == 0
    assert "certificate" in str(caught.value).lower()
