"""The Events API as the emulator serves it: auth, routing, validation, storage, cancel.

Each behaviour follows novuhq/novu ``apps/api/src/app/events/`` (file named per test).
"""

from __future__ import annotations

import json
from typing import Any

import pytest
import requests

from teleflow_py.emulator import Emulator

from ._support import Api, trigger_body


def test_trigger_is_acknowledged_and_stored(api: Api, emu: Emulator) -> None:
    body = trigger_body(payload={"a": 1}, overrides={"email": {}}, actor="boss", tenant="acme")
    response = api.post("/v1/events/trigger", body, **{"Idempotency-Key": "k-1"})

    assert response.status_code == 201
    data = response.json()["data"]
    assert data["acknowledged"] is True and data["status"] == "processed"
    [stored] = emu.triggers()
    assert stored == {
        "name": "welcome",
        "to": "user-1",
        "payload": {"a": 1},
        "overrides": {"email": {}},
        "actor": "boss",
        "tenant": "acme",
        "transactionId": data["transactionId"],
        "status": "processed",
        "cancelled": False,
        "pending": False,
        "source": "trigger",
        "idempotency_key": "k-1",
        "seq": 1,
    }


def test_given_transaction_id_is_kept(api: Api, emu: Emulator) -> None:
    response = api.post("/v1/events/trigger", trigger_body(transactionId="tx-42"))
    assert response.json()["data"]["transactionId"] == "tx-42"
    assert emu.triggers()[0]["transactionId"] == "tx-42"


@pytest.mark.parametrize(
    "to",
    [
        "user-1",
        {"subscriberId": "user-1", "email": "a@example.com"},
        {"type": "Topic", "topicKey": "news"},
        ["user-1", {"subscriberId": "user-2"}, {"type": "Topic", "topicKey": "news"}],
    ],
)
def test_every_recipient_shape_is_accepted(api: Api, emu: Emulator, to: Any) -> None:
    assert api.post("/v1/events/trigger", trigger_body(to=to)).status_code == 201
    assert emu.triggers()[0]["to"] == to


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"to": "user-1"}, "name should not be null or undefined"),
        ({"name": 5, "to": "user-1"}, "name must be a string"),
        ({"name": "welcome"}, "to should not be null or undefined"),
        (trigger_body(payload=[1]), "payload must be an object"),
        (trigger_body(overrides="x"), "overrides must be an object"),
        (trigger_body(transactionId=5), "transactionId must be a string"),
        (trigger_body(actor={"name": "x"}), "actor.subscriberId should not be null"),
        (trigger_body(tenant=3), "nested property tenant must be either object or array"),
        ([1, 2], "name should not be null or undefined"),
    ],
)
def test_invalid_trigger_is_400_with_message_list(
    api: Api, emu: Emulator, body: Any, message: str
) -> None:
    # dtos/trigger-event-request.dto.ts under class-validator.
    response = api.post("/v1/events/trigger", body)

    assert response.status_code == 400
    error = response.json()
    assert error["statusCode"] == 400 and error["error"] == "Bad Request"
    assert isinstance(error["message"], list)
    assert any(line.startswith(message) for line in error["message"]), error["message"]
    assert emu.triggers() == []


@pytest.mark.parametrize(
    "body",
    [
        {"name": "", "to": "user-1"},
        {"name": "welcome", "to": []},
        {"name": "welcome", "to": 7},
        {"name": "welcome", "to": {"type": "Topic"}},
        trigger_body(transactionId=""),
    ],
)
def test_validation_is_as_loose_as_the_server(api: Api, emu: Emulator, body: Any) -> None:
    # dtos/trigger-event-request.dto.ts: name is @IsString (empty passes), to is @IsDefined
    # only, transactionId @IsString; an empty id is replaced ("transactionId || uuidv4()").
    response = api.post("/v1/events/trigger", body)
    assert response.status_code == 201
    assert response.json()["data"]["transactionId"]


def test_empty_body_reports_each_missing_field(api: Api) -> None:
    response = api.session.post(api.url + "/v1/events/trigger", data=b"", timeout=30)
    assert response.status_code == 400
    assert response.json()["message"] == [
        "name should not be null or undefined",
        "name must be a string",
        "to should not be null or undefined",
    ]


def test_a_non_json_content_type_is_a_400_not_a_415(api: Api, emu: Emulator) -> None:
    # bootstrap.ts: body-parser's json() skips other types, so the DTO sees an empty body.
    response = api.session.post(
        api.url + "/v1/events/trigger",
        data=b'{"name":"welcome","to":"u"}',
        headers={"Content-Type": "text/plain"},
        timeout=30,
    )
    assert response.status_code == 400
    assert "name should not be null or undefined" in response.json()["message"]
    assert emu.triggers() == []


