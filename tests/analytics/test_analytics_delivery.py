"""Batching, retries, requeues, splitting and error reporting, against a loopback server."""

from __future__ import annotations

import logging
import threading
from typing import Any, Callable, Dict, List, Tuple

import pytest
from loopback import ALIAS, EVENTS, LoopbackServer, fast_retry

from teleflow_py import Client, EventsRejectedError, FlushResult
from teleflow_py.errors import TeleflowError


def numbers(events: List[Dict[str, Any]]) -> List[int]:
    return [e["properties"]["n"] for e in events]


def track_numbered(client: Client, count: int, start: int = 0) -> None:
    for number in range(start, start + count):
        assert client.track("e", user_id="u", properties={"n": number})


def test_a_full_batch_goes_out_without_flush(
    make_client: Callable[..., Client], server: LoopbackServer
) -> None:
    client = make_client(flush_at=5)
    track_numbered(client, 5)
    assert numbers(server.wait_for_events(5)) == [0, 1, 2, 3, 4]
    assert len(server.requests(EVENTS)) == 1


def test_a_partial_batch_goes_out_after_flush_interval(
    make_client: Callable[..., Client], server: LoopbackServer
) -> None:
    client = make_client(flush_at=100, flush_interval=0.05)
    track_numbered(client, 3)
    assert numbers(server.wait_for_events(3)) == [0, 1, 2]


def test_a_client_that_never_tracks_starts_no_thread(make_client: Callable[..., Client]) -> None:
    def workers() -> int:
        return sum(1 for t in threading.enumerate() if t.name == "teleflow-analytics")

    before = workers()
    client = make_client()
    assert client.flush().batches == 0
    assert client.shutdown().batches == 0
    assert workers() == before
    client2 = make_client()
    client2.track("e", user_id="u")
    assert workers() == before + 1


def test_alias_is_sent_in_order_with_events(
    make_client: Callable[..., Client], server: LoopbackServer
) -> None:
    client = make_client(flush_at=100)
    track_numbered(client, 2)
    client.alias(user_id="u", anonymous_id="a")
    track_numbered(client, 1, start=2)
    result = client.flush(timeout=30)
    assert (result.accepted, result.batches, result.pending) == (4, 3, 0)
    paths = [
        (r["path"], numbers(r["body"]["events"]) if r["path"] == EVENTS else None)
        for r in server.requests()
    ]
    assert paths == [(EVENTS, [0, 1]), (ALIAS, None), (EVENTS, [2])]


@pytest.mark.parametrize("status", [408, 409, 429, 500, 502, 503, 504])
def test_a_retried_batch_keeps_its_key(
    make_client: Callable[..., Client], server: LoopbackServer, status: int
) -> None:
    client = make_client(flush_at=100, batch_max_retries=2)
    server.fail_next(2, status, fast_retry())
    track_numbered(client, 3)
    result = client.flush(timeout=30)
    assert (result.accepted, result.pending) == (3, 0)
    requests = server.requests(EVENTS)
    assert [r["status"] for r in requests] == [status, status, 200]
    assert len({r["headers"]["x-idempotency-key"] for r in requests}) == 1
    assert [r["headers"]["x-teleflow-retry-count"] for r in requests] == ["0", "1", "2"]
    assert client.analytics_stats.retries == 2


def test_a_dropped_connection_is_retried_with_the_same_key(
    make_client: Callable[..., Client], server: LoopbackServer
) -> None:
    client = make_client(flush_at=100, batch_max_retries=3)
    server.hang_up_next(1)
    track_numbered(client, 2)
    assert client.flush(timeout=30).accepted == 2
    keys = [r["headers"]["x-idempotency-key"] for r in server.requests(EVENTS)]
    assert len(keys) == 2 and keys[0] == keys[1]
    assert server.deliveries().most_common(1)[0][1] == 1


def test_a_requeued_batch_keeps_its_key_and_its_place(
    make_client: Callable[..., Client], server: LoopbackServer
) -> None:
    client = make_client(flush_at=3, batch_max_retries=0)
    server.always_status = 503
    track_numbered(client, 3)
    first = client.flush(timeout=30)
    assert (first.accepted, first.pending) == (0, 3)
    assert len(first.errors) >= 1
    track_numbered(client, 2, start=3)
    server.always_status = None
    second = client.flush(timeout=30)
    assert (second.accepted, second.pending) == (5, 0)
    assert client.analytics_stats.requeues >= 1
    requests = server.requests(EVENTS)
    failed_keys = {r["headers"]["x-idempotency-key"] for r in requests if r["status"] == 503}
    [ok_first] = [
        r for r in requests if r["status"] == 200 and numbers(r["body"]["events"])[0] == 0
    ]
    assert failed_keys == {ok_first["headers"]["x-idempotency-key"]}
    assert numbers(server.delivered_events()) == [0, 1, 2, 3, 4]


