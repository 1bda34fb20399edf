"""Analytics endpoints: event batches (per-event rejection, dedupe, size limit) and aliases."""

from __future__ import annotations

from typing import Any

import pytest

from teleflow_py.emulator import Emulator

from ._support import Api, analytics_event


def test_batch_accepts_valid_events_and_rejects_bad_ones_by_index(api: Api, emu: Emulator) -> None:
    events = [
        analytics_event("m1"),
        analytics_event("m2", event=""),
        analytics_event("m3", user_id=None, anonymous_id="anon-1"),
        {"event": "x", "message_id": "m4", "occurred_at": "yesterday", "user_id": "u"},
        analytics_event("m5", properties=[1]),
    ]
    response = api.post("/v1/events/batch", {"events": events}, **{"X-Idempotency-Key": "b-1"})

    assert response.status_code == 200
    body = response.json()
    assert (body["accepted"], body["rejected"]) == (2, 3)
    assert [error["index"] for error in body["errors"]] == [1, 3, 4]
    assert "event must be a non-empty string" in body["errors"][0]["message"]
    assert "occurred_at must be an ISO 8601" in body["errors"][1]["message"]
    assert "properties must be an object" in body["errors"][2]["message"]
    assert [e["message_id"] for e in emu.events()] == ["m1", "m3"]
    assert emu.batches() == [{"idempotency_key": "b-1", "count": 5, "accepted": 2, "rejected": 3}]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"user_id": None}, "one of user_id, anonymous_id, external_id is required"),
        ({"user_id": 5}, "user_id must be a string"),
        ({"message_id": ""}, "message_id must be a non-empty string"),
        ({"occurred_at": None}, "occurred_at must be an ISO 8601"),
        ({"context": "x"}, "context must be an object"),
        ({"traits": 1}, "traits must be an object"),
    ],
)
def test_each_event_rule(api: Api, emu: Emulator, change: dict[str, Any], message: str) -> None:
    event = analytics_event("m1")
    event.update(change)
    body = api.post("/v1/events/batch", {"events": [event]}).json()
    assert body["rejected"] == 1
    assert message in body["errors"][0]["message"]
    assert emu.events() == []


@pytest.mark.parametrize("body", [{}, {"events": {}}, {"events": []}, "x"])
def test_bad_batch_envelope_is_400(api: Api, emu: Emulator, body: Any) -> None:
    response = api.post("/v1/events/batch", body)
    assert response.status_code == 400
    assert response.json()["statusCode"] == 400
    assert emu.batches() == []


def test_same_message_id_is_accepted_but_stored_once(api: Api, emu: Emulator) -> None:
    first = api.post(
        "/v1/events/batch", {"events": [analytics_event("m1")]}, **{"X-Idempotency-Key": "a"}
    )
    again = api.post(
        "/v1/events/batch",
        {"events": [analytics_event("m1"), analytics_event("m2"), analytics_event("m2")]},
        **{"X-Idempotency-Key": "b"},
    )

    assert first.json()["accepted"] == 1
    assert again.json() == {"accepted": 3, "rejected": 0, "errors": []}
    assert [e["message_id"] for e in emu.events()] == ["m1", "m2"]
    assert emu.stats()["duplicates_ignored"] == 2
    assert emu.stats()["events"] == 2


def test_events_filter_by_name_and_user(api: Api, emu: Emulator) -> None:
    events = [
        analytics_event("m1", event="A", user_id="u1"),
        analytics_event("m2", event="B", user_id="u1"),
        analytics_event("m3", event="A", user_id="u2"),
    ]
    api.post("/v1/events/batch", {"events": events})
    assert [e["message_id"] for e in emu.events(event="A")] == ["m1", "m3"]
    assert [e["message_id"] for e in emu.events(user_id="u1")] == ["m1", "m2"]
    assert [e["message_id"] for e in emu.events(event="A", user_id="u2")] == ["m3"]
    assert emu.events()[0] == events[0]


def test_batch_event_limit_is_413(api: Api, emu: Emulator) -> None:
    emu.set_batch_event_limit(2)
    events = [analytics_event(f"m{i}") for i in range(3)]

    too_big = api.post("/v1/events/batch", {"events": events})
    fits = api.post("/v1/events/batch", {"events": events[:2]})
    emu.set_batch_event_limit(None)
    unlimited = api.post("/v1/events/batch", {"events": events})

    assert too_big.status_code == 413
    assert too_big.json() == {
        "statusCode": 413,
        "message": "Payload Too Large",
        "error": "Payload Too Large",
    }
    assert fits.status_code == 200 and unlimited.status_code == 200
    assert [e["message_id"] for e in emu.events()] == ["m0", "m1", "m2"]


def test_batch_event_limit_from_the_constructor() -> None:
    with Emulator(batch_event_limit=1) as emu:
        api = Api(emu.url)
        events = [analytics_event("m1"), analytics_event("m2")]
        assert api.post("/v1/events/batch", {"events": events}).status_code == 413


def test_set_batch_event_limit_rejects_nonsense(emu: Emulator) -> None:
    with pytest.raises(ValueError, match="limit"):
        emu.set_batch_event_limit(0)


def test_alias_is_stored_and_echoed(api: Api, emu: Emulator) -> None:
    response = api.post("/v1/identify/alias", {"user_id": "u1", "anonymous_id": "anon-1"})

    assert response.status_code == 200
    alias = {"user_id": "u1", "anonymous_id": "anon-1", "previous_id": None}
    assert response.json() == {"alias": alias}
    assert emu.aliases() == [alias]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"anonymous_id": "a"}, "user_id should not be empty"),
        ({"user_id": "u1"}, "one of anonymous_id, previous_id is required"),
        ({"user_id": "u1", "previous_id": 3}, "previous_id must be a string"),
    ],
)
def test_bad_alias_is_400(api: Api, emu: Emulator, body: Any, message: str) -> None:
    response = api.post("/v1/identify/alias", body)
    assert response.status_code == 400
    assert message in response.json()["message"]
    assert emu.aliases() == []
