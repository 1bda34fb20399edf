"""The behaviour tests of the Events API, written once and run on Client and AsyncClient.

Each test takes ``api`` (or ``make_api``), parametrized over both clients by
``conftest.py``: the async client must pass exactly what the sync one passes. The
server-side rules (status classes, Retry-After, idempotency replay) follow Novu's API as
the emulator does; see tests/events for the sync client's own cases and their sources.
"""

from __future__ import annotations

import logging
import re
import warnings
from typing import Any, Callable, Dict, Type

import pytest
from both_clients import API_KEY, Calls
from rawserver import RawServer

from teleflow_py import (
    APIConnectionError,
    APIError,
    APITimeoutError,
    AuthenticationError,
    BadRequestError,
    BulkTriggerError,
    DailyQuotaIsReachedError,
    NotFoundError,
    PayloadTooLargeError,
    RateLimitError,
    ResponseTooLargeError,
    ServerError,
    ServiceUnavailableError,
    TriggerResult,
    UnprocessableEntityError,
    ValidationError,
)
from teleflow_py.emulator import Emulator

NOW = {"Retry-After": "0"}
BULK = "/v1/events/trigger/bulk"


def keys_sent(emulator: Emulator, path: str = "/v1/events/trigger") -> list:
    return [r["headers"].get("idempotency-key") for r in emulator.requests(path=path)]


# -- the four calls ---------------------------------------------------------------------


def test_trigger_sends_the_body_and_returns_the_result(api: Calls, emulator: Emulator) -> None:
    result = api.trigger_event(
        "welcome",
        ["s-1", {"subscriberId": "s-2", "email": "a@example.com"}],
        payload={"plan": "pro"},
        overrides={"email": {"from": "x@example.com"}},
        actor="admin",
        tenant="acme",
        transaction_id="tx-1",
    )
    assert isinstance(result, TriggerResult)
    assert result.ok and result.transaction_id == "tx-1"
    [sent] = emulator.requests(path="/v1/events/trigger", method="POST")
    assert sent["body"] == {
        "name": "welcome",
        "to": ["s-1", {"subscriberId": "s-2", "email": "a@example.com"}],
        "payload": {"plan": "pro"},
        "overrides": {"email": {"from": "x@example.com"}},
        "transactionId": "tx-1",
        "actor": "admin",
        "tenant": "acme",
    }
    headers = sent["headers"]
    assert headers["authorization"] == "ApiKey ***"  # the emulator records it masked
    assert headers["content-type"] == "application/json"
    assert headers["user-agent"].startswith("teleflow-py/")
    assert headers["x-teleflow-retry-count"] == "0"
    # Both ask for the answer uncompressed (http.client's default; aiohttp's would be gzip).
    assert headers["accept-encoding"] == "identity"
    assert result.response is not None
    assert result.response.idempotency_key == headers["idempotency-key"]
    assert API_KEY not in repr(result.response.request_headers)


def test_broadcast_sends_the_body_and_returns_the_result(api: Calls, emulator: Emulator) -> None:
    result = api.broadcast_event("news", {"headline": "hi"}, transaction_id="tx-b")
    assert result.ok and result.transaction_id == "tx-b"
    [sent] = emulator.requests(path="/v1/events/trigger/broadcast")
    assert sent["body"] == {"name": "news", "payload": {"headline": "hi"}, "transactionId": "tx-b"}


def test_bulk_splits_at_100_with_derived_keys_and_keeps_the_order(
    api: Calls, emulator: Emulator
) -> None:
    events = [
        {"name": "welcome", "to": f"s-{i}", "payload": {}, "transactionId": f"tx-{i}"}
        for i in range(150)
    ]
    result = api.trigger_bulk_event(events, idempotency_key="campaign-7")
    assert [r.transaction_id for r in result] == [f"tx-{i}" for i in range(150)]
    assert all(r.ok for r in result)
    assert keys_sent(emulator, BULK) == ["campaign-7.1", "campaign-7.2"]
    assert [len(r["body"]["events"]) for r in emulator.requests(path=BULK)] == [100, 50]