def test_nothing_lost_or_doubled_across_an_outage(
    make_client: Callable[..., Client], server: LoopbackServer
) -> None:
    client = make_client(flush_at=10, batch_max_retries=1, max_queue_size=1000)
    server.always_status = 503
    track_numbered(client, 40)
    client.flush(timeout=30)
    track_numbered(client, 20, start=40)
    server.always_status = None
    result = client.flush(timeout=30)
    assert result.pending == 0
    assert numbers(server.delivered_events()) == list(range(60))
    assert max(server.deliveries().values()) == 1


def test_413_splits_until_the_parts_fit(
    make_client: Callable[..., Client], server: LoopbackServer
) -> None:
    client = make_client(flush_at=10)
    server.batch_event_limit = 3
    track_numbered(client, 10)
    result = client.flush(timeout=30)
    assert (result.accepted, result.pending, result.dropped) == (10, 0, 0)
    assert numbers(server.delivered_events()) == list(range(10))
    assert all(len(r["body"]["events"]) <= 3 for r in server.answered())
    keys = [r["headers"]["x-idempotency-key"] for r in server.requests(EVENTS)]
    assert len(set(keys)) == len(keys)  # every part has a key of its own


def test_a_split_part_keeps_its_derived_key_when_retried(
    make_client: Callable[..., Client], server: LoopbackServer
) -> None:
    client = make_client(flush_at=4)
    server.fail_next(1, 413)
    server.fail_next(1, 503, fast_retry())
    track_numbered(client, 4)
    assert client.flush(timeout=30).accepted == 4
    requests = server.requests(EVENTS)
    assert [r["status"] for r in requests] == [413, 503, 200, 200]
    assert (
        requests[1]["headers"]["x-idempotency-key"] == requests[2]["headers"]["x-idempotency-key"]
    )
    assert (
        requests[0]["headers"]["x-idempotency-key"] != requests[1]["headers"]["x-idempotency-key"]
    )


def test_a_single_event_too_large_is_dropped_and_reported(
    make_client: Callable[..., Client], server: LoopbackServer
) -> None:
    drops: List[Tuple[Dict[str, Any], str]] = []
    client = make_client(flush_at=2, on_drop=lambda event, reason: drops.append((event, reason)))
    server.batch_event_limit = 0
    track_numbered(client, 2)
    result = client.flush(timeout=30)
    assert (result.accepted, result.dropped, result.pending) == (0, 2, 0)
    assert [(numbers([e]), reason) for e, reason in drops] == [
        ([0], "too_large"),
        ([1], "too_large"),
    ]
    assert client.analytics_stats.dropped_by_reason == {"too_large": 2}


@pytest.mark.parametrize("status", [400, 401, 403, 422])
def test_a_refused_batch_is_reported_not_retried(
    make_client: Callable[..., Client], server: LoopbackServer, status: int
) -> None:
    reports: List[Tuple[Exception, List[Dict[str, Any]]]] = []
    client = make_client(
        flush_at=100, on_error=lambda error, events: reports.append((error, events))
    )
    server.fail_next(1, status)
    track_numbered(client, 3)
    result = client.flush(timeout=30)
    assert (result.rejected, result.pending, result.batches) == (3, 0, 1)
    assert len(server.requests(EVENTS)) == 1
    [(error, events)] = reports
    assert getattr(error, "status", None) == status
    assert numbers(events) == [0, 1, 2]
    assert list(result.errors) == [error]


def test_per_event_rejections_are_counted_and_reported(
    make_client: Callable[..., Client], server: LoopbackServer
) -> None:
    reports: List[Tuple[Exception, List[Dict[str, Any]]]] = []
    client = make_client(
        flush_at=100, on_error=lambda error, events: reports.append((error, events))
    )
    server.reject_event = lambda event: "odd" if event["properties"]["n"] % 2 else None
    server.wrap_in_data = True
    track_numbered(client, 5)
    result = client.flush(timeout=30)
    assert (result.accepted, result.rejected, result.pending) == (3, 2, 0)
    [(error, events)] = reports
    assert isinstance(error, EventsRejectedError)
    assert numbers(events) == [1, 3]


