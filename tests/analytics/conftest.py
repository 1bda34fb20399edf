"""Fixtures of the analytics tests: a loopback server and clients pointed at it."""

from __future__ import annotations

from typing import Any, Callable, Iterator, List

import pytest
from loopback import API_KEY, LoopbackServer

from teleflow_py import Client


@pytest.fixture
def server() -> Iterator[LoopbackServer]:
    loopback = LoopbackServer()
    yield loopback
    loopback.close()


@pytest.fixture
def make_client(server: LoopbackServer) -> Iterator[Callable[..., Client]]:
    """Clients pointed at the loopback server; closed (without exit hooks) afterwards."""
    made: List[Client] = []

    def make(**settings: Any) -> Client:
        settings.setdefault("register_atexit", False)
        settings.setdefault("flush_interval", 60.0)
        settings.setdefault("shutdown_timeout", 10.0)
        client = Client(api_key=API_KEY, base_url=settings.pop("base_url", server.url), **settings)
        made.append(client)
        return client

    yield make
    for client in made:
        client.shutdown(timeout=2)
        client.close()
