"""trigger_event and broadcast_event against the emulator: bodies, headers, results."""

from __future__ import annotations

import json
import logging
import re
import uuid
from pathlib import Path
from typing import Any, Dict

import jsonschema
import pytest

from teleflow_py import Client, TriggerResult, __version__
from teleflow_py.emulator import Emulator

CONTRACT = json.loads((Path(__file__).parent.parent / "data" / "events-openapi.json").read_text())


def assert_matches_contract(body: Any, schema_name: str) -> None:
    schema = {"$ref": f"#/components/schemas/{schema_name}", "components": CONTRACT["components"]}
    jsonschema.validate(body, schema)


@pytest.mark.parametrize(
    "to",
    [
        "subscriber-1",
        {"subscriberId": "s-2", "email": "a@example.com", "firstName": "Ada", "data": {"k": 1}},
        {"type": "Topic", "topicKey": "beta-users"},
        ["s-3", {"subscriberId": "s-4"}, {"type": "Topic", "topicKey": "ops"}],
    ],
    ids=["id", "subscriber", "topic", "mixed-list"],
)
def test_trigger_sends_the_documented_body_and_returns_the_result(
    client: Client, emulator: Emulator, to: Any
) -> None:
    result = client.trigger_event(
        "welcome",
        to,
        payload={"plan": "pro", "items": [1, 2]},
        overrides={"email": {"from": "x@example.com"}},
        actor="admin",
        tenant={"identifier": "acme", "name": "Acme"},
        transaction_id="tx-fixed-1",
    )
    assert isinstance(result, TriggerResult)
    assert result.ok and result.acknowledged and result.status == "processed"
    assert result.transaction_id == "tx-fixed-1"
    [sent] = emulator.requests(path="/v1/events/trigger", method="POST")
    assert sent["body"] == {
        "name": "welcome",
        "to": to,
        "payload": {"plan": "pro", "items": [1, 2]},
        "overrides": {"email": {"from": "x@example.com"}},
        "transactionId": "tx-fixed-1",
        "actor": "admin",
        "tenant": {"identifier": "acme", "name": "Acme"},
    }
    assert_matches_contract(sent["body"], "TriggerEventRequestDto")
    assert result.response is not None
    assert result.response.status == 201
    assert result.response.retry_count == 0
    assert result.response.request_body is not None
    assert json.loads(result.response.request_body) == sent["body"]
    assert result.response.url == emulator.url + "/v1/events/trigger"
    assert result.response.time_spent_in_ms > 0


def test_only_name_and_to_are_sent_when_nothing_else_is_given(
    client: Client, emulator: Emulator
) -> None:
    result = client.trigger_event("welcome", "s-1")
    [sent] = emulator.requests(path="/v1/events/trigger")
    assert sent["body"] == {"name": "welcome", "to": "s-1"}
    # The server generates a transaction id when none is sent.
    assert result.transaction_id


def test_every_request_carries_auth_content_type_user_agent_and_a_uuid_key(
    client: Client, emulator: Emulator
) -> None:
    client.trigger_event("welcome", "s-1")
    headers = emulator.requests()[0]["headers"]
    assert headers["content-type"] == "application/json"
    assert headers["authorization"].startswith("ApiKey ")
    assert headers["user-agent"].startswith(f"teleflow-py/{__version__} (Python ")
    assert re.fullmatch(
        r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}",
        headers["idempotency-key"],
    )


def test_telemetry_off_sends_only_the_sdk_version(emulator: Emulator, api_key: str) -> None:
    with Client(api_key=api_key, base_url=emulator.url, telemetry=False) as api:
        api.trigger_event("welcome", "s-1")
    assert emulator.requests()[0]["headers"]["user-agent"] == f"teleflow-py/{__version__}"