def test_bulk_failure_after_a_chunk_reports_what_was_sent_and_how_to_resume(
    api: Calls, emulator: Emulator
) -> None:
    # Faults apply in order: chunk 1 passes (a zero delay), chunk 2 is refused for good.
    emulator.delay_next(1, 0, path=BULK)
    emulator.fail_next(1, 400, path=BULK)
    events = [{"name": "welcome", "to": f"s-{i}", "payload": {"i": i}} for i in range(250)]
    with pytest.raises(BulkTriggerError) as caught:
        # One request at a time (the default sends 8): the faults meet the chunks in order.
        api.trigger_bulk_event(events, idempotency_key="run", concurrency=1)
    error = caught.value
    assert isinstance(error.error, BadRequestError) and error.__cause__ is error.error
    assert len(error.results) == 100 and all(r.ok for r in error.results)
    assert error.unsent == events[100:]
    assert [key for key, _ in error.unsent_chunks] == ["run.2", "run.3"]
    for key, chunk in error.unsent_chunks:
        api.trigger_bulk_event(chunk, idempotency_key=key)
    assert sorted(t["payload"]["i"] for t in emulator.triggers()) == list(range(250))


def test_bulk_with_concurrency_keeps_order_keys_and_sends_each_event_once_under_faults(
    make_api: Callable[..., Calls], emulator: Emulator
) -> None:
    emulator.fail_next(4, 503, headers=NOW, path=BULK)
    emulator.drop_next(3, path=BULK)  # processed and stored, answer lost: retried
    emulator.fail_next(2, 502, headers=NOW, path=BULK)
    # Default retries and deadline; the emulator deduplicates (said: no answer showed it yet).
    api = make_api(base_url=emulator.url, server_deduplicates=True)
    events = [{"name": "digest", "to": f"s-{i}", "payload": {"i": i}} for i in range(1000)]
    results = api.trigger_bulk_event(events, idempotency_key="c", concurrency=8)
    assert len(results) == 1000 and results.ok
    stored = emulator.triggers()
    assert sorted(t["payload"]["i"] for t in stored) == list(range(1000))  # exactly once
    by_transaction = {t["transactionId"]: t["payload"]["i"] for t in stored}
    assert [by_transaction[r.transaction_id] for r in results] == list(range(1000))
    assert [r.idempotency_key for r in results.responses] == [f"c.{n}" for n in range(1, 11)]
    assert len(emulator.replays()) == 3


def test_bulk_with_concurrency_stops_after_a_failure_and_resumes_exactly_once(
    make_api: Callable[..., Calls], emulator: Emulator
) -> None:
    api = make_api(base_url=emulator.url, max_retries=0)
    emulator.fail_next(1, 503, headers=NOW, path=BULK)  # whichever request comes first
    events = [{"name": "digest", "to": f"s-{i}", "payload": {"i": i}} for i in range(1000)]
    with pytest.raises(BulkTriggerError) as caught:
        api.trigger_bulk_event(events, idempotency_key="k", concurrency=4)
    error = caught.value
    accepted = [index for index, _ in error.accepted]
    assert sorted(accepted + error.unsent_indices) == list(range(1000))
    assert len(emulator.triggers()) == len(accepted)
    for key, chunk in error.unsent_chunks:
        api.trigger_bulk_event(chunk, idempotency_key=key)
    assert sorted(t["payload"]["i"] for t in emulator.triggers()) == list(range(1000))


@pytest.mark.parametrize(
    ("call", "path"),
    [
        ("trigger_event", "/v1/events/trigger"),
        ("broadcast_event", "/v1/events/trigger/broadcast"),
        ("trigger_bulk_event", BULK),
    ],
)
def test_a_2xx_without_the_triggers_data_is_unconfirmed(
    api: Calls, emulator: Emulator, call: str, path: str
) -> None:
    # Another endpoint's JSON (a proxy, a wrong base_url): the request was taken, but
    # nothing says what became of the trigger (docs/events.rst, "unconfirmed").
    emulator.fail_next(1, 200, body={"accepted": "x"}, path=path)
    if call == "trigger_event":
        results = [api.trigger_event("welcome", "s-1")]
    elif call == "broadcast_event":
        results = [api.broadcast_event("news", {})]
    else:
        results = list(api.trigger_bulk_event([{"name": "welcome", "to": "s-1"}] * 2))
    for result in results:
        assert result.confirmed is False and not result.ok
        assert result.acknowledged and result.status == "unconfirmed"


