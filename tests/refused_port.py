"""A loopback URL nothing listens on, for tests where every connection must be refused."""

from __future__ import annotations

import socket
from typing import List

_HELD: List[socket.socket] = []


def refused_url() -> str:
    """A loopback URL nothing listens on: every connection is refused.

    Its port is held by a socket bound but not listening, for as long as the test process
    lives, so that no server of another test can take it (a closed probe's port can be
    handed out again at once).
    """
    if not _HELD:
        held = socket.socket()
        held.bind(("127.0.0.1", 0))
        _HELD.append(held)
    return f"http://127.0.0.1:{_HELD[0].getsockname()[1]}"