@pytest.mark.parametrize(
    ("authorization", "message"),
    [
        (None, "Missing authorization header"),
        ("", "Missing authorization header"),
        ("ApiKey", "Unauthorized"),
        ("ApiKey ", "Unauthorized"),
        ("Invalid invalid_value", 'Invalid authentication scheme: "Invalid"'),
        ("apikey abc", 'Invalid authentication scheme: "apikey"'),
        ("APIKEY abc", 'Invalid authentication scheme: "APIKEY"'),
        ("Bearer abc", "Unauthorized"),
        ("abc", 'Invalid authentication scheme: "abc"'),
    ],
)
def test_missing_or_malformed_api_key_is_401(
    emu: Emulator, authorization: Any, message: str
) -> None:
    # NxPKG/teleflow packages/application-generic/src/services/auth/user.auth.guard.ts: the
    # scheme is the text before the first space, case-sensitive; messages as
    # apps/api/src/app/auth/e2e/user.auth.guard.e2e.ts expects them.
    headers = {} if authorization is None else {"Authorization": authorization}
    response = requests.post(
        emu.url + "/v1/events/trigger", json=trigger_body(), headers=headers, timeout=30
    )
    assert response.status_code == 401
    # NestJS 10 HttpException.createBody writes message, error, statusCode in this order.
    assert response.text == json.dumps(
        {"message": message, "error": "Unauthorized", "statusCode": 401}, separators=(",", ":")
    )
    assert emu.triggers() == []


def test_an_unknown_key_is_401_when_keys_are_given() -> None:
    with Emulator(api_keys=["good"]) as emu:
        api = Api(emu.url)
        api.session.headers["Authorization"] = "ApiKey bad"
        response = api.post("/v1/events/trigger", trigger_body())
        assert (response.status_code, response.json()["message"]) == (401, "API Key not found")
        api.session.headers["Authorization"] = "ApiKey good"
        assert api.post("/v1/events/trigger", trigger_body()).status_code == 201


def test_any_api_key_is_accepted_and_never_shown(api: Api, emu: Emulator) -> None:
    api.session.headers["Authorization"] = "ApiKey sk_live_secret"
    assert api.post("/v1/events/trigger", trigger_body()).status_code == 201
    [logged] = emu.requests()
    assert logged["headers"]["authorization"] == "ApiKey ***"
    assert "sk_live_secret" not in repr(emu.requests())


@pytest.mark.parametrize(
    ("method", "path"),
    [("POST", "/v1/x"), ("GET", "/v1/events/trigger"), ("POST", "/v2/events/trigger")],
)
def test_unknown_route_is_404_in_nest_shape(emu: Emulator, method: str, path: str) -> None:
    response = requests.request(method, emu.url + path, json={}, timeout=30)
    assert response.status_code == 404
    assert response.json() == {
        "statusCode": 404,
        "message": f"Cannot {method} {path}",
        "error": "Not Found",
    }


def test_unknown_workflow_is_422_workflow_not_found() -> None:
    # usecases/parse-event-request/parse-event-request.usecase.ts:
    # throw new UnprocessableEntityException('workflow_not_found').
    with Emulator(known_workflows=["welcome"]) as emu:
        api = Api(emu.url)
        assert api.post("/v1/events/trigger", trigger_body()).status_code == 201
        response = api.post("/v1/events/trigger", trigger_body(name="nope"))

        assert response.status_code == 422
        assert response.json() == {
            "statusCode": 422,
            "message": "workflow_not_found",
            "error": "Unprocessable Entity",
        }
        assert [t["name"] for t in emu.triggers()] == ["welcome"]


def test_the_newer_server_adds_timestamp_and_path_to_errors() -> None:
    # apps/api/src/exception-filter.ts (2024-10): AllExceptionsFilter.
    with Emulator(known_workflows=["welcome"], server_version="latest") as emu:
        response = Api(emu.url).post("/v1/events/trigger", trigger_body(name="nope"))
        error = response.json()
        assert list(error)[:4] == ["statusCode", "timestamp", "path", "message"]
        assert error["path"] == "/v1/events/trigger"
        assert error["message"] == "workflow_not_found"
        assert error["error"] == "Unprocessable Entity"


