"""``with_options``: a light copy whose settings change only the calls made through it."""

from __future__ import annotations

import pytest

from teleflow_py import Client, ServiceUnavailableError, TeleflowError, ValidationError
from teleflow_py.emulator import Emulator

NOW = {"Retry-After": "0"}


def test_options_change_the_calls_through_the_copy_only(client: Client, emulator: Emulator) -> None:
    emulator.fail_next(1, 503, headers=NOW)
    with pytest.raises(ServiceUnavailableError):
        client.with_options(max_retries=0).trigger_event("welcome", "s-1")
    assert len(emulator.requests()) == 1
    # The client itself still retries (3 in the fixture).
    emulator.fail_next(1, 503, headers=NOW)
    assert client.trigger_event("welcome", "s-1").ok
    assert client.config.max_retries == 3


def test_the_copy_keeps_what_it_does_not_change(client: Client) -> None:
    copy = client.with_options(deadline=3)
    assert copy.config.deadline == 3.0
    assert copy.config.max_retries == client.config.max_retries
    assert copy.config.base_url == client.config.base_url
    assert client.config.deadline == 30.0
    assert copy.with_options(deadline=None).config.deadline is None


def test_headers_are_added_for_the_copy_only(client: Client, emulator: Emulator) -> None:
    client.with_options(default_headers={"X-Trace": "abc"}).trigger_event("welcome", "s-1")
    client.trigger_event("welcome", "s-1")
    first, second = emulator.requests()
    assert first["headers"].get("x-trace") == "abc"
    assert "x-trace" not in second["headers"]


def test_the_copy_shares_the_analytics_queue(client: Client, emulator: Emulator) -> None:
    client.with_options(timeout=5).track("signed_up", user_id="u-1")
    assert client.flush().accepted == 1


def test_the_copy_shares_the_connections(api_key: str, emulator: Emulator) -> None:
    parent = Client(api_key=api_key, base_url=emulator.url)
    copy = parent.with_options(max_retries=0)
    assert copy.trigger_event("welcome", "s-1").ok
    parent.close()
    with pytest.raises(TeleflowError, match="closed"):
        copy.trigger_event("welcome", "s-1")


def test_bad_options_are_refused_naming_them(client: Client) -> None:
    with pytest.raises(ValidationError, match=r"^max_retries: "):
        client.with_options(max_retries=-1)
    with pytest.raises(ValidationError, match=r"^default_headers: "):
        client.with_options(default_headers={"Host": "evil.example"})
    with pytest.raises(TypeError):
        client.with_options(api_key="other")  # type: ignore[call-arg]