def test_a_raising_callback_does_not_stop_the_worker(
    make_client: Callable[..., Client], server: LoopbackServer
) -> None:
    def broken(error: Exception, events: List[Dict[str, Any]]) -> None:
        raise RuntimeError("callback bug")

    client = make_client(flush_at=100, on_error=broken)
    server.fail_next(1, 400)
    track_numbered(client, 1)
    client.flush(timeout=30)
    track_numbered(client, 1, start=1)
    assert client.flush(timeout=30).accepted == 1


def test_a_full_queue_drops_new_events_and_warns_once(
    make_client: Callable[..., Client], server: LoopbackServer, caplog: pytest.LogCaptureFixture
) -> None:
    drops: List[Tuple[Dict[str, Any], str]] = []
    client = make_client(
        flush_at=100, max_queue_size=5, on_drop=lambda event, reason: drops.append((event, reason))
    )
    with caplog.at_level(logging.WARNING, logger="teleflow_py"):
        accepted = [client.track("e", user_id="u", properties={"n": n}) for n in range(8)]
    assert accepted == [True] * 5 + [False] * 3
    assert [(numbers([e]), reason) for e, reason in drops] == [
        ([n], "queue_full") for n in (5, 6, 7)
    ]
    assert len([r for r in caplog.records if "queue is full" in r.getMessage()]) == 1
    result = client.flush(timeout=30)
    assert numbers(server.delivered_events()) == [0, 1, 2, 3, 4]
    assert client.analytics_stats.dropped_by_reason == {"queue_full": 3}
    assert result.pending == 0


def test_track_after_shutdown_is_refused_visibly(
    make_client: Callable[..., Client], server: LoopbackServer, caplog: pytest.LogCaptureFixture
) -> None:
    drops: List[Tuple[Dict[str, Any], str]] = []
    client = make_client(on_drop=lambda event, reason: drops.append((event, reason)))
    client.shutdown()
    with caplog.at_level(logging.WARNING, logger="teleflow_py"):
        assert client.track("late", user_id="u") is False
        assert client.identify(user_id="u") is False
        assert client.alias(user_id="u", anonymous_id="a") is False
    assert [(event.get("event"), reason) for event, reason in drops] == [
        ("late", "shutdown"),
        ("$identify", "shutdown"),
        (None, "shutdown"),
    ]
    assert client.analytics_stats.dropped_by_reason == {"shutdown": 3}
    assert any("after shutdown" in r.getMessage() for r in caplog.records)
    assert server.requests() == []


def test_shutdown_from_several_threads_at_once(
    make_client: Callable[..., Client], server: LoopbackServer
) -> None:
    client = make_client(flush_at=100)
    track_numbered(client, 30)
    results: List[FlushResult] = []
    threads = [threading.Thread(target=lambda: results.append(client.shutdown())) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert len(results) == 8
    assert {(r.accepted, r.pending) for r in results} == {(30, 0)}
    assert client.shutdown().accepted == 30  # and again, after the fact
    assert max(server.deliveries().values()) == 1
    assert len(server.delivered_events()) == 30


def test_shutdown_cuts_a_retry_wait_short(
    make_client: Callable[..., Client], server: LoopbackServer
) -> None:
    client = make_client(flush_at=1, batch_max_retries=2)
    # The server asks for a minute's wait; shutdown must not sleep through it.
    server.fail_next(1, 503, {"Retry-After": "59"})
    track_numbered(client, 1)
    server.wait_for_requests(1)
    result = client.shutdown(timeout=20)
    assert (result.accepted, result.pending) == (1, 0)
    keys = {r["headers"]["x-idempotency-key"] for r in server.requests(EVENTS)}
    assert len(keys) == 1


def test_flush_timeout_returns_what_is_still_pending(
    make_client: Callable[..., Client], server: LoopbackServer
) -> None:
    client = make_client(flush_at=100, batch_max_retries=0)
    server.always_status = 503
    track_numbered(client, 4)
    result = client.flush(timeout=30)
    assert result.pending == 4
    assert all(isinstance(error, TeleflowError) for error in result.errors)
    assert not result.ok


def test_flush_refuses_a_bad_timeout(make_client: Callable[..., Client]) -> None:
    client = make_client()
    with pytest.raises(ValueError, match="timeout"):
        client.flush(timeout=-1)
    with pytest.raises(ValueError, match="timeout"):
        client.shutdown(timeout="soon")  # type: ignore[arg-type]
