"""Bad input is refused at the call, naming the argument; the API key never leaks."""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from typing import Any, Dict

import pytest

from teleflow_py import (
    DEFAULT_BASE_URL,
    APIError,
    Client,
    InvalidIdempotencyKeyError,
    ValidationError,
)
from teleflow_py.emulator import Emulator


@pytest.mark.parametrize(
    ("kwargs", "argument"),
    [
        ({"name": "", "to": "s"}, "name"),
        ({"name": "   ", "to": "s"}, "name"),
        ({"name": None, "to": "s"}, "name"),
        ({"name": 7, "to": "s"}, "name"),
        ({"name": "w", "to": None}, "to"),
        ({"name": "w", "to": 12}, "to"),
        ({"name": "w", "to": ""}, "to"),
        ({"name": "w", "to": []}, "to"),
        ({"name": "w", "to": {"email": "no-id@example.com"}}, "to"),
        ({"name": "w", "to": {"type": "Topic"}}, "to"),
        ({"name": "w", "to": ["ok", 5]}, "to[1]"),
        ({"name": "w", "to": "s", "payload": "text"}, "payload"),
        ({"name": "w", "to": "s", "payload": {"raw": b"bytes"}}, "payload"),
        ({"name": "w", "to": "s", "payload": {"n": float("nan")}}, "payload"),
        ({"name": "w", "to": "s", "overrides": {"x": object()}}, "overrides"),
        ({"name": "w", "to": "s", "transaction_id": ""}, "transaction_id"),
        ({"name": "w", "to": "s", "transaction_id": 5}, "transaction_id"),
        ({"name": "w", "to": "s", "actor": {"type": "Topic", "topicKey": "t"}}, "actor"),
        ({"name": "w", "to": "s", "tenant": 3}, "tenant"),
    ],
)
def test_bad_trigger_input_names_the_argument_and_sends_nothing(
    client: Client, emulator: Emulator, kwargs: Dict[str, Any], argument: str
) -> None:
    with pytest.raises(ValidationError) as caught:
        client.trigger_event(**kwargs)
    assert caught.value.argument == argument
    assert str(caught.value).startswith(argument)
    assert isinstance(caught.value, ValueError)
    assert emulator.requests() == []


def test_an_unencodable_payload_says_which_key(client: Client) -> None:
    with pytest.raises(ValidationError) as caught:
        client.trigger_event("w", "s", payload={"user": {"avatar": b"\x89PNG"}})
    assert "payload['user']['avatar']" in str(caught.value)
    assert "bytes" in str(caught.value)


def test_dates_and_uuids_in_a_payload_are_sent_as_strings(
    client: Client, emulator: Emulator
) -> None:
    when = dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.timezone.utc)
    ident = uuid.UUID(int=1)
    client.trigger_event("w", "s", payload={"at": when, "day": when.date(), "id": ident})
    assert emulator.requests()[0]["body"]["payload"] == {
        "at": "2026-01-02T03:04:05+00:00",
        "day": "2026-01-02",
        "id": str(ident),
    }


def test_broadcast_needs_a_payload_dict(client: Client, emulator: Emulator) -> None:
    with pytest.raises(ValidationError) as caught:
        client.broadcast_event("w", None)  # type: ignore[arg-type]
    assert caught.value.argument == "payload"
    with pytest.raises(ValidationError):
        client.broadcast_event("w", ["not", "a", "dict"])  # type: ignore[arg-type]
    assert emulator.requests() == []


@pytest.mark.parametrize(
    "key",
    ["", "has space", "tab\there", "new\nline", "k" * 256, "ünïcode", "\x00", 42],
)
def test_a_bad_idempotency_key_is_refused_before_sending(
    client: Client, emulator: Emulator, key: Any
) -> None:
    with pytest.raises(InvalidIdempotencyKeyError) as caught:
        client.trigger_event("w", "s", idempotency_key=key)
    assert isinstance(caught.value, ValueError)
    assert caught.value.argument == "idempotency_key"
    with pytest.raises(InvalidIdempotencyKeyError):
        client.broadcast_event("w", {}, idempotency_key=key)
    with pytest.raises(InvalidIdempotencyKeyError):
        client.trigger_bulk_event([{"name": "w", "to": "s"}], idempotency_key=key)
    assert emulator.requests() == []


