"""Retries reuse one idempotency key, honour the server's wait, and end in typed errors."""

from __future__ import annotations

import logging
import re
from typing import Any, Dict, Type

import pytest

from teleflow_py import (
    APIConnectionError,
    APIError,
    AuthenticationError,
    BadGatewayError,
    BadRequestError,
    Client,
    ConflictError,
    DailyQuotaIsReachedError,
    GatewayTimeoutError,
    NotFoundError,
    PayloadTooLargeError,
    PermissionDeniedError,
    RateLimitError,
    RequestTimeoutError,
    SecondBasedQuotaIsReachedError,
    ServerError,
    ServiceUnavailableError,
    UnprocessableEntityError,
)
from teleflow_py.emulator import Emulator

NOW = {"Retry-After": "0"}


def keys_sent(emulator: Emulator, path: str = "/v1/events/trigger") -> list:
    return [r["headers"].get("idempotency-key") for r in emulator.requests(path=path)]


@pytest.mark.parametrize("status", [408, 409, 429, 502, 503, 504])
def test_retryable_statuses_are_retried_with_the_same_key(
    client: Client, emulator: Emulator, status: int
) -> None:
    # No answer has shown yet that the emulator deduplicates; say so, or a 502 or 504
    # (maybe processed) would not be retried (see test_dedup_detection.py).
    client = client.with_options(server_deduplicates=True)
    emulator.fail_next(2, status, headers=NOW)
    result = client.trigger_event("welcome", "s-1")
    assert result.ok
    keys = keys_sent(emulator)
    assert len(keys) == 3 and len(set(keys)) == 1
    assert result.response is not None and result.response.retry_count == 2
    assert len(emulator.triggers()) == 1
    retry_counts = [r["headers"]["x-teleflow-retry-count"] for r in emulator.requests()]
    assert retry_counts == ["0", "1", "2"]


def test_a_caller_key_survives_retries_unchanged(client: Client, emulator: Emulator) -> None:
    emulator.fail_next(1, 503, headers=NOW)
    client.trigger_event("welcome", "s-1", idempotency_key="caller-key")
    assert keys_sent(emulator) == ["caller-key", "caller-key"]


def test_two_calls_never_share_a_generated_key(client: Client, emulator: Emulator) -> None:
    client.trigger_event("welcome", "s-1")
    client.trigger_event("welcome", "s-1")
    first, second = keys_sent(emulator)
    assert first != second
    assert len(emulator.triggers()) == 2


def test_a_dropped_connection_after_processing_is_retried_and_not_doubled(
    client: Client, emulator: Emulator
) -> None:
    # The ambiguous failure: the server stored the trigger but the answer was lost. Retried
    # against a server known to deduplicate (test_dedup_detection.py: one that does not).
    emulator.drop_next(1, path="/v1/events/trigger")
    result = client.with_options(server_deduplicates=True).trigger_event("welcome", "s-1")
    assert result.ok
    keys = keys_sent(emulator)
    assert len(keys) == 2 and keys[0] == keys[1]
    assert len(emulator.triggers()) == 1
    assert len(emulator.replays()) == 1


@pytest.mark.parametrize(
    ("headers", "expected_wait"),
    [
        ({"Retry-After": "0.2"}, "0.200s"),
        ({"X-Secondly-Retry-After": "150"}, "0.150s"),
        ({"RateLimit-Reset": "0.3"}, "0.300s"),
    ],
)
def test_the_wait_the_server_asks_for_is_the_wait_taken(
    client: Client,
    emulator: Emulator,
    caplog: pytest.LogCaptureFixture,
    headers: Dict[str, str],
    expected_wait: str,
) -> None:
    emulator.fail_next(1, 429, headers=headers)
    with caplog.at_level(logging.DEBUG, logger="teleflow_py"):
        client.trigger_event("welcome", "s-1")
    waits = [
        m.group(1)
        for m in (re.search(r"in (\d+\.\d+s)", r.getMessage()) for r in caplog.records)
        if m
    ]
    assert waits == [expected_wait]


def test_a_wait_beyond_the_cap_is_raised_not_slept(
    emulator: Emulator, api_key: str, caplog: pytest.LogCaptureFixture
) -> None:
    emulator.fail_next(1, 429, headers={"Retry-After": "3600"})
    with Client(api_key=api_key, base_url=emulator.url, max_retry_wait=30) as api:
        with pytest.raises(RateLimitError) as caught:
            api.trigger_event("welcome", "s-1")
    assert caught.value.retry_after == 3600
    assert len(emulator.requests()) == 1
    assert "3600" in caplog.text


def test_daily_quota_is_raised_at_once(client: Client, emulator: Emulator) -> None:
    body = {"statusCode": 429, "message": "Daily quota is reached", "error": "Too Many Requests"}
    emulator.fail_next(1, 429, headers=NOW, body=body)
    with pytest.raises(DailyQuotaIsReachedError) as caught:
        client.trigger_event("welcome", "s-1")
    assert caught.value.retry_count == 0
    assert len(emulator.requests()) == 1


