"""The client knows when the server does not deduplicate: run on Client and AsyncClient.

What the server does, from NxPKG/teleflow (head 2066d4c74):

- ``apps/api/src/app/shared/framework/idempotency.interceptor.ts``: with
  ``IS_API_IDEMPOTENCY_ENABLED`` on, every answer to a keyed POST that reached the
  interceptor echoes ``Idempotency-Key`` (``handleNewRequest`` on success and error,
  ``handlerDuplicateRequest``); with it off, the key is ignored and never echoed.
- ``apps/api/src/.env.production``: ``IS_API_IDEMPOTENCY_ENABLED=false``, so a self-hosted
  server as shipped does not deduplicate (the emulator's ``idempotency=False``).
- The auth guard (401), ``resource-limiting/guards/resource-throttler.guard.ts`` (402) and
  ``rate-limiting/guards/throttler.guard.ts`` (429) answer before the interceptor: no echo
  even when it is on, so those answers must not count as "does not deduplicate".

``emu.drop_next(1)`` processes and stores the request, then closes the connection without
answering: the answer to a processed trigger is lost.
"""

from __future__ import annotations

import logging
from typing import Callable, List

import pytest
from both_clients import API_KEY, Calls
from refused_port import refused_url

from teleflow_py import (
    APIConnectionError,
    AuthenticationError,
    BadGatewayError,
    Client,
    QuotaExceededError,
)
from teleflow_py.emulator import Emulator

TRIGGER = "/v1/events/trigger"


def _sent(emulator: Emulator, key: str) -> int:
    """How many requests carried ``key``."""
    return sum(
        1 for r in emulator.requests(path=TRIGGER) if r["headers"].get("idempotency-key") == key
    )


def _stored(emulator: Emulator, subscriber: str) -> int:
    """How many triggers to ``subscriber`` the server processed and stored."""
    return sum(1 for t in emulator.triggers() if t.get("to") == subscriber)


def _warnings(caplog: pytest.LogCaptureFixture, url: str) -> List[str]:
    return [
        r.getMessage()
        for r in caplog.records
        # The detector's own warning (the call that then fails for good has one of its
        # own, which quotes the error).
        if r.levelno == logging.WARNING
        and r.getMessage().startswith(f"the server at {url} does not deduplicate")
    ]


def test_a_lost_answer_from_a_server_that_does_not_deduplicate_is_not_retried(
    make_api: Callable[..., Calls], caplog: pytest.LogCaptureFixture
) -> None:
    # Default settings: the client learns from the first answer (no echo) and warns once.
    with Emulator(idempotency=False) as emulator:
        api = make_api(base_url=emulator.url)
        with caplog.at_level(logging.WARNING, logger="teleflow_py"):
            assert api.trigger_event("welcome", "s-1").ok  # answered without the echo
            emulator.drop_next(1)
            with pytest.raises(APIConnectionError) as caught:
                api.trigger_event("welcome", "lost", idempotency_key="lost")
            assert api.trigger_event("welcome", "s-3").ok
        error = caught.value
        assert error.maybe_delivered is True
        assert "may or may not have been delivered" in str(error)
        assert f"the server at {emulator.url} does not deduplicate" in str(error)
        assert error.retry_count == 0
        assert _sent(emulator, "lost") == 1  # not repeated
        assert _stored(emulator, "lost") == 1  # and processed exactly once
        assert len(_warnings(caplog, emulator.url)) == 1  # one WARNING, naming the URL


def test_before_any_answer_a_self_hosted_server_is_assumed_not_to_deduplicate(
    make_api: Callable[..., Calls],
) -> None:
    # The first call of a process (a CLI run, a serverless cold start): nothing learnt yet.
    with Emulator(idempotency=False) as emulator:
        api = make_api(base_url=emulator.url)
        emulator.drop_next(1)
        with pytest.raises(APIConnectionError) as caught:
            api.trigger_event("welcome", "first", idempotency_key="first")
        assert caught.value.maybe_delivered is True
        assert "has not yet shown that it deduplicates" in str(caught.value)
        assert _sent(emulator, "first") == 1 and _stored(emulator, "first") == 1