def test_a_key_sent_over_plain_http_to_a_remote_host_is_warned_about_once(
    make_api: Callable[..., Calls], emulator: Emulator, caplog: pytest.LogCaptureFixture
) -> None:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with caplog.at_level(logging.WARNING, logger="teleflow_py"):
            api = make_api(base_url="http://api.example.com")
            api.with_options(deadline=5)  # the same client: no second warning
            make_api(base_url=emulator.url)  # loopback: none
            make_api(base_url="https://api.example.com")  # encrypted: none
    [warning] = [w for w in caught if "unencrypted" in str(w.message)]
    assert "http://api.example.com" in str(warning.message)
    assert warning.filename == __file__ or "both_clients" in warning.filename
    logged = [r for r in caplog.records if "unencrypted" in r.getMessage()]
    assert len(logged) == 1 and API_KEY not in logged[0].getMessage()


def test_cancel_returns_true_once_then_false(api: Calls, emulator: Emulator) -> None:
    # The server cancels only a transaction waiting in a delay or digest step.
    emulator.set_workflow("reminder", delayed=True)
    api.trigger_event("reminder", "s-1", transaction_id="tx-cancel")
    assert api.cancel_triggered_event("tx-cancel") is True
    assert api.cancel_triggered_event("tx-cancel") is False
    assert [c["result"] for c in emulator.cancellations()] == [True, False]


# -- retries and idempotency ------------------------------------------------------------


@pytest.mark.parametrize("status", [429, 503])
def test_a_retried_call_keeps_one_key_and_counts_its_retries(
    api: Calls, emulator: Emulator, status: int
) -> None:
    emulator.fail_next(2, status, headers=NOW)
    result = api.trigger_event("welcome", "s-1")
    assert result.ok and result.response is not None and result.response.retry_count == 2
    keys = keys_sent(emulator)
    assert len(keys) == 3 and len(set(keys)) == 1
    assert [r["headers"]["x-teleflow-retry-count"] for r in emulator.requests()] == [
        "0",
        "1",
        "2",
    ]
    assert len(emulator.triggers()) == 1


def test_a_dropped_connection_is_retried_with_the_same_key_and_not_doubled(
    make_api: Callable[..., Calls], emulator: Emulator
) -> None:
    # The server stored the trigger, then the answer was lost: the retry is a replay, on a
    # server known to deduplicate (test_dedup_detection.py: learnt, and one that does not).
    api = make_api(base_url=emulator.url, server_deduplicates=True)
    emulator.drop_next(1, path="/v1/events/trigger")
    assert api.trigger_event("welcome", "s-1", idempotency_key="mine").ok
    assert keys_sent(emulator) == ["mine", "mine"]
    assert len(emulator.triggers()) == 1 and len(emulator.replays()) == 1


def test_bulk_chunks_keep_their_keys_across_retries(api: Calls, emulator: Emulator) -> None:
    emulator.delay_next(1, 0, path=BULK)
    emulator.fail_next(1, 503, headers=NOW, path=BULK)
    emulator.drop_next(1, path=BULK)
    events = [{"name": "welcome", "to": f"s-{i}", "payload": {}} for i in range(201)]
    result = api.trigger_bulk_event(events, idempotency_key="b", concurrency=1)
    assert len(result) == 201
    assert keys_sent(emulator, BULK) == ["b.1", "b.2", "b.2", "b.2", "b.3"]
    assert len(emulator.triggers()) == 201


def test_two_calls_never_share_a_minted_key(api: Calls, emulator: Emulator) -> None:
    api.trigger_event("welcome", "s-1")
    api.trigger_event("welcome", "s-1")
    first, second = keys_sent(emulator)
    assert first != second