def test_bulk_answers_one_slot_per_event_and_fails_only_bad_ones() -> None:
    # usecases/process-bulk-trigger/process-bulk-trigger.usecase.ts: each event through
    # ParseEventRequestMulticastCommand.create (payload @IsDefined), errors caught per slot.
    with Emulator(known_workflows=["welcome"]) as emu:
        api = Api(emu.url)
        events = [
            trigger_body(payload={}),
            {"name": "welcome", "payload": {}},
            trigger_body(name="nope", payload={}),
            trigger_body(),
            trigger_body(payload={"x": 1}),
        ]
        response = api.post(
            "/v1/events/trigger/bulk", {"events": events}, **{"Idempotency-Key": "b1"}
        )

        assert response.status_code == 201
        slots = response.json()["data"]
        assert [slot["status"] for slot in slots] == [
            "processed",
            "error",
            "error",
            "error",
            "processed",
        ]
        assert slots[1]["error"] == ["to should not be null or undefined"]
        assert slots[2]["error"] == ["workflow_not_found"]
        assert slots[3]["error"] == ["payload should not be null or undefined"]
        assert slots[1] == {"acknowledged": True, "status": "error", "error": slots[1]["error"]}
        stored = emu.triggers()
        assert [t["transactionId"] for t in stored] == [
            slots[0]["transactionId"],
            slots[4]["transactionId"],
        ]
        assert {t["source"] for t in stored} == {"bulk"}
        assert emu.bulk_calls() == [
            {
                "idempotency_key": "b1",
                "count": 5,
                "errors": 3,
                "transactionIds": [t["transactionId"] for t in stored],
            }
        ]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"events": []}, "events should not be empty"),
        ({"events": [trigger_body()] * 101}, "events must contain no more than 100 elements"),
        ({"events": "x"}, "events must be an array"),
        ({}, "events must be an array"),
    ],
)
def test_bad_bulk_envelope_is_400(api: Api, emu: Emulator, body: Any, message: str) -> None:
    # dtos/trigger-event-request.dto.ts BulkTriggerEventDto: @IsArray @ArrayNotEmpty
    # @ArrayMaxSize(100).
    response = api.post("/v1/events/trigger/bulk", body)
    assert response.status_code == 400
    assert message in response.json()["message"]
    assert emu.triggers() == [] and emu.bulk_calls() == []


def test_bulk_of_exactly_100_is_accepted(api: Api, emu: Emulator) -> None:
    response = api.post("/v1/events/trigger/bulk", {"events": [trigger_body(payload={})] * 100})
    assert response.status_code == 201
    assert len(emu.triggers()) == 100


def test_broadcast_is_stored_apart_from_triggers(api: Api, emu: Emulator) -> None:
    response = api.post("/v1/events/trigger/broadcast", {"name": "news", "payload": {"x": 1}})

    assert response.status_code == 201
    tid = response.json()["data"]["transactionId"]
    [stored] = emu.broadcasts(name="news")
    assert stored["transactionId"] == tid and stored["payload"] == {"x": 1}
    assert "to" not in stored
    assert emu.triggers() == []


def test_broadcast_without_payload_is_400(api: Api, emu: Emulator) -> None:
    response = api.post("/v1/events/trigger/broadcast", {"name": "news"})
    assert response.status_code == 400
    # dtos/trigger-event-to-all-request.dto.ts: payload is @IsObject() and not optional.
    assert response.json()["message"] == ["payload must be an object"]
    assert emu.broadcasts() == []


def test_cancel_is_true_once_while_a_delay_is_pending(api: Api, emu: Emulator) -> None:
    # usecases/cancel-delayed/cancel-delayed.usecase.ts: true only when delayed jobs exist.
    emu.set_workflow("welcome", delayed=True)
    tid = api.post("/v1/events/trigger", trigger_body()).json()["data"]["transactionId"]

    first = api.delete(f"/v1/events/trigger/{tid}")
    second = api.delete(f"/v1/events/trigger/{tid}")
    unknown = api.delete("/v1/events/trigger/never-sent")

    assert (first.status_code, first.json()) == (200, {"data": True})
    assert second.json() == {"data": False}
    assert unknown.json() == {"data": False}
    assert emu.triggers()[0]["cancelled"] is True
    assert emu.cancellations() == [
        {"transactionId": tid, "result": True},
        {"transactionId": tid, "result": False},
        {"transactionId": "never-sent", "result": False},
    ]


def test_cancel_is_false_for_a_workflow_without_delay(api: Api, emu: Emulator) -> None:
    tid = api.post("/v1/events/trigger", trigger_body()).json()["data"]["transactionId"]
    assert api.delete(f"/v1/events/trigger/{tid}").json() == {"data": False}
    assert emu.triggers()[0]["cancelled"] is False


def test_cancel_decodes_the_id_once_and_never_routes_elsewhere(api: Api, emu: Emulator) -> None:
    emu.set_workflow("welcome", delayed=True)
    tricky = "../../subscribers/x?y#z"
    api.post("/v1/events/trigger", trigger_body(transactionId=tricky))

    encoded = "..%2F..%2Fsubscribers%2Fx%3Fy%23z"
    response = api.delete(f"/v1/events/trigger/{encoded}")

    assert response.json() == {"data": True}
    assert emu.cancellations() == [{"transactionId": tricky, "result": True}]
    assert emu.requests(method="DELETE")[0]["path"] == f"/v1/events/trigger/{encoded}"


def test_cancel_needs_the_api_key(emu: Emulator) -> None:
    response = requests.delete(emu.url + "/v1/events/trigger/abc", timeout=30)
    assert response.status_code == 401
    assert emu.cancellations() == []
