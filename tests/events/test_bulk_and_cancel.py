"""Bulk triggers split at 100 with derived keys and resumable failure; cancel's path encoding."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Dict, List

import jsonschema
import pytest

from teleflow_py import (
    BulkTriggerError,
    Client,
    ServiceUnavailableError,
    TriggerEvent,
    ValidationError,
)
from teleflow_py.emulator import Emulator
from teleflow_py.events import chunk_idempotency_key

BULK = "/v1/events/trigger/bulk"
CONTRACT = json.loads((Path(__file__).parent.parent / "data" / "events-openapi.json").read_text())


def events(count: int) -> List[Dict[str, Any]]:
    return [{"name": "digest", "to": f"s-{i}", "payload": {"i": i}} for i in range(count)]


def test_a_small_bulk_is_one_request_with_the_callers_key(
    client: Client, emulator: Emulator
) -> None:
    results = client.trigger_bulk_event(events(3), idempotency_key="bulk-1")
    assert [r.ok for r in results] == [True, True, True]
    [sent] = emulator.requests(path=BULK)
    assert sent["headers"]["idempotency-key"] == "bulk-1"
    assert sent["body"] == {"events": events(3)}
    schema = {
        "$ref": "#/components/schemas/BulkTriggerEventDto",
        "components": CONTRACT["components"],
    }
    jsonschema.validate(sent["body"], schema)


def test_bulk_events_without_a_payload_are_sent_with_an_empty_one(
    client: Client, emulator: Emulator
) -> None:
    # The server validates each bulk item as a TriggerEventDto whose payload must be defined
    # (novuhq/novu apps/api/src/app/events/dtos/trigger-event-request.dto.ts, checked per
    # event by apps/api/src/app/events/usecases/process-bulk-trigger); the emulator follows.
    results = client.trigger_bulk_event(
        [{"name": "welcome", "to": "s-1"}, {"name": "welcome", "to": "s-2", "actor": "a-1"}]
    )
    assert [r.ok for r in results] == [True, True]
    [sent] = emulator.requests(path=BULK)
    assert [event["payload"] for event in sent["body"]["events"]] == [{}, {}]


def test_250_events_go_out_as_three_requests_in_order_with_derived_keys(
    client: Client, emulator: Emulator
) -> None:
    results = client.trigger_bulk_event(events(250), idempotency_key="big", concurrency=1)
    assert len(results) == 250 and results.ok and len(results.responses) == 3
    sent = emulator.requests(path=BULK)
    assert [len(r["body"]["events"]) for r in sent] == [100, 100, 50]
    assert [r["headers"]["idempotency-key"] for r in sent] == ["big.1", "big.2", "big.3"]
    received = [e["payload"]["i"] for r in sent for e in r["body"]["events"]]
    assert received == list(range(250))
    tx_ids = [t["transactionId"] for t in emulator.triggers()]
    assert [r.transaction_id for r in results] == tx_ids


def test_repeating_a_split_call_with_the_same_key_repeats_the_same_requests(
    client: Client, emulator: Emulator
) -> None:
    first = client.trigger_bulk_event(events(150), idempotency_key="again")
    second = client.trigger_bulk_event(events(150), idempotency_key="again")
    assert [r.transaction_id for r in first] == [r.transaction_id for r in second]
    assert len(emulator.triggers()) == 150
    assert len(emulator.replays()) == 2


def test_typed_events_and_dicts_mix(client: Client, emulator: Emulator) -> None:
    client.trigger_bulk_event(
        [
            TriggerEvent("a", "s-1", payload={"x": 1}, transaction_id="t-1"),
            {"name": "b", "to": "s-2"},
        ]
    )
    [sent] = emulator.requests(path=BULK)
    assert sent["body"]["events"] == [
        {"name": "a", "to": "s-1", "payload": {"x": 1}, "transactionId": "t-1"},
        {"name": "b", "to": "s-2", "payload": {}},
    ]


def test_failed_events_inside_a_201_are_easy_to_find(api_key: str) -> None:
    with (
        Emulator(known_workflows=["digest"]) as emu,
        Client(api_key=api_key, base_url=emu.url) as api,
    ):
        batch = events(4)
        batch[2]["name"] = "unknown-workflow"
        results = api.trigger_bulk_event(batch)
    assert [index for index, _ in results.failed] == [2]
    assert results.failed[0][1].status == "error"
    assert not results.ok


def test_a_chunk_that_fails_for_good_carries_what_was_sent_and_what_was_not(
    client: Client, emulator: Emulator
) -> None:
    # Faults apply in the order injected: chunk 1 passes (a zero delay), then every attempt
    # of chunk 2 (1 try + 3 retries) meets a 503.
    emulator.delay_next(1, 0, path=BULK)
    emulator.fail_next(4, 503, headers={"Retry-After": "0"}, path=BULK)
    original = events(250)
    with pytest.raises(BulkTriggerError) as caught:
        # One request at a time (the default sends 8): the faults meet the chunks in order.
        client.trigger_bulk_event(original, idempotency_key="resume-me", concurrency=1)
    error = caught.value
    assert isinstance(error.error, ServiceUnavailableError)
    assert error.__cause__ is error.error
    assert len(error.results) == 100 and all(r.ok for r in error.results)
    assert error.unsent == original[100:]
    assert [key for key, _ in error.unsent_chunks] == ["resume-me.2", "resume-me.3"]
    assert len(emulator.triggers()) == 100

    # Resuming with the keys given sends each remaining event exactly once.
    for key, chunk in error.unsent_chunks:
        client.trigger_bulk_event(chunk, idempotency_key=key)
    assert sorted(t["payload"]["i"] for t in emulator.triggers()) == list(range(250))


def test_one_failing_request_of_a_small_bulk_raises_the_plain_error(
    client: Client, emulator: Emulator
) -> None:
    emulator.fail_next(4, 503, headers={"Retry-After": "0"}, path=BULK)
    with pytest.raises(ServiceUnavailableError):
        client.trigger_bulk_event(events(5))


@pytest.mark.parametrize(
    ("bad", "argument"),
    [
        ([], "events"),
        ("not-a-list", "events"),
        ({"name": "x", "to": "y"}, "events"),
        ([*events(150), {"name": "", "to": "s"}], "events[150].name"),
        ([{"name": "x"}], "events[0].to"),
        ([{"name": "x", "to": 3}], "events[0].to"),
        ([{"name": "x", "to": "s", "payload": [1]}], "events[0].payload"),
        ([{"name": "x", "to": "s", "transactionId": ""}], "events[0].transactionId"),
        ([{"name": "x", "to": "s", "typo": 1}], "events[0]"),
        ([42], "events[0]"),
    ],
)
def test_bad_bulk_input_is_refused_before_anything_is_sent(
    client: Client, emulator: Emulator, bad: Any, argument: str
) -> None:
    with pytest.raises(ValidationError) as caught:
        client.trigger_bulk_event(bad)
    assert caught.value.argument == argument
    assert emulator.requests() == []


def test_derived_keys_stay_within_the_length_limit() -> None:
    long_key = "k" * 255
    derived = chunk_idempotency_key(long_key, 4, 7)
    assert len(derived) <= 255 and derived.endswith(".5")
    assert derived == chunk_idempotency_key(long_key, 4, 7)
    assert chunk_idempotency_key("abc", 0, 1) == "abc"


def test_cancel_returns_true_once_then_false(client: Client, emulator: Emulator) -> None:
    # The server cancels only a transaction waiting in a delay or digest step.
    emulator.set_workflow("reminder", delayed=True)
    result = client.trigger_event("reminder", "s-1", transaction_id="tx-cancel")
    assert result.transaction_id == "tx-cancel"
    assert client.cancel_triggered_event("tx-cancel") is True
    assert client.cancel_triggered_event("tx-cancel") is False
    assert client.cancel_triggered_event("never-existed") is False
    assert [c["result"] for c in emulator.cancellations()] == [True, False, False]


def test_cancel_encodes_the_id_as_one_path_segment(client: Client, emulator: Emulator) -> None:
    nasty = "../../subscribers/x?y#z"
    assert client.cancel_triggered_event(nasty) is False
    [sent] = emulator.requests(method="DELETE")
    assert sent["path"] == "/v1/events/trigger/..%2F..%2Fsubscribers%2Fx%3Fy%23z"
    assert emulator.cancellations()[0]["transactionId"] == nasty


@pytest.mark.parametrize("bad", ["", "   ", None, 42])
def test_cancel_refuses_an_empty_or_non_string_id(
    client: Client, emulator: Emulator, bad: Any
) -> None:
    with pytest.raises(ValidationError) as caught:
        client.cancel_triggered_event(bad)
    assert caught.value.argument == "transaction_id"
    assert emulator.requests() == []
