"""Statements of the docs about defaults, limits and times, checked against the code."""

from __future__ import annotations

import inspect
import logging
from pathlib import Path

import pytest

from teleflow_py import Client, ServiceUnavailableError
from teleflow_py.cli import bulk, jsonl, progress
from teleflow_py.config import DEFAULT_DEADLINE, ClientConfig
from teleflow_py.emulator import Emulator

ROOT = Path(__file__).resolve().parents[2]
API_KEY = "sk_test_claims_0123456789"
TRIGGER = "/v1/events/trigger"


def _page(name: str) -> str:
    return " ".join((ROOT / "docs" / name).read_text(encoding="utf-8").split())


def test_configuration_and_retries_agree_that_the_deadline_covers_retries_and_waits() -> None:
    configuration, retries = _page("configuration.rst"), _page("retries.rst")
    assert "no deadline covers a whole call" not in configuration
    assert (
        "``deadline`` (30 s) bounds the whole call: every attempt, every wait between retries"
        in configuration
    )
    assert (
        "``deadline`` (seconds, default 30) bounds one Events API call as a whole: every "
        "attempt, every wait between attempts" in retries
    )
    assert DEFAULT_DEADLINE == 30.0


def test_at_default_settings_a_wait_past_the_deadline_is_not_taken(
    emulator: Emulator, caplog: pytest.LogCaptureFixture
) -> None:
    # The server asks for 31 s: under max_retry_wait (60 s), over the 30 s deadline. Were
    # the deadline per attempt only, the call would wait and retry.
    emulator.fail_next(1, 503, headers={"Retry-After": "31"}, path=TRIGGER)
    with Client(api_key=API_KEY, base_url=emulator.url, register_atexit=False) as client:
        assert client.config.deadline == 30 and client.config.max_retry_wait == 60
        with caplog.at_level(logging.WARNING, logger="teleflow_py"):
            with pytest.raises(ServiceUnavailableError) as caught:
                client.trigger_event("welcome", "ada")
    assert caught.value.retry_count == 0
    assert len(emulator.requests(path=TRIGGER)) == 1
    assert "30 s deadline" in caplog.text and "not retrying" in caplog.text


def test_the_deadline_ends_a_call_before_max_retries_does(emulator: Emulator) -> None:
    # 1 s between attempts and a 2.5 s deadline: at most three attempts fit, where
    # max_retries would allow six.
    emulator.fail_next(100, 503, headers={"Retry-After": "1"}, path=TRIGGER)
    with Client(
        api_key=API_KEY, base_url=emulator.url, register_atexit=False, deadline=2.5
    ) as client:
        with pytest.raises(ServiceUnavailableError):
            client.trigger_event("welcome", "ada")
    assert 1 <= len(emulator.requests(path=TRIGGER)) <= 3 < client.config.max_retries + 1


def test_the_timeouts_the_docs_name_are_the_defaults() -> None:
    text = _page("configuration.rst")
    defaults = {
        name: parameter.default
        for name, parameter in inspect.signature(ClientConfig).parameters.items()
    }
    for name, seconds in (
        ("open_timeout", 5),
        ("write_timeout", 30),
        ("timeout", 10),
        ("deadline", 30),
        ("max_retries", 5),
        ("max_retry_wait", 60),
    ):
        assert defaults[name] == seconds, name
        assert f"``{name}`` ({seconds}" in text, name


def test_the_cli_page_names_the_bulk_bounds_the_code_has() -> None:
    text = _page("cli.rst")
    assert f"1 MiB ({jsonl.MAX_LINE_BYTES:,} bytes" in text
    assert f"8 MiB ({jsonl.MAX_CHUNK_WEIGHT:,} bytes)" in text
    assert bulk.IN_FLIGHT_WEIGHT == jsonl.MAX_CHUNK_WEIGHT
    assert f"default {bulk.DEFAULT_CONCURRENCY}, at most {bulk.MAX_CONCURRENCY}" in text
    assert "a plain line is written every few seconds" in text and progress.PLAIN_EVERY <= 10