@pytest.mark.parametrize(
    ("headers", "expected_wait"),
    [
        ({"Retry-After": "0.2"}, "0.200s"),
        ({"retry-after-ms": "150"}, "0.150s"),
        ({"RateLimit-Reset": "0.3"}, "0.300s"),
    ],
)
def test_the_wait_the_server_asks_for_is_the_wait_taken(
    api: Calls,
    emulator: Emulator,
    caplog: pytest.LogCaptureFixture,
    headers: Dict[str, str],
    expected_wait: str,
) -> None:
    emulator.fail_next(1, 429, headers=headers)
    with caplog.at_level(logging.DEBUG, logger="teleflow_py"):
        assert api.trigger_event("welcome", "s-1").ok
    waits = [
        m.group(1)
        for m in (
            re.search(r"retry 1 of \d+ in (\d+\.\d+s)", r.getMessage()) for r in caplog.records
        )
        if m
    ]
    assert waits == [expected_wait]


def test_a_wait_beyond_the_cap_ends_the_call_with_the_servers_error(
    make_api: Callable[..., Calls], emulator: Emulator
) -> None:
    emulator.fail_next(1, 429, headers={"Retry-After": "3600"})
    api = make_api(base_url=emulator.url, max_retry_wait=30)
    with pytest.raises(RateLimitError) as caught:
        api.trigger_event("welcome", "s-1")
    assert caught.value.retry_after == 3600
    assert len(emulator.requests()) == 1


def test_the_daily_quota_is_not_retried(api: Calls, emulator: Emulator) -> None:
    body = {"statusCode": 429, "message": "Daily quota is reached", "error": "Too Many Requests"}
    emulator.fail_next(1, 429, headers=NOW, body=body)
    with pytest.raises(DailyQuotaIsReachedError):
        api.trigger_event("welcome", "s-1")
    assert len(emulator.requests()) == 1


# -- errors -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "error_class"),
    [
        (400, BadRequestError),
        (401, AuthenticationError),
        (404, NotFoundError),
        (422, UnprocessableEntityError),
        (500, ServerError),
        (503, ServiceUnavailableError),
        (418, APIError),
    ],
)
def test_each_status_raises_its_class_with_body_headers_and_request_id(
    make_api: Callable[..., Calls], emulator: Emulator, status: int, error_class: Type[APIError]
) -> None:
    emulator.fail_next(1, status, headers={"X-Request-Id": "req-7", "Retry-After": "0"})
    api = make_api(base_url=emulator.url, max_retries=0)
    with pytest.raises(error_class) as caught:
        api.trigger_event("welcome", "s-1")
    error = caught.value
    assert type(error) is error_class
    assert error.status == status and error.request_id == "req-7"
    assert error.headers["x-request-id"] == "req-7"
    assert isinstance(error.body, dict) and error.body.get("statusCode") == status
    assert error.response is not None and error.response.status == status
    assert API_KEY not in str(error) and API_KEY not in repr(error.response.request_headers)


def test_retries_spent_raise_the_last_error_with_its_retry_count(
    api: Calls, emulator: Emulator
) -> None:
    emulator.fail_next(4, 503, headers={"Retry-After": "0", "X-Request-Id": "last"})
    with pytest.raises(ServiceUnavailableError) as caught:
        api.trigger_event("welcome", "s-1")
    assert caught.value.retry_count == 3 and caught.value.request_id == "last"
    assert emulator.triggers() == []


def test_a_server_that_is_down_ends_in_a_connection_error(
    make_api: Callable[..., Calls], emulator: Emulator
) -> None:
    emulator.go_down()
    api = make_api(base_url=emulator.url, max_retries=1)
    with pytest.raises(APIConnectionError) as caught:
        api.trigger_event("welcome", "s-1")
    assert caught.value.retry_count == 1 and caught.value.retryable
    assert API_KEY not in str(caught.value)


def test_a_server_that_never_answers_ends_in_a_timeout(
    make_api: Callable[..., Calls], silent_server: str
) -> None:
    api = make_api(base_url=silent_server, timeout=0.2, max_retries=1, server_deduplicates=True)
    with pytest.raises(APITimeoutError) as caught:
        api.trigger_event("welcome", "s-1")
    assert caught.value.retry_count == 1


# -- deadlines, bounded answers, per-call options ---------------------------------------------


@pytest.mark.parametrize("behaviour", ["silent", "trickle_headers", "trickle_body"])
def test_the_deadline_ends_a_call_to_a_server_that_never_finishes(
    make_api: Callable[..., Calls], behaviour: str
) -> None:
    # Each read alone would be within `timeout`: only the whole-call deadline ends these.
    with RawServer(behaviour) as server:
        api = make_api(base_url=server.url, deadline=0.5, timeout=5, max_retries=5)
        with pytest.raises(APITimeoutError):
            api.trigger_event("welcome", "s-1")


