"""Defaults that hold a burst, a memory bound in bytes, and waiting instead of dropping."""

from __future__ import annotations

import threading
from typing import Any, Callable, List, Tuple

import pytest
from loopback import API_KEY, LoopbackServer, unused_port_url

from teleflow_py import Client, ValidationError
from teleflow_py.emulator import Emulator


def test_a_burst_of_10000_with_default_settings_delivers_all_10000() -> None:
    # As a new user calls it: nothing but the key and the URL.
    with Emulator() as emu:
        client = Client(api_key=API_KEY, base_url=emu.url)
        queued = [client.track("Burst", user_id="u", properties={"n": n}) for n in range(10_000)]
        result = client.flush(timeout=60)
        client.close()
        stats = client.analytics_stats
        assert all(queued)
        assert (stats.dropped, stats.pending, result.pending) == (0, 0, 0)
        numbers = [e["properties"]["n"] for e in emu.events(event="Burst")]
        assert sorted(numbers) == list(range(10_000))


def test_defaults_queue_10000_messages_and_batch_100() -> None:
    config = Client(api_key=API_KEY).config
    assert (config.max_queue_size, config.flush_at) == (10_000, 100)
    assert config.max_queue_bytes == 32 * 1024 * 1024
    assert config.queue_full_timeout == 0


def test_the_byte_bound_drops_and_counts_before_the_count_bound(
    make_client: Callable[..., Client],
) -> None:
    # Nothing listens: the worker cannot empty the queue while we fill it.
    drops: List[Tuple[Any, str]] = []
    client = make_client(
        base_url=unused_port_url(),
        max_queue_bytes=64 * 1024,
        on_drop=lambda event, reason: drops.append((event, reason)),
        batch_max_retries=0,
    )
    blob = "x" * 900  # about 1 KB encoded
    results = [client.track("Big", user_id="u", properties={"b": blob}) for _ in range(200)]
    kept = results.count(True)
    assert 0 < kept < 70  # 64 KB hold about 64 such events; not the 10,000 message bound
    assert client.analytics_stats.dropped_by_reason == {"queue_full": 200 - kept}
    assert {reason for _, reason in drops} == {"queue_full"}


def test_queue_full_timeout_waits_for_room_instead_of_dropping(
    server: LoopbackServer, make_client: Callable[..., Client]
) -> None:
    client = make_client(max_queue_size=10, flush_at=5, queue_full_timeout=30)
    for n in range(200):
        assert client.track("Wait", user_id="u", properties={"n": n})
    client.flush(timeout=30)
    assert client.analytics_stats.dropped == 0
    assert [e["properties"]["n"] for e in server.delivered_events()] == list(range(200))


def test_queue_full_timeout_still_drops_when_no_room_comes(
    make_client: Callable[..., Client],
) -> None:
    client = make_client(
        base_url=unused_port_url(), max_queue_size=3, queue_full_timeout=0.2, batch_max_retries=0
    )
    results = [client.track("e", user_id="u") for _ in range(6)]
    assert results.count(False) >= 1
    assert client.analytics_stats.dropped_by_reason["queue_full"] == results.count(False)


def test_waiting_callers_from_many_threads_lose_nothing(
    server: LoopbackServer, make_client: Callable[..., Client]
) -> None:
    client = make_client(max_queue_size=20, flush_at=10, queue_full_timeout=30)

    def burst(thread: int) -> None:
        for n in range(100):
            client.track("T", user_id=f"u{thread}", properties={"n": n})

    threads = [threading.Thread(target=burst, args=(t,)) for t in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    client.flush(timeout=30)
    assert client.analytics_stats.dropped == 0
    assert sum(server.deliveries().values()) == 400


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("queue_full_timeout", -1),
        ("max_queue_bytes", 10),
        ("spool_mode", "fast"),
        ("spool_path", ""),
        ("spool_max_bytes", 0),
    ],
)
def test_new_settings_are_checked_at_the_call(name: str, value: Any) -> None:
    with pytest.raises(ValidationError) as info:
        Client(api_key=API_KEY, **{name: value})
    assert info.value.argument == name


def test_with_default_settings_memory_is_bounded_by_count_and_bytes() -> None:
    down = unused_port_url()
    client = Client(api_key=API_KEY, base_url=down, register_atexit=False, shutdown_timeout=0)
    small = [client.track("Small", user_id="u") for _ in range(10_500)]
    # The bound holds with a batch in flight: taken messages count until settled.
    assert small.count(True) == 10_000
    client.shutdown(timeout=0)

    client = Client(api_key=API_KEY, base_url=down, register_atexit=False, shutdown_timeout=0)
    blob = "x" * 30_000
    big = [client.track("Big", user_id="u", properties={"b": blob}) for _ in range(1_300)]
    queue = client._batcher._queue
    assert queue.bytes <= 32 * 1024 * 1024  # type: ignore[union-attr]
    assert big.count(False) >= 150  # 32 MiB hold about 1,100 such events
    assert client.analytics_stats.dropped_by_reason["queue_full"] == big.count(False)
    client.shutdown(timeout=0)


def test_a_backlog_travels_in_batches_larger_than_flush_at(
    server: LoopbackServer, make_client: Callable[..., Client]
) -> None:
    client = make_client()  # flush_at=100 by default; the fixture only slows the interval
    for n in range(2_500):
        client.track("Backlog", user_id="u", properties={"n": n})
    assert client.flush(timeout=30).ok
    sizes = [len(r["body"]["events"]) for r in server.answered()]
    assert max(sizes) <= 1_000 and max(sizes) > 100
    assert [e["properties"]["n"] for e in server.delivered_events()] == list(range(2_500))
