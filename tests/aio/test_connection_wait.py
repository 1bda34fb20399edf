"""Waiting for one of the connections: bounded by the call's deadline, not by ``timeout``.

``timeout`` bounds the wait for the server's answer once a request is on a connection
(teleflow_py/aio/_session.py, ``_Request.send`` moves the attempt's timer then). A call
that waits for a free connection because every one is busy has sent nothing yet, and
waits as long as its deadline allows. Here the client is held to one connection, which a
first call keeps busy until the test lets the server answer it.
"""

from __future__ import annotations

import asyncio
import socket
import threading
from typing import Iterator, List

import pytest

from teleflow_py import APITimeoutError, AsyncClient, TriggerResult
from teleflow_py.aio import _session

API_KEY = "sk_test_0123456789abcdef"
_RESULT = b'{"data":{"acknowledged":true,"status":"processed","transactionId":"t-1"}}'
_ANSWER = (
    b"HTTP/1.1 201 Created\r\nContent-Type: application/json\r\n"
    + f"Content-Length: {len(_RESULT)}\r\n\r\n".encode()
    + _RESULT
)


class HeldFirstAnswer:
    """Keep-alive loopback server: the first request's answer waits for :attr:`release`."""

    def __init__(self) -> None:
        self.first_arrived = threading.Event()
        self.release = threading.Event()
        self.bodies: List[bytes] = []
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self._listener.getsockname()[1]}"
        self._sockets: List[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def close(self) -> None:
        self.release.set()
        self._listener.close()
        for sock in self._sockets:
            sock.close()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self._listener.accept()
            except OSError:
                return
            self._sockets.append(conn)
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        data = b""
        try:
            while True:
                while b"\r\n\r\n" not in data:
                    piece = conn.recv(65536)
                    if not piece:
                        return
                    data += piece
                head, _, data = data.partition(b"\r\n\r\n")
                length = next(
                    int(line.split(b":", 1)[1])
                    for line in head.split(b"\r\n")
                    if line.lower().startswith(b"content-length:")
                )
                while len(data) < length:
                    data += conn.recv(65536)
                self.bodies.append(data[:length])
                data = data[length:]
                if len(self.bodies) == 1:
                    self.first_arrived.set()
                    self.release.wait()
                conn.sendall(_ANSWER)
        except OSError:
            return


@pytest.fixture
def server(monkeypatch: pytest.MonkeyPatch) -> Iterator[HeldFirstAnswer]:
    monkeypatch.setattr(_session, "MAX_CONNECTIONS", 1)
    held = HeldFirstAnswer()
    yield held
    held.close()


async def _first_call_holding_the_connection(
    client: AsyncClient, server: HeldFirstAnswer
) -> asyncio.Future[TriggerResult]:
    first = asyncio.ensure_future(client.trigger_event("welcome", "s-1"))
    while not server.first_arrived.is_set():
        await asyncio.sleep(0.01)
    return first


def test_a_call_waiting_for_a_connection_is_not_held_to_the_answer_timeout(
    server: HeldFirstAnswer,
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
    assert len(server.bodies) == 2


def test_a_call_waiting_for_a_connection_ends_at_its_deadline_unsent(
    server: HeldFirstAnswer,
) -> None:
    async def scenario() -> None:
        async with AsyncClient(api_key=API_KEY, base_url=server.url, max_retries=0) as client:
            first = await _first_call_holding_the_connection(client, server)
            with pytest.raises(APITimeoutError):
                await client.with_options(deadline=0.5).trigger_event("welcome", "s-2")
            server.release.set()
            assert (await first).ok

    asyncio.run(scenario())
    assert len(server.bodies) == 1  # the second call never reached the server