def test_by_default_a_silent_server_ends_the_call_at_the_deadline(
    make_api: Callable[..., Calls],
) -> None:
    # Defaults as a new user has them (the 30 s deadline), shortened for this call only.
    with RawServer("silent") as server:
        api = make_api(base_url=server.url)
        assert api.client.config.deadline == 30.0
        with pytest.raises(APITimeoutError):
            api.with_options(deadline=1.0).trigger_event("welcome", "s-1")
    assert server.requests == 1


@pytest.mark.parametrize(
    ("option", "value"), [("deadline", -1), ("max_retries", "3"), ("timeout", float("nan"))]
)
def test_bad_options_are_refused_naming_them(api: Calls, option: str, value: Any) -> None:
    with pytest.raises(ValidationError) as caught:
        api.with_options(**{option: value})
    assert caught.value.argument == option


def test_a_retry_after_longer_than_the_time_left_ends_the_call_at_once(
    make_api: Callable[..., Calls], emulator: Emulator
) -> None:
    emulator.fail_next(1, 429, headers={"Retry-After": "5"})
    api = make_api(base_url=emulator.url, deadline=2)
    with pytest.raises(RateLimitError) as caught:
        api.trigger_event("welcome", "s-1")
    assert caught.value.retry_after == 5
    assert len(emulator.requests()) == 1


@pytest.mark.parametrize("behaviour", ["endless", "huge_length"])
def test_an_endless_answer_ends_at_the_size_cap(
    make_api: Callable[..., Calls], behaviour: str
) -> None:
    with RawServer(behaviour) as server:
        api = make_api(base_url=server.url, max_response_bytes=100_000)
        with pytest.raises(ResponseTooLargeError):
            api.trigger_event("welcome", "s-1")
        assert server.requests == 1  # not retried


def test_options_change_the_calls_through_the_copy_only(api: Calls, emulator: Emulator) -> None:
    emulator.fail_next(1, 503, headers=NOW)
    with pytest.raises(ServiceUnavailableError):
        api.with_options(max_retries=0, default_headers={"X-Tenant": "a"}).trigger_event(
            "welcome", "s-1"
        )
    emulator.fail_next(1, 503, headers=NOW)
    assert api.trigger_event("welcome", "s-1").ok  # the original still retries
    tenants = [r["headers"].get("x-tenant") for r in emulator.requests()]
    assert tenants == ["a", None, None]


# -- bad input ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "args", "kwargs", "argument"),
    [
        ("trigger_event", ("", "s-1"), {}, "name"),
        ("trigger_event", ("welcome", None), {}, "to"),
        ("trigger_event", ("welcome", "s-1"), {"payload": [1]}, "payload"),
        ("trigger_event", ("welcome", "s-1"), {"idempotency_key": "bad key\n"}, "idempotency_key"),
        ("broadcast_event", ("news", None), {}, "payload"),
        ("trigger_bulk_event", ([],), {}, "events"),
        (
            "trigger_bulk_event",
            ([{"name": "w", "to": "s"}] * 150 + [{"name": "w"}],),
            {},
            "events[150].to",
        ),
        ("cancel_triggered_event", ("",), {}, "transaction_id"),
    ],
)
def test_bad_input_is_refused_naming_the_argument_and_nothing_is_sent(
    api: Calls,
    emulator: Emulator,
    method: str,
    args: Any,
    kwargs: Dict[str, Any],
    argument: str,
) -> None:
    with pytest.raises(ValidationError) as caught:
        getattr(api, method)(*args, **kwargs)
    assert caught.value.argument == argument
    assert emulator.requests() == []


def test_an_early_answer_to_a_large_body_is_reported_as_it_is(
    make_api: Callable[..., Calls], early_413_server: str
) -> None:
    # The server answers 413 after the head and closes without reading the 8 MB body.
    api = make_api(base_url=early_413_server, max_retries=0)
    with pytest.raises(PayloadTooLargeError):
        api.trigger_event("w", "s", payload={"blob": "x" * (8 * 1024 * 1024)})