def test_second_based_quota_is_retried(client: Client, emulator: Emulator) -> None:
    emulator.fail_next(1, 429, headers={"X-Secondly-Retry-After": "10"})
    assert client.trigger_event("welcome", "s-1").ok
    assert len(emulator.requests()) == 2


@pytest.mark.parametrize("status", [400, 401, 403, 404, 413, 422, 500])
def test_other_errors_are_not_retried(client: Client, emulator: Emulator, status: int) -> None:
    emulator.fail_next(1, status, headers=NOW)
    with pytest.raises(APIError):
        client.trigger_event("welcome", "s-1")
    assert len(emulator.requests()) == 1


@pytest.mark.parametrize(
    ("status", "error_class"),
    [
        (400, BadRequestError),
        (401, AuthenticationError),
        (403, PermissionDeniedError),
        (404, NotFoundError),
        (408, RequestTimeoutError),
        (409, ConflictError),
        (413, PayloadTooLargeError),
        (422, UnprocessableEntityError),
        (429, RateLimitError),
        (500, ServerError),
        (502, BadGatewayError),
        (503, ServiceUnavailableError),
        (504, GatewayTimeoutError),
        (418, APIError),
        (507, ServerError),
    ],
)
def test_each_status_raises_its_class_with_the_whole_answer(
    emulator: Emulator, api_key: str, status: int, error_class: Type[APIError]
) -> None:
    headers = {"X-Request-Id": "req-7", "Retry-After": "0"}
    emulator.fail_next(1, status, headers=headers)
    with Client(api_key=api_key, base_url=emulator.url, max_retries=0) as api:
        with pytest.raises(error_class) as caught:
            api.trigger_event("welcome", "s-1")
    error = caught.value
    assert type(error) is error_class or (status == 429 and isinstance(error, RateLimitError))
    assert error.status == status
    assert error.request_id == "req-7"
    assert isinstance(error.body, dict) and error.body.get("statusCode") == status
    assert error.response is not None and error.response.status == status


def test_retries_spent_raise_the_last_error_with_its_retry_count(
    client: Client, emulator: Emulator
) -> None:
    emulator.fail_next(4, 503, headers={"Retry-After": "0", "X-Request-Id": "last"})
    with pytest.raises(ServiceUnavailableError) as caught:
        client.trigger_event("welcome", "s-1")
    assert caught.value.retry_count == 3  # the client fixture allows 3 retries
    assert caught.value.request_id == "last"
    assert len(emulator.requests()) == 4
    assert emulator.triggers() == []


def test_a_server_that_is_down_ends_in_a_connection_error(emulator: Emulator, api_key: str) -> None:
    emulator.go_down()
    with Client(api_key=api_key, base_url=emulator.url, max_retries=1) as api:
        with pytest.raises(APIConnectionError) as caught:
            api.trigger_event("welcome", "s-1")
    assert caught.value.retry_count == 1
    emulator.come_back()
    with Client(api_key=api_key, base_url=emulator.url) as api:
        assert api.trigger_event("welcome", "s-1").ok


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (
            {
                "statusCode": 400,
                "message": ["name should not be empty", "to is required"],
                "error": "Bad Request",
            },
            "name should not be empty; to is required",
        ),
        (
            {
                "statusCode": 422,
                "timestamp": "2026-01-01T00:00:00Z",
                "path": "/v1/events/trigger",
                "message": "workflow_not_found",
                "errors": {"name": {"messages": ["workflow not found"], "value": "x"}},
            },
            "workflow_not_found (name: workflow not found)",
        ),
    ],
    ids=["nest-validation", "teleflow-errors"],
)
def test_both_error_body_shapes_are_parsed(
    client: Client, emulator: Emulator, body: Dict[str, Any], expected: str
) -> None:
    emulator.fail_next(1, body["statusCode"], body=body)
    with pytest.raises(APIError) as caught:
        client.trigger_event("welcome", "s-1")
    assert caught.value.server_message == expected
    assert expected in str(caught.value)
    assert caught.value.body == body


def test_a_non_json_error_body_is_kept_as_text(client: Client, emulator: Emulator) -> None:
    emulator.fail_next(1, 500, body="upstream exploded")
    with pytest.raises(ServerError) as caught:
        client.trigger_event("welcome", "s-1")
    assert caught.value.body == "upstream exploded"
    assert "upstream exploded" in str(caught.value)


def test_an_unknown_workflow_is_a_422_from_the_emulator(api_key: str) -> None:
    with (
        Emulator(known_workflows=["welcome"]) as emu,
        Client(api_key=api_key, base_url=emu.url) as api,
        pytest.raises(UnprocessableEntityError) as caught,
    ):
        api.trigger_event("nope", "s-1")
    assert caught.value.body["message"] == "workflow_not_found"


def test_second_based_quota_class_from_header(emulator: Emulator, api_key: str) -> None:
    emulator.fail_next(1, 429, headers={"X-Secondly-Retry-After": "5"})
    with Client(api_key=api_key, base_url=emulator.url, max_retries=0) as api:
        with pytest.raises(SecondBasedQuotaIsReachedError) as caught:
            api.trigger_event("welcome", "s-1")
    assert caught.value.retry_after == pytest.approx(0.005)
