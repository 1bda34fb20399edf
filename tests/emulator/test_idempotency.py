"""Idempotency keys as novuhq/novu apps/api/src/app/shared/framework/idempotency.interceptor.ts
handles them: organisation scope, errors kept and replayed, 409 in flight, 422 on reuse."""

from __future__ import annotations

import threading
from typing import Any

import pytest
import requests

from teleflow_py.emulator import Emulator
from teleflow_py.emulator.idempotency import (
    DOCS_LINK,
    IN_FLIGHT,
    PROCEED,
    REPLAY,
    IdempotencyRegistry,
)
from teleflow_py.emulator.store import Store
from teleflow_py.emulator.wire import Reply

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


def test_spacing_does_not_make_a_different_body_but_key_order_does(api: Api, emu: Emulator) -> None:
    # hashRequestBody: JSON.stringify of the parsed body keeps the order of its keys.
    headers = {"Content-Type": "application/json", **KEY}
    url = api.url + "/v1/events/trigger"
    api.session.post(url, data=b'{"name":"w","to":"u"}', headers=headers)
    spaced = api.session.post(url, data=b'{ "name" : "w", "to" : "u" }', headers=headers)
    reordered = api.session.post(url, data=b'{"to":"u","name":"w"}', headers=headers)
    assert spaced.headers.get("Idempotency-Replay") == "true"
    assert reordered.status_code == 422
    assert len(emu.triggers()) == 1


def test_same_key_different_body_is_422_with_key_and_link(api: Api, emu: Emulator) -> None:
    api.post("/v1/events/trigger", trigger_body(), **KEY)
    response = api.post("/v1/events/trigger", trigger_body(to="someone-else"), **KEY)

    assert response.status_code == 422
    assert response.json() == {
        "statusCode": 422,
        "message": 'Request with key "key-1" is being reused for a different body',
        "error": "Unprocessable Entity",
    }
    assert response.headers["Idempotency-Key"] == "key-1"
    assert response.headers["Link"] == DOCS_LINK
    assert [t["to"] for t in emu.triggers()] == ["user-1"]


def test_keys_are_scoped_to_the_api_key_across_routes(api: Api, emu: Emulator) -> None:
    # getCacheKey: `${env}-${organizationId}-${idempotencyKey}`, whatever the route.
    api.post("/v1/events/trigger", trigger_body(), **KEY)
    broadcast = api.post("/v1/events/trigger/broadcast", {"name": "n", "payload": {}}, **KEY)
    assert broadcast.status_code == 422
    assert emu.broadcasts() == []

    other_org = Api(emu.url)
    other_org.session.headers["Authorization"] = "ApiKey another-organisation"
    elsewhere = other_org.post("/v1/events/trigger/broadcast", {"name": "n", "payload": {}}, **KEY)
    assert elsewhere.status_code == 201
    assert "Idempotency-Replay" not in elsewhere.headers


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
        # In progress is checked before the body: another body is a 409 too, not a 422.
        other_body = api.post("/v1/events/trigger", trigger_body(to="x"), **KEY)
    finally:
        emu.clear_faults()
        worker.join()

    assert concurrent.status_code == other_body.status_code == 409
    assert concurrent.headers["Retry-After"] == "1"
    assert concurrent.headers["Idempotency-Key"] == "key-1"
    assert concurrent.headers["Link"] == DOCS_LINK
    assert concurrent.json()["message"] == (
        'Request with key "key-1" is currently being processed. Please retry after 1 second'
    )
    assert first[0].status_code == 201
    later = api.post("/v1/events/trigger", trigger_body(), **KEY)
    assert later.headers["Idempotency-Replay"] == "true"
    assert later.content == first[0].content
    assert len(emu.triggers()) == 1
    assert emu.faults_served() == [{"fault": "delay", "path": "/v1/events/trigger", "status": None}]


def test_a_gateway_fault_does_not_consume_the_key(api: Api, emu: Emulator) -> None:
    # An injected "fail" stands for a proxy in front of the server: the interceptor never ran.
    emu.fail_next(1, 503)
    failed = api.post("/v1/events/trigger", trigger_body(), **KEY)
    retried = api.post("/v1/events/trigger", trigger_body(), **KEY)

    assert failed.status_code == 503
    assert retried.status_code == 201
    assert "Idempotency-Replay" not in retried.headers
    assert len(emu.triggers()) == 1
    assert emu.stats()["retries_seen"] == 1


def test_an_error_answer_is_kept_and_replayed(api: Api, emu: Emulator) -> None:
    # handleNewRequest catchError: the error is cached for 24 h under the key.
    invalid = api.post("/v1/events/trigger", {"name": "w"}, **KEY)
    again = api.post("/v1/events/trigger", {"name": "w"}, **KEY)
    fixed = api.post("/v1/events/trigger", trigger_body(), **KEY)

    assert invalid.status_code == again.status_code == 400
    assert invalid.headers["Idempotency-Key"] == "key-1"
    assert "Idempotency-Replay" not in invalid.headers
    assert again.headers["Idempotency-Replay"] == "true"
    assert again.content == invalid.content
    assert fixed.status_code == 422  # "fix the body and resend with the same key" fails
    assert emu.triggers() == []


def test_a_kept_422_is_replayed_too() -> None:
    with Emulator(known_workflows=["welcome"]) as emu:
        api = Api(emu.url)
        first = api.post("/v1/events/trigger", trigger_body(name="nope"), **KEY)
        emu.set_workflow("nope")
        again = api.post("/v1/events/trigger", trigger_body(name="nope"), **KEY)
        assert first.status_code == again.status_code == 422
        assert again.headers["Idempotency-Replay"] == "true"
        assert emu.triggers() == []


def test_an_empty_key_is_no_key(api: Api, emu: Emulator) -> None:
    api.post("/v1/events/trigger", trigger_body(), **{"Idempotency-Key": ""})
    second = api.post("/v1/events/trigger", trigger_body(), **{"Idempotency-Key": ""})
    assert second.status_code == 201 and "Idempotency-Key" not in second.headers
    assert len(emu.triggers()) == 2


def test_in_progress_expires_after_5_minutes_and_answers_after_24_hours() -> None:
    now = [1000.0]
    registry = IdempotencyRegistry(Store(), clock=lambda: now[0])
    assert registry.begin("org", "k", "d").kind == PROCEED
    now[0] += 299
    assert registry.begin("org", "k", "d").kind == IN_FLIGHT
    now[0] += 2  # IDEMPOTENCY_PROGRESS_TTL = 60 * 5: the marker is gone
    assert registry.begin("org", "k", "d").kind == PROCEED
    registry.finish("org", "k", "d", Reply(201, b"{}"))
    now[0] += 24 * 3600 - 1
    assert registry.begin("org", "k", "d").kind == REPLAY
    now[0] += 2  # IDEMPOTENCY_CACHE_TTL = 60 * 60 * 24
    assert registry.begin("org", "k", "d").kind == PROCEED


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
    key = "k" * 256
    response = api.post("/v1/events/trigger", trigger_body(), **{"Idempotency-Key": key})
    assert response.status_code == 400
    assert response.json()["message"] == (
        f'idempotencyKey "{key}" has exceeded the maximum allowed length of 255 characters'
    )
    assert emu.triggers() == []
    at_limit = api.post("/v1/events/trigger", trigger_body(), **{"Idempotency-Key": key[1:]})
    assert at_limit.status_code == 201
