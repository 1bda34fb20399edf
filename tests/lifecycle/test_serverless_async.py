"""``@flush_after`` on ``async def`` handlers: delivered before the handler's await returns."""

from __future__ import annotations

import asyncio
import logging
from typing import List

import pytest
from lifecycle_support import API_KEY

from teleflow_py import Client
from teleflow_py.emulator import Emulator
from teleflow_py.integrations.serverless import flush_after

BATCH = "/v1/events/batch"


def _client(emulator: Emulator, **settings: object) -> Client:
    # No batch is due on its own: only the flush can send these events.
    return Client(
        api_key=API_KEY,
        base_url=emulator.url,
        register_atexit=False,
        flush_interval=600,
        flush_at=1000,
        **settings,
    )


def test_an_async_handler_is_flushed_after_it_is_awaited(emulator: Emulator) -> None:
    with _client(emulator) as client:

        @flush_after(client)
        async def handler(event: str) -> str:
            for n in range(5):
                client.track("invoked", user_id=event, properties={"n": n})
            await asyncio.sleep(0)
            return "ok"

        assert asyncio.iscoroutinefunction(handler)
        assert handler.__name__ == "handler"
        assert asyncio.run(handler("ada")) == "ok"
        assert client.analytics_stats.pending == 0
        assert len(emulator.events()) == 5


def test_the_flush_does_not_block_the_event_loop(emulator: Emulator) -> None:
    # The server holds the flush's batch until another task of the same loop lets it go:
    # were the flush run on the loop's thread, that task could not run, and the flush
    # would end at shutdown_timeout with the events still pending.
    emulator.delay_next(1, 60.0, path=BATCH)
    with _client(emulator, shutdown_timeout=30) as client:

        @flush_after(client)
        async def handler() -> None:
            client.track("invoked", user_id="ada")

        released: List[bool] = []

        async def release_when_held() -> None:
            while not emulator.requests(BATCH):
                await asyncio.sleep(0.01)
            released.append(True)
            emulator.clear_faults()

        async def main() -> None:
            helper = asyncio.ensure_future(release_when_held())
            await handler()
            await helper

        asyncio.run(main())
        assert released == [True]
        assert client.analytics_stats.pending == 0
        assert len(emulator.events()) == 1


def test_async_with_flushes_when_the_block_raises(emulator: Emulator) -> None:
    with _client(emulator) as client:

        async def main() -> None:
            async with flush_after(client):
                client.track("invoked", user_id="ada")
                raise KeyError("boom")

        with pytest.raises(KeyError):
            asyncio.run(main())
        assert len(emulator.events()) == 1


def test_one_event_left_behind_is_counted_in_the_singular(
    emulator: Emulator, caplog: pytest.LogCaptureFixture
) -> None:
    emulator.go_down()
    with _client(emulator, shutdown_timeout=0.5, batch_max_retries=0) as client:

        @flush_after(client)
        async def handler() -> None:
            client.track("invoked", user_id="ada")

        with caplog.at_level(logging.WARNING, logger="teleflow_py"):
            asyncio.run(handler())
        emulator.come_back()
    assert "1 event was not delivered within 0.5 s" in caplog.text
    assert "it stays queued for the next one" in caplog.text
