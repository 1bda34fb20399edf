"""Idempotency keys: replay verbatim, 422 on a different body, 409 while in flight."""

from __future__ import annotations

import threading
from typing import Any

import pytest
import requests

from teleflow_py.emulator import Emulator

from ._support import Api, analytics_event, trigger_body

KEY = {"Idempotency-Key": "key-1"}


def wait_until(condition: Any) -> None:
    """Poll (no sleep-based timing) until ``condition()`` is true; pytest-timeout bounds it."""
    event = threading.Event()
    while not condition():
        event.wait(0.01)


def test_repeat_is_replayed_verbatim_and_stored_once(api: Api, emu: Emulator) -> None:
    first = api.post("/v1/events/trigger", trigger_body(), **KEY)
    repeat = api.post("/v1/events/trigger", trigger_body(), **KEY)

    assert first.status_code == repeat.status_code == 201
    assert repeat.content == first.content
    assert repeat.headers["Idempotency-Replay"] == "true"
    assert "Idempotency-Replay" not in first.headers
    assert repeat.headers["Idempotency-Key"] == "key-1"
    assert len(emu.triggers()) == 1
    assert emu.replays() == [{"path": "/v1/events/trigger", "idempotency_key": "key-1"}]
    assert [r["replayed"] for r in emu.requests()] == [False, True]
    assert emu.stats()["retries_seen"] == 1


def test_key_order_and_spacing_do_not_make_a_different_body(api: Api, emu: Emulator) -> None:
    headers = {"Content-Type": "application/json", **KEY}
    api.session.post(api.url + "/v1/events/trigger", data=b'{"name":"w","to":"u"}', headers=headers)
    replay = api.session.post(
        api.url + "/v1/events/trigger", data=b'{ "to": "u", "name": "w" }', headers=headers
    )
    assert replay.headers.get("Idempotency-Replay") == "true"
    assert len(emu.triggers()) == 1


def test_same_key_different_body_is_422(api: Api, emu: Emulator) -> None:
    api.post("/v1/events/trigger", trigger_body(), **KEY)
    response = api.post("/v1/events/trigger", trigger_body(to="someone-else"), **KEY)

    assert response.status_code == 422
    assert response.json() == {
        "statusCode": 422,
        "message": "Request with the same idempotency key but different body",
        "error": "Unprocessable Entity",
    }
    assert [t["to"] for t in emu.triggers()] == ["user-1"]


def test_keys_are_scoped_per_route(api: Api, emu: Emulator) -> None:
    api.post("/v1/events/trigger", trigger_body(), **KEY)
    broadcast = api.post("/v1/events/trigger/broadcast", {"name": "n", "payload": {}}, **KEY)
    assert broadcast.status_code == 201
    assert "Idempotency-Replay" not in broadcast.headers
    assert len(emu.broadcasts()) == 1


def test_key_in_flight_is_409_then_replayed_once_done(api: Api, emu: Emulator) -> None:
    emu.delay_next(1, seconds=60)  # cut short by clear_faults() below
    first: list[requests.Response] = []
    worker = threading.Thread(
        target=lambda: first.append(Api(emu.url).post("/v1/events/trigger", trigger_body(), **KEY))
    )
    worker.start()
    try:
        wait_until(lambda: emu.faults_served())  # the delay has begun: the key is in flight
        concurrent = api.post("/v1/events/trigger", trigger_body(), **KEY)
    finally:
        emu.clear_faults()
        worker.join()

    assert concurrent.status_code == 409
    assert concurrent.headers["Retry-After"] == "1"
    assert first[0].status_code == 201
    later = api.post("/v1/events/trigger", trigger_body(), **KEY)
    assert later.headers["Idempotency-Replay"] == "true"
    assert later.content == first[0].content
    assert len(emu.triggers()) == 1
    assert emu.faults_served() == [{"fault": "delay", "path": "/v1/events/trigger", "status": None}]


def test_error_answer_does_not_consume_the_key(api: Api, emu: Emulator) -> None:
    emu.fail_next(1, 503)
    failed = api.post("/v1/events/trigger", trigger_body(), **KEY)
    invalid = api.post("/v1/events/trigger", {"name": "w"}, **KEY)
    retried = api.post("/v1/events/trigger", trigger_body(), **KEY)

    assert failed.status_code == 503
    assert invalid.status_code == 400
    assert retried.status_code == 201
    assert "Idempotency-Replay" not in retried.headers
    assert len(emu.triggers()) == 1
    assert emu.stats()["retries_seen"] == 2


def test_dropped_answer_is_replayed_on_retry(api: Api, emu: Emulator) -> None:
    emu.drop_next(1)
    with pytest.raises(requests.ConnectionError):
        api.post("/v1/events/trigger", trigger_body(), **KEY)
    retry = api.post("/v1/events/trigger", trigger_body(), **KEY)

    assert retry.status_code == 201
    assert retry.headers["Idempotency-Replay"] == "true"
    assert len(emu.triggers()) == 1
    assert retry.json()["data"]["transactionId"] == emu.triggers()[0]["transactionId"]


def test_batch_key_replays_and_stores_nothing_twice(api: Api, emu: Emulator) -> None:
    batch = {"events": [analytics_event("m1"), analytics_event("m2")]}
    first = api.post("/v1/events/batch", batch, **{"X-Idempotency-Key": "batch-1"})
    again = api.post("/v1/events/batch", batch, **{"X-Idempotency-Key": "batch-1"})

    assert again.headers["Idempotency-Replay"] == "true"
    assert again.json() == first.json() == {"accepted": 2, "rejected": 0, "errors": []}
    assert len(emu.events()) == 2
    assert len(emu.batches()) == 1
    assert emu.stats()["duplicates_ignored"] == 0  # replayed, not re-processed


def test_alias_uses_x_idempotency_key(api: Api, emu: Emulator) -> None:
    body = {"user_id": "u1", "previous_id": "old"}
    api.post("/v1/identify/alias", body, **{"X-Idempotency-Key": "a-1"})
    again = api.post("/v1/identify/alias", body, **{"X-Idempotency-Key": "a-1"})
    assert again.headers["Idempotency-Replay"] == "true"
    assert len(emu.aliases()) == 1


def test_events_api_ignores_the_analytics_header(api: Api, emu: Emulator) -> None:
    api.post("/v1/events/trigger", trigger_body(), **{"X-Idempotency-Key": "x"})
    api.post("/v1/events/trigger", trigger_body(), **{"X-Idempotency-Key": "x"})
    assert len(emu.triggers()) == 2


def test_overlong_key_is_400(api: Api, emu: Emulator) -> None:
    response = api.post("/v1/events/trigger", trigger_body(), **{"Idempotency-Key": "k" * 256})
    assert response.status_code == 400
    assert emu.triggers() == []
