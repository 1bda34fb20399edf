"""What only the async client has: coroutines under real concurrency, ``async with``,
analytics that never block the loop, and an import that stays light without it."""

from __future__ import annotations

import asyncio
import gc
import os
import pickle
import subprocess
import sys
import weakref
from pathlib import Path
from typing import List

import pytest
from both_clients import API_KEY
from rawserver import RawServer
from test_key_secrecy import _assert_key_not_recorded

from teleflow_py import (
    AsyncClient,
    AuthenticationError,
    TeleflowError,
)
from teleflow_py.emulator import Emulator

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def test_importing_the_package_does_not_import_aiohttp() -> None:
    code = (
        "import sys, teleflow_py\n"
        "assert 'aiohttp' not in sys.modules, 'aiohttp imported'\n"
        "assert 'teleflow_py.aio' not in sys.modules\n"
        "teleflow_py.AsyncClient\n"
        "assert 'aiohttp' in sys.modules\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


async def test_a_thousand_concurrent_triggers_from_one_loop_all_arrive_once(
    emulator: Emulator,
) -> None:
    # Defaults, as a new user would call it.
    async with AsyncClient(api_key=API_KEY, base_url=emulator.url) as client:
        results = await asyncio.gather(
            *(
                client.trigger_event("welcome", f"s-{i}", transaction_id=f"tx-{i}")
                for i in range(1000)
            )
        )
    assert [r.transaction_id for r in results] == [f"tx-{i}" for i in range(1000)]
    assert all(r.ok for r in results)
    keys = {r.response.idempotency_key for r in results if r.response is not None}
    assert len(keys) == 1000
    assert sorted(t["transactionId"] for t in emulator.triggers()) == sorted(
        f"tx-{i}" for i in range(1000)
    )


async def test_concurrent_calls_retry_independently_with_their_own_keys(
    emulator: Emulator,
) -> None:
    emulator.fail_next(5, 503, headers={"Retry-After": "0"})
    emulator.drop_next(3)
    # Drops may come before any answer has shown that the emulator deduplicates: say so.
    # Not paced: pacing's first request of a bucket goes alone (the others wait for its
    # answer), so it alone would meet all eight faults, which are dealt by request order.
    # As many retries as faults: which call meets them depends on the order requests
    # reach the server, which a loaded machine shuffles (one call can meet six).
    async with AsyncClient(
        api_key=API_KEY,
        base_url=emulator.url,
        server_deduplicates=True,
        pace_by_rate_limit=False,
        max_retries=8,
    ) as client:
        results = await asyncio.gather(
            *(
                client.trigger_event("welcome", f"s-{i}", idempotency_key=f"k-{i}")
                for i in range(20)
            )
        )
    assert all(r.ok for r in results)
    assert sorted(t["to"] for t in emulator.triggers()) == sorted(f"s-{i}" for i in range(20))
    keys = [r["headers"]["idempotency-key"] for r in emulator.requests()]
    assert set(keys) == {f"k-{i}" for i in range(20)}


async def test_async_with_delivers_analytics_and_closes(emulator: Emulator) -> None:
    async with AsyncClient(api_key=API_KEY, base_url=emulator.url) as client:
        assert client.track("signed_up", user_id="u-1", properties={"plan": "pro"}) is True
        assert client.identify(user_id="u-1", traits={"name": "Ada"}) is True
        assert client.alias(user_id="u-1", anonymous_id="anon-1") is True
        assert (await client.trigger_event("welcome", "s-1")).ok
    # close() flushed the queue through the worker thread, with the default timeout.
    assert [e["event"] for e in emulator.events()] == ["signed_up", "$identify"]
    assert len(emulator.aliases()) == 1
    with pytest.raises(TeleflowError, match="closed"):
        await client.trigger_event("welcome", "s-1")
    assert client.track("late", user_id="u-1") is False
    await client.close()  # twice is fine


async def test_flush_and_shutdown_wait_in_a_thread_while_the_loop_runs(emulator: Emulator) -> None:
    # The server holds the analytics batch until a task of the loop lets it go, after
    # ticking three times while shutdown() waits: the shutdown can end only if the loop
    # keeps serving other tasks meanwhile. (Counting the ticks of a 0.5 s timeout instead
    # asked a loaded machine for a tick every 0.16 s.) Were the loop blocked, the held
    # batch would outlast the shutdown's timeout: pending 1, no ticks.
    emulator.delay_next(1, 120.0, path="/v1/events/batch")
    client = AsyncClient(api_key=API_KEY, base_url=emulator.url, shutdown_timeout=60)
    assert client.track("e", user_id="u") is True  # returns at once: no I/O here
    ticks: List[int] = []
    shutting_down = asyncio.Event()

    async def ticker() -> None:
        await shutting_down.wait()
        while True:
            await asyncio.sleep(0.01)
            ticks.append(1)
            if len(ticks) == 3:
                emulator.clear_faults()  # the held batch is answered

    task = asyncio.ensure_future(ticker())
    shutting_down.set()  # the ticker counts from its next turn: inside shutdown()
    result = await client.shutdown()
    during = len(ticks)
    task.cancel()
    await client.close()
    assert during >= 3, "the loop was blocked while analytics shut down"
    assert result.pending == 0 and result.accepted == 1


async def test_the_key_is_sent_but_never_shown(emulator: Emulator) -> None:
    with Emulator(api_keys=[API_KEY]) as strict:
        async with AsyncClient(api_key=API_KEY, base_url=strict.url) as client:
            assert (await client.trigger_event("welcome", "s-1")).ok
            assert API_KEY not in repr(client) and API_KEY not in repr(client.config)
            with pytest.raises(TypeError):
                pickle.dumps(client)
        async with AsyncClient(api_key="sk_wrong_key_000000", base_url=strict.url) as client:
            with pytest.raises(AuthenticationError) as caught:
                await client.trigger_event("welcome", "s-1")
            assert "sk_wrong_key_000000" not in str(caught.value)


def test_one_client_works_from_successive_event_loops(emulator: Emulator) -> None:
    # asyncio.run() twice (scripts, some test runners): connections of a finished loop are
    # not reused on the next one.
    client = AsyncClient(api_key=API_KEY, base_url=emulator.url)
    assert asyncio.run(client.trigger_event("welcome", "s-1")).ok
    assert asyncio.run(client.trigger_event("welcome", "s-2")).ok
    asyncio.run(client.close())
    assert len(emulator.triggers()) == 2


async def test_a_cancelled_call_leaves_the_client_usable(emulator: Emulator) -> None:
    emulator.delay_next(1, 5)
    async with AsyncClient(api_key=API_KEY, base_url=emulator.url) as client:
        slow = asyncio.ensure_future(client.trigger_event("welcome", "slow"))
        await asyncio.sleep(0.2)
        slow.cancel()
        with pytest.raises(asyncio.CancelledError):
            await slow
        emulator.clear_faults()
        assert (await client.trigger_event("welcome", "s-1")).ok


def test_the_sync_client_works_without_aiohttp_installed(tmp_path: Path) -> None:
    # A shadowing module that fails to import stands in for an environment without the
    # `async` extra: the sync client and `import *` work; AsyncClient explains what to do.
    (tmp_path / "aiohttp.py").write_text("raise ImportError('no aiohttp here')\n")
    code = (
        "from teleflow_py import *\n"
        "import teleflow_py\n"
        "Client(api_key='sk_test_0123456789abcdef').close()\n"
        "try:\n"
        "    teleflow_py.AsyncClient\n"
        "except ImportError as exc:\n"
        "    assert 'teleflow-py[async]' in str(exc), exc\n"
        "else:\n"
        "    raise SystemExit('AsyncClient imported without aiohttp')\n"
    )
    env = dict(os.environ, PYTHONPATH=str(tmp_path))
    subprocess.run([sys.executable, "-c", code], check=True, env=env)


@pytest.mark.parametrize("behaviour", ["hang_up", "refused", "silent"])
async def test_a_failing_send_records_no_key_in_any_frame(
    emulator: Emulator, behaviour: str
) -> None:
    # What Sentry's capture_locals would record of every frame of the failure, asyncio's
    # included (the sync client's test, test_key_secrecy.py, for the async route).
    server = RawServer("silent") if behaviour == "silent" else None
    if behaviour == "refused":
        emulator.go_down()
    elif behaviour == "hang_up":
        emulator.drop_next(5)
    url = server.url if server is not None else emulator.url
    try:
        async with AsyncClient(api_key=API_KEY, base_url=url, max_retries=0, deadline=1.0) as c:
            with pytest.raises(TeleflowError) as caught:
                await c.trigger_event("welcome", "s-1", payload={"k": "v"})
    finally:
        if server is not None:
            server.close()
    assert _assert_key_not_recorded(caught.value, API_KEY, ours_only=False) > 10


async def test_a_spooled_queue_is_delivered_at_close(emulator: Emulator, tmp_path: Path) -> None:
    spool = tmp_path / "analytics.sqlite"
    async with AsyncClient(api_key=API_KEY, base_url=emulator.url, spool_path=spool) as client:
        assert client.track("signed_up", user_id="u-1") is True
        assert client.analytics_health() is not None
    assert [e["event"] for e in emulator.events()] == ["signed_up"]


def test_the_async_client_imports_and_sends_with_httpx_absent(emulator: Emulator) -> None:
    # A meta-path finder refuses httpx (and its parts), as in an environment with only the
    # `async` extra installed: the async client needs aiohttp alone.
    code = (
        "import sys\n"
        "class NoHttpx:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name == 'httpx' or name.startswith(('httpx.', 'httpcore')):\n"
        "            raise ImportError(f'{name} is blocked')\n"
        "sys.meta_path.insert(0, NoHttpx())\n"
        "import asyncio, teleflow_py.aio\n"
        "async def main():\n"
        "    async with teleflow_py.aio.AsyncClient(api_key='sk_test_0123456789abcdef',\n"
        "                                           base_url=sys.argv[1]) as client:\n"
        "        assert (await client.trigger_event('welcome', 's-1')).ok\n"
        "asyncio.run(main())\n"
        "assert 'aiohttp' in sys.modules and 'httpx' not in sys.modules\n"
    )
    subprocess.run([sys.executable, "-c", code, emulator.url], check=True, timeout=60)
    assert len(emulator.triggers()) == 1


def test_a_client_dropped_unclosed_lets_go_of_its_transport_at_once() -> None:
    # Nothing of the transport refers back to it (a bound method of its own kept on it
    # would): a client dropped without close() lets go of its settings and key when the
    # last reference goes, not at some later garbage collection.
    gc.collect()
    gc.disable()
    try:
        client = AsyncClient(api_key=API_KEY, base_url="http://127.0.0.1:9")
        transport = weakref.ref(client._aio)
        del client
        assert transport() is None
    finally:
        gc.enable()