def test_default_headers_and_own_session_are_used(emulator: Emulator, api_key: str) -> None:
    import requests

    session = requests.Session()
    session.headers["X-From-Session"] = "yes"
    with Client(
        api_key=api_key,
        base_url=emulator.url,
        session=session,
        default_headers={"X-Tenant-Region": "eu"},
    ) as api:
        api.trigger_event("welcome", "s-1")
    headers = emulator.requests()[0]["headers"]
    assert headers["x-from-session"] == "yes"
    assert headers["x-tenant-region"] == "eu"
    # The caller's session is theirs: closing the client leaves it usable.
    assert session.get(emulator.url + "/emulator/stats").status_code == 200


def test_without_a_caller_key_each_call_sends_a_new_uuid4(
    client: Client, emulator: Emulator
) -> None:
    for _ in range(20):
        client.trigger_event("welcome", "s-1")
    keys = [sent["headers"]["idempotency-key"] for sent in emulator.requests()]
    assert len(set(keys)) == 20
    for key in keys:
        parsed = uuid.UUID(key)
        assert (str(parsed), parsed.version, parsed.variant) == (key, 4, uuid.RFC_4122)


def test_a_caller_key_is_sent_unchanged(client: Client, emulator: Emulator) -> None:
    client.trigger_event("welcome", "s-1", idempotency_key="order-42:welcome")
    assert emulator.requests()[0]["headers"]["idempotency-key"] == "order-42:welcome"


def test_same_key_twice_is_replayed_by_the_server_and_stored_once(
    client: Client, emulator: Emulator
) -> None:
    first = client.trigger_event("welcome", "s-1", idempotency_key="once")
    second = client.trigger_event("welcome", "s-1", idempotency_key="once")
    assert first.transaction_id == second.transaction_id
    assert len(emulator.triggers()) == 1
    assert second.response is not None
    assert second.response.headers.get("Idempotency-Replay") == "true"


def test_broadcast_sends_payload_without_to(client: Client, emulator: Emulator) -> None:
    result = client.broadcast_event("announcement", {"text": "hello"}, tenant="acme")
    assert result.ok
    [sent] = emulator.requests(path="/v1/events/trigger/broadcast")
    assert sent["body"] == {"name": "announcement", "payload": {"text": "hello"}, "tenant": "acme"}
    assert_matches_contract(sent["body"], "TriggerEventToAllRequestDto")
    assert "idempotency-key" in sent["headers"]
    assert [b["name"] for b in emulator.broadcasts()] == ["announcement"]


def test_broadcast_accepts_an_unwrapped_answer(client: Client, emulator: Emulator) -> None:
    emulator.fail_next(
        1,
        201,
        body={"acknowledged": True, "status": "processed", "transactionId": "tx-b"},
        path="/v1/events/trigger/broadcast",
    )
    assert client.broadcast_event("announcement", {}).transaction_id == "tx-b"


@pytest.mark.parametrize("status", ["trigger_not_active", "no_tenant_found", "error"])
def test_a_status_other_than_processed_is_visible_and_logged(
    client: Client, emulator: Emulator, caplog: pytest.LogCaptureFixture, status: str
) -> None:
    answer: Dict[str, Any] = {
        "data": {"acknowledged": True, "status": status, "transactionId": "t", "error": ["why"]}
    }
    emulator.fail_next(1, 201, body=answer)
    with caplog.at_level(logging.WARNING, logger="teleflow_py"):
        result = client.trigger_event("welcome", "s-1")
    assert not result.ok
    assert result.status == status
    assert result.error == ["why"]
    assert any(status in record.getMessage() for record in caplog.records)


@pytest.mark.parametrize("body", ["", "<html>proxy page</html>", '{"data": []}'])
def test_a_2xx_answer_that_says_nothing_is_accepted_but_unconfirmed(
    client: Client, emulator: Emulator, body: str, caplog: pytest.LogCaptureFixture
) -> None:
    # The server took the request: reporting it as failed would invite sending it twice.
    emulator.fail_next(1, 201, body=body)
    with caplog.at_level(logging.WARNING, logger="teleflow_py"):
        result = client.trigger_event("welcome", "s-1")
    assert not result.confirmed and not result.ok
    assert result.acknowledged and result.status == "unconfirmed"
    assert result.response is not None and result.response.status == 201
    assert "unconfirmed" in caplog.text