def test_a_lost_answer_from_a_deduplicating_server_is_retried_and_processed_once(
    make_api: Callable[..., Calls], caplog: pytest.LogCaptureFixture
) -> None:
    with Emulator(idempotency=True) as emulator:
        api = make_api(base_url=emulator.url)
        with caplog.at_level(logging.WARNING, logger="teleflow_py"):
            assert api.trigger_event("welcome", "s-1").ok  # the answer echoes the key
            emulator.drop_next(1)
            result = api.trigger_event("welcome", "kept", idempotency_key="kept")
        assert result.ok and result.response is not None
        assert result.response.retry_count == 1
        assert _sent(emulator, "kept") == 2  # retried with the same key
        assert _stored(emulator, "kept") == 1  # answered from the idempotency record
        assert len(emulator.replays()) == 1
        assert _warnings(caplog, emulator.url) == []


def test_what_one_client_learnt_serves_every_client_of_that_base_url(
    make_api: Callable[..., Calls],
) -> None:
    with Emulator(idempotency=True) as emulator:
        # A sync client's answer teaches; the test's client (sync or async) is new.
        with Client(api_key=API_KEY, base_url=emulator.url, register_atexit=False) as other:
            other.trigger_event("welcome", "s-0")
        api = make_api(base_url=emulator.url)
        emulator.drop_next(1)
        assert api.trigger_event("welcome", "shared", idempotency_key="shared").ok
        assert _sent(emulator, "shared") == 2 and _stored(emulator, "shared") == 1


def test_the_setting_true_retries_against_a_server_whose_answers_do_not_echo(
    make_api: Callable[..., Calls], caplog: pytest.LogCaptureFixture
) -> None:
    # For a gateway that strips the echoed header: the user vouches for deduplication. This
    # emulator really does not deduplicate, so the retry is delivered again: the setting is
    # obeyed, not second-guessed (and no warning is logged for it).
    with Emulator(idempotency=False) as emulator:
        api = make_api(base_url=emulator.url, server_deduplicates=True)
        with caplog.at_level(logging.WARNING, logger="teleflow_py"):
            assert api.trigger_event("welcome", "s-1").ok
            emulator.drop_next(1)
            assert api.trigger_event("welcome", "vouched", idempotency_key="vouched").ok
        assert _sent(emulator, "vouched") == 2
        assert _warnings(caplog, emulator.url) == []


def test_the_setting_false_does_not_retry_even_a_server_that_echoes(
    make_api: Callable[..., Calls],
) -> None:
    with Emulator(idempotency=True) as emulator:
        api = make_api(base_url=emulator.url, server_deduplicates=False)
        assert api.trigger_event("welcome", "s-1").ok  # echoes: changes nothing here
        emulator.drop_next(1)
        with pytest.raises(APIConnectionError) as caught:
            api.trigger_event("welcome", "told", idempotency_key="told")
        assert caught.value.maybe_delivered is True
        assert "server_deduplicates=False" in str(caught.value)
        assert _sent(emulator, "told") == 1 and _stored(emulator, "told") == 1
        # with_options turns it back to detection; this base URL echoed: retried.
        learning = api.with_options(server_deduplicates=None)
        learning.trigger_event("welcome", "s-3")
        emulator.drop_next(1)
        assert learning.trigger_event("welcome", "again", idempotency_key="again").ok
        assert _sent(emulator, "again") == 2 and _stored(emulator, "again") == 1


