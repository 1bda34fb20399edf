"""What track/identify/alias put on the wire, and the input they refuse at the call."""

from __future__ import annotations

import datetime as dt
import re
import uuid
from typing import Any, Callable, Dict

import pytest
from loopback import ALIAS, API_KEY, EVENTS, LoopbackServer

from teleflow_py import Client, ValidationError

ISO_Z = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$")


def sent_events(client: Client, server: LoopbackServer) -> list:
    assert client.flush(timeout=30).pending == 0
    return server.delivered_events()


def test_track_event_on_the_wire(
    make_client: Callable[..., Client], server: LoopbackServer
) -> None:
    client = make_client()
    assert client.track(
        "Signed Up",
        user_id="u1",
        anonymous_id="a1",
        external_id="x1",
        properties={"plan": "pro", "when": dt.date(2024, 5, 1)},
        context={"ip": "127.0.0.1"},
    )
    [event] = sent_events(client, server)
    assert event["event"] == "Signed Up"
    assert uuid.UUID(event["message_id"]).version == 4
    assert ISO_Z.match(event["occurred_at"])
    assert (event["user_id"], event["anonymous_id"], event["external_id"]) == ("u1", "a1", "x1")
    assert event["properties"] == {"plan": "pro", "when": "2024-05-01"}
    assert event["context"] == {"ip": "127.0.0.1"}
    [request] = server.requests(EVENTS)
    headers = request["headers"]
    assert headers["authorization"] == f"ApiKey {API_KEY}"
    assert headers["content-type"] == "application/json"
    assert uuid.UUID(headers["x-idempotency-key"])


def test_only_given_fields_are_sent(
    make_client: Callable[..., Client], server: LoopbackServer
) -> None:
    client = make_client()
    client.track("Viewed", anonymous_id="a1")
    [event] = sent_events(client, server)
    assert set(event) == {"event", "message_id", "occurred_at", "anonymous_id"}


def test_identify_is_an_identify_event(
    make_client: Callable[..., Client], server: LoopbackServer
) -> None:
    client = make_client()
    assert client.identify(external_id="x1", traits={"name": "Ada"})
    [event] = sent_events(client, server)
    assert event["event"] == "$identify"
    assert event["external_id"] == "x1"
    assert event["traits"] == {"name": "Ada"}
    assert ISO_Z.match(event["occurred_at"])


def test_alias_body_and_answer(make_client: Callable[..., Client], server: LoopbackServer) -> None:
    client = make_client()
    assert client.alias(user_id="u1", previous_id="old")
    assert client.flush(timeout=30).accepted == 1
    [request] = server.requests(ALIAS)
    assert request["body"] == {"user_id": "u1", "previous_id": "old"}
    assert uuid.UUID(request["headers"]["x-idempotency-key"])


@pytest.mark.parametrize(
    ("timestamp", "expected"),
    [
        (
            dt.datetime(2024, 1, 2, 3, 4, 5, 6, tzinfo=dt.timezone.utc),
            "2024-01-02T03:04:05.000006Z",
        ),
        (
            dt.datetime(2024, 1, 2, 5, 4, 5, tzinfo=dt.timezone(dt.timedelta(hours=2))),
            "2024-01-02T03:04:05.000000Z",
        ),
        (dt.datetime(2024, 1, 2, 3, 4, 5), "2024-01-02T03:04:05.000000Z"),
        ("2024-01-02T03:04:05Z", "2024-01-02T03:04:05.000000Z"),
        ("2024-01-02T04:04:05.500+01:00", "2024-01-02T03:04:05.500000Z"),
        ("2024-01-02", "2024-01-02T00:00:00.000000Z"),
    ],
)
def test_timestamp_becomes_utc_with_z(
    make_client: Callable[..., Client], server: LoopbackServer, timestamp: Any, expected: str
) -> None:
    client = make_client()
    client.track("e", user_id="u", timestamp=timestamp)
    [event] = sent_events(client, server)
    assert event["occurred_at"] == expected


