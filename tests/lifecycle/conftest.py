"""Fixtures shared by the lifecycle tests."""

from __future__ import annotations

import socket
from typing import Iterator

import pytest


@pytest.fixture
def silent_url() -> Iterator[str]:
    """A server that takes connections (through its backlog) and never answers."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    finally:
        listener.close()