def test_a_gateway_502_is_not_retried_but_a_503_with_retry_after_is(
    make_api: Callable[..., Calls],
) -> None:
    with Emulator(idempotency=False) as emulator:
        api = make_api(base_url=emulator.url)
        api.trigger_event("welcome", "s-0")
        emulator.fail_next(1, 502)
        with pytest.raises(BadGatewayError) as caught:
            api.trigger_event("welcome", "gw", idempotency_key="gw")
        assert caught.value.maybe_delivered is True and _sent(emulator, "gw") == 1
        # A 503 naming a wait says nothing was processed: retried as before.
        emulator.fail_next(2, 503, headers={"Retry-After": "0"})
        assert api.trigger_event("welcome", "busy", idempotency_key="busy").ok
        assert _sent(emulator, "busy") == 3 and _stored(emulator, "busy") == 1


def test_a_refused_connection_is_retried_against_a_server_that_does_not_deduplicate(
    make_api: Callable[..., Calls],
) -> None:
    # Connecting is refused: nothing was sent, whatever the server deduplicates.
    api = make_api(base_url=refused_url(), server_deduplicates=False, max_retries=2)
    with pytest.raises(APIConnectionError) as caught:
        api.trigger_event("welcome", "s-1")
    assert caught.value.retry_count == 2  # nothing was sent: retrying cannot double it
    assert caught.value.maybe_delivered is False


def test_answers_given_before_the_interceptor_do_not_count_as_not_deduplicating(
    make_api: Callable[..., Calls], caplog: pytest.LogCaptureFixture
) -> None:
    # 401 and 402 come from guards that run before idempotency.interceptor.ts: no echo even
    # with idempotency on. They must not make the client think it is off.
    with Emulator(idempotency=True, api_keys=["sk_test_the_right_one_9876"]) as emulator:
        wrong = make_api(base_url=emulator.url)
        right = make_api(api_key="sk_test_the_right_one_9876", base_url=emulator.url)
        with caplog.at_level(logging.WARNING, logger="teleflow_py"):
            with pytest.raises(AuthenticationError):
                wrong.trigger_event("welcome", "s-1")
            emulator.set_event_quota(0)
            with pytest.raises(QuotaExceededError):
                right.trigger_event("welcome", "s-1")
        assert _warnings(caplog, emulator.url) == []


def test_a_spent_event_quota_raises_quota_exceeded_once_with_the_server_message(
    make_api: Callable[..., Calls],
) -> None:
    # resource-throttler.guard.ts: 402 Payment Required when the event quota is spent.
    with Emulator(event_quota=0) as emulator:
        api = make_api(base_url=emulator.url, server_deduplicates=True)
        with pytest.raises(QuotaExceededError) as caught:
            api.trigger_event("welcome", "s-1")
        assert caught.value.status == 402
        assert "exceeded the number of allowed requests" in caught.value.server_message
        assert str(caught.value).startswith("HTTP 402: You have exceeded")
        assert caught.value.retry_count == 0
        assert len(emulator.requests(path=TRIGGER)) == 1  # never retried
        assert emulator.triggers() == []


def test_a_refused_key_is_named_by_its_source_and_last_4_characters_only(
    make_api: Callable[..., Calls], monkeypatch: pytest.MonkeyPatch
) -> None:
    with Emulator(api_keys=["sk_test_the_right_one_9876"]) as emulator:
        by_argument = make_api(base_url=emulator.url)  # API_KEY, passed as api_key=
        with pytest.raises(AuthenticationError) as caught:
            by_argument.trigger_event("welcome", "s-1")
        message = str(caught.value)
        assert f"the key from the api_key= argument, ending ...{API_KEY[-4:]}" in message
        assert API_KEY[-5:] not in message
        monkeypatch.setenv("TELEFLOW_API_KEY", "sk_wxyz")
        by_environment = make_api(api_key=None, base_url=emulator.url)
        with pytest.raises(AuthenticationError) as caught:
            by_environment.trigger_event("welcome", "s-1")
        message = str(caught.value)
        assert "the key from the TELEFLOW_API_KEY environment variable" in message
        assert "(too short to show any of it)" in message and "wxyz" not in message