def test_snapshot_at_the_call(make_client: Callable[..., Client], server: LoopbackServer) -> None:
    client = make_client()
    properties: Dict[str, Any] = {"items": [1, 2], "nested": {"a": 1}}
    client.track("e", user_id="u", properties=properties)
    properties["items"].append(3)
    properties["nested"]["a"] = 2
    properties["added"] = True
    [event] = sent_events(client, server)
    assert event["properties"] == {"items": [1, 2], "nested": {"a": 1}}


class Unencodable:
    pass


@pytest.mark.parametrize(
    ("call", "argument"),
    [
        (lambda c: c.track("e"), "user_id"),
        (lambda c: c.track("", user_id="u"), "event"),
        (lambda c: c.track("  ", user_id="u"), "event"),
        (lambda c: c.track(None, user_id="u"), "event"),
        (lambda c: c.track("e", user_id=""), "user_id"),
        (lambda c: c.track("e", anonymous_id=5), "anonymous_id"),
        (lambda c: c.track("e", user_id="u", timestamp=1700000000), "timestamp"),
        (lambda c: c.track("e", user_id="u", timestamp="yesterday"), "timestamp"),
        (lambda c: c.track("e", user_id="u", timestamp=dt.date(2024, 1, 1)), "timestamp"),
        (lambda c: c.track("e", user_id="u", properties={"x": b"raw"}), "properties"),
        (lambda c: c.track("e", user_id="u", properties={"x": Unencodable()}), "properties"),
        (lambda c: c.track("e", user_id="u", properties={"x": float("nan")}), "properties"),
        (lambda c: c.track("e", user_id="u", properties=["not", "a", "dict"]), "properties"),
        (lambda c: c.track("e", user_id="u", context={"s": {1, 2}}), "context"),
        (lambda c: c.track("e", user_id="u", properties={"big": "x" * 33_000}), "properties"),
        (lambda c: c.identify(traits={"a": 1}), "user_id"),
        (lambda c: c.identify(user_id="u", traits={"big": "x" * 33_000}), "traits"),
        (lambda c: c.identify(user_id="u", traits={"x": b"raw"}), "traits"),
        (lambda c: c.alias(user_id=None, anonymous_id="a"), "user_id"),
        (lambda c: c.alias(user_id="", anonymous_id="a"), "user_id"),
        (lambda c: c.alias(user_id="u"), "anonymous_id"),
        (lambda c: c.alias(user_id="u", previous_id=""), "previous_id"),
    ],
)
def test_bad_input_is_refused_at_the_call_and_nothing_is_queued(
    make_client: Callable[..., Client],
    server: LoopbackServer,
    call: Callable[[Client], Any],
    argument: str,
) -> None:
    client = make_client()
    with pytest.raises(ValidationError) as caught:
        call(client)
    assert isinstance(caught.value, ValueError)
    assert caught.value.argument == argument
    assert client.analytics_stats.pending == 0
    result = client.flush(timeout=30)
    assert (result.batches, result.pending) == (0, 0)
    assert server.requests() == []


def test_unencodable_property_error_names_its_path(make_client: Callable[..., Client]) -> None:
    client = make_client()
    with pytest.raises(ValidationError, match=r"properties\['user'\]\['avatar'\]"):
        client.track("e", user_id="u", properties={"user": {"avatar": b"\x89PNG"}})


def test_an_event_just_under_the_limit_is_accepted(
    make_client: Callable[..., Client], server: LoopbackServer
) -> None:
    client = make_client()
    assert client.track("e", user_id="u", properties={"big": "x" * 32_000})
    assert len(sent_events(client, server)) == 1


def test_message_ids_are_unique(make_client: Callable[..., Client], server: LoopbackServer) -> None:
    client = make_client(flush_at=100, max_queue_size=5000)
    for number in range(600):
        client.track("e", user_id="u", properties={"n": number})
    events = sent_events(client, server)
    assert len({e["message_id"] for e in events}) == 600