def test_the_longest_allowed_key_is_accepted(client: Client, emulator: Emulator) -> None:
    key = "!" + "~" * 253 + "a"
    client.trigger_event("w", "s", idempotency_key=key)
    assert emulator.requests()[0]["headers"]["idempotency-key"] == key


def test_the_key_never_appears_in_reprs_errors_or_logs(
    emulator: Emulator, api_key: str, caplog: pytest.LogCaptureFixture
) -> None:
    emulator.fail_next(1, 503, headers={"Retry-After": "0"})
    with caplog.at_level(logging.DEBUG):
        api = Client(api_key=api_key, base_url=emulator.url)
        result = api.trigger_event("w", "s")
        emulator.fail_next(1, 401)
        with pytest.raises(APIError) as caught:
            api.trigger_event("w", "s")
        api.close()
    assert result.response is not None
    texts = [
        repr(api),
        str(api),
        repr(api.config),
        str(api.config),
        repr(result),
        repr(result.response),
        str(result.response.request_headers),
        repr(caught.value),
        str(caught.value),
        str(caught.value.response.request_headers if caught.value.response else ""),
        caplog.text,
    ]
    for text in texts:
        assert api_key not in text
    assert result.response.request_headers["Authorization"] == "ApiKey ***"
    assert "DEBUG" in caplog.text  # debug lines were produced and checked


@pytest.mark.parametrize("bad_key", ["abc\r\nX-Injected: 1", "abc\ndef", "abc\x00"])
def test_a_key_with_control_characters_is_refused_without_echoing_it(bad_key: str) -> None:
    with pytest.raises(ValidationError) as caught:
        Client(api_key=bad_key, base_url="http://127.0.0.1:1")
    assert caught.value.argument == "api_key"
    assert bad_key not in str(caught.value)
    assert "abc" not in str(caught.value)


def test_the_client_cannot_be_pickled_with_its_key(api_key: str) -> None:
    import pickle

    with pytest.raises(TypeError):
        pickle.dumps(Client(api_key=api_key, base_url="http://127.0.0.1:1"))


def test_key_and_base_url_come_from_the_environment(
    monkeypatch: pytest.MonkeyPatch, emulator: Emulator, api_key: str
) -> None:
    monkeypatch.setenv("TELEFLOW_API_KEY", api_key)
    monkeypatch.setenv("TELEFLOW_BASE_URL", emulator.url + "/")
    with Client() as api:
        assert api.config.base_url == emulator.url
        api.trigger_event("w", "s")
    assert emulator.requests()[0]["headers"]["authorization"] == "ApiKey ***"
    monkeypatch.delenv("TELEFLOW_BASE_URL")
    assert Client().config.base_url == DEFAULT_BASE_URL


def test_no_key_anywhere_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TELEFLOW_API_KEY", raising=False)
    with pytest.raises(ValidationError, match="TELEFLOW_API_KEY"):
        Client()


@pytest.mark.parametrize(
    ("kwargs", "argument"),
    [
        ({"base_url": "ftp://x"}, "base_url"),
        ({"base_url": "not a url"}, "base_url"),
        ({"max_retries": -1}, "max_retries"),
        ({"max_retries": 1.5}, "max_retries"),
        ({"timeout": 0}, "timeout"),
        ({"open_timeout": "10"}, "open_timeout"),
        ({"default_headers": {"X-Bad": "a\r\nb"}}, "default_headers"),
        ({"default_headers": {"Authorization": "Bearer x"}}, "default_headers"),
    ],
)
def test_bad_settings_name_the_argument(
    api_key: str, kwargs: Dict[str, Any], argument: str
) -> None:
    with pytest.raises(ValidationError) as caught:
        Client(api_key=api_key, **kwargs)
    assert caught.value.argument == argument
