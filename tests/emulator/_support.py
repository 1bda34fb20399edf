"""Helpers shared by the emulator tests: an authenticated session, raw sockets, bodies."""

from __future__ import annotations

import socket
from typing import Any, Optional

import requests

AUTH = {"Authorization": "ApiKey test-key"}


class Api:
    """requests.Session bound to one emulator, sending the API key."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.session = requests.Session()
        self.session.headers.update(AUTH)

    def post(self, path: str, body: Any = None, **headers: str) -> requests.Response:
        return self.session.post(self.url + path, json=body, headers=headers, timeout=30)

    def delete(self, path: str) -> requests.Response:
        return self.session.delete(self.url + path, timeout=30)

    def get(self, path: str) -> requests.Response:
        return self.session.get(self.url + path, timeout=30)


def raw_exchange(port: int, data: bytes, *, half_close: bool = True) -> bytes:
    """Send raw bytes, optionally end our side, and read until the server closes."""
    with socket.create_connection(("127.0.0.1", port), timeout=15) as sock:
        sock.sendall(data)
        if half_close:
            sock.shutdown(socket.SHUT_WR)
        return read_all(sock)


def read_all(sock: socket.socket) -> bytes:
    chunks = []
    while True:
        try:
            chunk = sock.recv(65536)
        except ConnectionResetError:
            break
        if not chunk:
            break
        chunks.append(chunk)
    return b"".join(chunks)


def status_of(response: bytes) -> Optional[int]:
    """Status code from the first line of a raw HTTP response (None if nothing came back)."""
    if not response:
        return None
    return int(response.split(b" ", 2)[1])


def trigger_body(name: str = "welcome", to: Any = "user-1", **extra: Any) -> dict[str, Any]:
    return {"name": name, "to": to, **extra}


def analytics_event(message_id: str, event: str = "Signed Up", **extra: Any) -> dict[str, Any]:
    body = {
        "event": event,
        "message_id": message_id,
        "occurred_at": "2024-05-01T12:00:00.123Z",
        "user_id": "user-1",
    }
    body.update(extra)
    return body
