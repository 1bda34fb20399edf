"""Both clients behind one face, so each behaviour test is written once and run on both.

``api`` is a :class:`Calls` over a ``Client`` or an ``AsyncClient`` pointed at the
emulator; ``make_api(**options)`` builds more (same kind as the test's parameter). A sync
method is called directly; a coroutine runs to completion on the adapter's own event loop
(one loop per adapter, as an application would keep one).
"""

from __future__ import annotations

import socket
import threading
from typing import Any, Callable, Iterator, List

import pytest
from both_clients import Calls
from test_review_edges import early_413_server  # noqa: F401 - the sync tests' fixture, shared
from test_tls import certificates, tls_server  # noqa: F401 - shared with the proxy tests

from teleflow_py.emulator import Emulator


@pytest.fixture(params=["sync", "async"])
def kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def make_api(kind: str) -> Iterator[Callable[..., Calls]]:
    made: List[Calls] = []

    def make(**options: Any) -> Calls:
        calls = Calls(kind, **options)
        made.append(calls)
        return calls

    yield make
    for calls in made:
        calls.close()


@pytest.fixture
def api(make_api: Callable[..., Calls], emulator: Emulator) -> Calls:
    return make_api(base_url=emulator.url, max_retries=3)


@pytest.fixture
def silent_server() -> Iterator[str]:
    """Accepts connections and never answers (nor reads): every wait on it times out."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    accepted: List[socket.socket] = []

    def accept() -> None:
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            accepted.append(conn)

    threading.Thread(target=accept, daemon=True).start()
    yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    listener.close()
    for conn in accepted:
        conn.close()
