"""Waiting for one of the connections: bounded by the call's deadline, not by ``timeout``.

``timeout`` bounds the wait for the server's answer once a request is on a connection
(teleflow_py/aio/_session.py: the session's request class moves the attempt's timer in
``send``). A call that waits for a free connection because every one is busy has sent
nothing yet, and waits as long as its deadline allows. Here the client is held to one connection, which a
first call keeps busy until the test lets the server answer it.
"""

from __future__ import annotations

import asyncio
from typing import Iterator

import pytest
from rawserver import RawServer

from teleflow_py import APITimeoutError, AsyncClient, TriggerResult
from teleflow_py.aio import _session

API_KEY = "sk_test_0123456789abcdef"


@pytest.fixture
def server(monkeypatch: pytest.MonkeyPatch) -> Iterator[RawServer]:
    monkeypatch.setattr(_session, "MAX_CONNECTIONS", 1)
    with RawServer("held_first") as held:
        yield held


async def _first_call_holding_the_connection(
    client: AsyncClient, server: RawServer
) -> asyncio.Future[TriggerResult]:
    first = asyncio.ensure_future(client.trigger_event("welcome", "s-1"))
    while not server.first_arrived.is_set():
        await asyncio.sleep(0.01)
    return first


def test_a_call_waiting_for_a_connection_is_not_held_to_the_answer_timeout(
    server: RawServer,
) -> None:
    async def scenario() -> None:
        async with AsyncClient(api_key=API_KEY, base_url=server.url, max_retries=0) as client:
            first = await _first_call_holding_the_connection(client, server)
            # Same connections, a 1 s answer timeout, the default 30 s deadline.
            hasty = client.with_options(timeout=1.0)
            second = asyncio.ensure_future(hasty.trigger_event("welcome", "s-2"))
            await asyncio.sleep(2.0)  # twice its timeout, waiting for the one connection
            assert not second.done()
            server.release.set()
            assert (await first).ok
            assert (await second).ok

    asyncio.run(scenario())
    assert server.requests == 2


def test_a_call_waiting_for_a_connection_ends_at_its_deadline_unsent(server: RawServer) -> None:
    async def scenario() -> None:
        async with AsyncClient(api_key=API_KEY, base_url=server.url, max_retries=0) as client:
            first = await _first_call_holding_the_connection(client, server)
            with pytest.raises(APITimeoutError):
                await client.with_options(deadline=0.5).trigger_event("welcome", "s-2")
            server.release.set()
            assert (await first).ok

    asyncio.run(scenario())
    assert server.requests == 1  # the second call never reached the server
