"""A worker that dies is replaced, and analytics_health() says whether events flow."""

from __future__ import annotations

import logging
from typing import Callable, Optional

import pytest
from loopback import LoopbackServer, unused_port_url

from teleflow_py import Client
from teleflow_py.analytics.batch import Batch


def _break_next_take(client: Client) -> None:
    """Make the worker's next take() raise once, as an unexpected bug would."""
    queue = client._batcher._queue
    original = queue.take

    def broken(max_events: int, max_bytes: int) -> Optional[Batch]:
        queue.take = original  # type: ignore[method-assign]
        raise RuntimeError("a bug in the worker")

    queue.take = broken  # type: ignore[method-assign]


def test_a_dead_worker_is_logged_counted_and_restarted_by_the_next_track(
    server: LoopbackServer,
    make_client: Callable[..., Client],
    caplog: pytest.LogCaptureFixture,
) -> None:
    client = make_client(flush_at=1)
    client.track("before", user_id="u")
    assert client.flush(timeout=30).ok
    dead = client._batcher._thread
    assert dead is not None
    _break_next_take(client)
    with caplog.at_level(logging.ERROR, logger="teleflow_py"):
        client.track("lost?", user_id="u")
        dead.join(30)
    assert not dead.is_alive()
    assert any("the worker stopped" in r.getMessage() for r in caplog.records)
    assert client.analytics_stats.worker_restarts == 1
    assert "a bug in the worker" in (client.analytics_health().last_error or "")

    client.track("after", user_id="u")
    assert client.flush(timeout=30).ok
    names = [e["event"] for e in server.delivered_events()]
    assert names == ["before", "lost?", "after"]
    assert client.analytics_health().worker_alive


def test_flush_restarts_a_dead_worker(
    server: LoopbackServer, make_client: Callable[..., Client]
) -> None:
    client = make_client(flush_at=1000)
    client.track("one", user_id="u")
    _break_next_take(client)
    thread = client._batcher._thread
    assert thread is not None
    # The worker dies on this flush: the flush starts a new one and still delivers.
    result = client.flush(timeout=30)
    assert result.ok and result.accepted == 1
    assert not thread.is_alive()
    assert client.analytics_stats.worker_restarts == 1
    assert [e["event"] for e in server.delivered_events()] == ["one"]


def test_health_reports_an_outage_and_the_age_of_what_waits(
    make_client: Callable[..., Client],
) -> None:
    client = make_client(base_url=unused_port_url(), batch_max_retries=0)
    fresh = client.analytics_health()
    assert (fresh.pending, fresh.oldest_pending_age, fresh.last_success_at) == (0, None, None)
    client.track("e", user_id="u")
    client.flush(timeout=30)
    health = client.analytics_health()
    assert health.pending == 1
    assert health.oldest_pending_age is not None and health.oldest_pending_age >= 0
    assert health.last_success_at is None
    assert health.last_error is not None and "APIConnectionError" in health.last_error


def test_health_records_the_last_success(
    server: LoopbackServer, make_client: Callable[..., Client]
) -> None:
    client = make_client()
    client.track("e", user_id="u")
    client.flush(timeout=30)
    health = client.analytics_health()
    assert health.last_success_at is not None
    assert (health.pending, health.oldest_pending_age, health.last_error) == (0, None, None)
