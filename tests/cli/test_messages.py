"""Every error a newcomer meets says what to do next: in the SDK and in the command."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import pytest
from refused_port import refused_url

from teleflow_py import APIError, AuthenticationError, Client, UnprocessableEntityError, _hints
from teleflow_py.config import API_KEY_ENV
from teleflow_py.emulator import Emulator

from .conftest import API_KEY, command_env, run_command

GOOD_KEY = "sk_test_the_right_one_9876"


def test_a_refused_key_in_the_sdk_says_where_keys_come_from() -> None:
    with (
        Emulator(api_keys=[GOOD_KEY]) as emulator,
        Client(api_key=API_KEY, base_url=emulator.url, register_atexit=False) as client,
    ):
        with pytest.raises(AuthenticationError) as caught:
            client.trigger_event("welcome", "ada")
    message = str(caught.value)
    # The key's source and its last 4 characters, never more (threaded from the config).
    assert message.startswith(
        f"HTTP 401: API Key not found: the server refused the key from the api_key= "
        f"argument, ending ...{API_KEY[-4:]}"
    )
    assert "TELEFLOW_API_KEY" in message
    assert API_KEY[-5:] not in message


def test_a_refused_key_in_the_command_names_its_source_and_only_its_last_4_characters() -> None:
    with Emulator(api_keys=[GOOD_KEY]) as emulator:
        from_env = run_command(["trigger", "welcome", "--to", "ada"], base_url=emulator.url)
        env = command_env(emulator.url)
        del env["TELEFLOW_API_KEY"]
        from_flag = run_command(
            ["trigger", "welcome", "--to", "ada", "--api-key", API_KEY, "--json"],
            base_url=emulator.url,
            env=env,
        )
    assert from_env.code == from_flag.code == 1
    assert from_env.err_lines == [
        "teleflow: error: HTTP 401: API Key not found: the server refused the key from the "
        f"TELEFLOW_API_KEY environment variable, ending ...{API_KEY[-4:]}; pass the right one "
        "with --api-key or set TELEFLOW_API_KEY"
    ]
    assert f"the key from --api-key, ending ...{API_KEY[-4:]}" in from_flag.err
    assert from_flag.json["error"]["message"] == from_flag.err_lines[0][len("teleflow: error: ") :]
    # Never more of the key than its last 4 characters.
    for ran in (from_env, from_flag):
        assert API_KEY[-5:] not in ran.out + ran.err


def test_a_short_key_shows_none_of_itself() -> None:
    with Emulator(api_keys=[GOOD_KEY]) as emulator:
        env = command_env(emulator.url, TELEFLOW_API_KEY="sk_12345")
        ran = run_command(["trigger", "welcome", "--to", "ada"], base_url=emulator.url, env=env)
    assert ran.code == 1
    assert "too short to show any of it" in ran.err
    assert "2345" not in ran.err


def test_an_unknown_workflow_is_named_with_how_to_create_it() -> None:
    with Emulator(known_workflows=["welcome"]) as emulator:
        with Client(api_key=API_KEY, base_url=emulator.url, register_atexit=False) as client:
            with pytest.raises(UnprocessableEntityError) as caught:
                client.trigger_event("welcom", "ada")
        ran = run_command(["trigger", "welcom", "--to", "ada"], base_url=emulator.url)
    message = str(caught.value)
    assert "no workflow 'welcom'" in message
    assert "check its name" in message and "create it" in message
    assert "add --workflow welcom" in message
    assert ran.code == 1
    assert ran.err_lines[0].startswith("teleflow: error: HTTP 422: workflow_not_found: no workflow")
    assert "add --workflow welcom" in ran.err


@pytest.mark.parametrize("suffix", ["/v1", "/v1/"])
def test_a_base_url_ending_in_v1_is_corrected_with_a_warning(
    emulator: Emulator, suffix: str
) -> None:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        client = Client(api_key=API_KEY, base_url=emulator.url + suffix, register_atexit=False)
    with client:
        assert client.config.base_url == emulator.url
        assert client.trigger_event("welcome", "ada").ok
    # A collection during the call may finalize another test's objects: Python 3.13 warns
    # about each sqlite3 connection left unclosed. Those are not this call's warnings.
    caught = [w for w in caught if not issubclass(w.category, ResourceWarning)]
    assert len(caught) == 1, [f"{w.category.__name__}: {w.message}" for w in caught]
    assert "ends in /v1" in str(caught[0].message)
    assert "the SDK adds /v1 itself" in str(caught[0].message)
    assert caught[0].filename == __file__  # points at the caller's line


def test_the_command_says_the_base_url_was_corrected_in_one_line(emulator: Emulator) -> None:
    ran = run_command(
        ["trigger", "welcome", "--to", "ada", "--base-url", emulator.url + "/v1/"],
        base_url=None,
    )
    assert ran.code == 0, ran.err
    assert ran.err_lines == [
        f"teleflow: warning: base_url '{emulator.url}/v1' ends in /v1; using "
        f"'{emulator.url}' (the SDK adds /v1 itself)"
    ]
    assert len(emulator.triggers("welcome")) == 1


def test_messages_about_arguments_use_the_command_s_names(emulator: Emulator) -> None:
    track = run_command(["track", "signed_up"], base_url=emulator.url)
    assert track.code == 2
    assert "--user-id ID" in track.err and "--anonymous-id ID" in track.err
    assert "user_id" not in track.err
    cancel = run_command(["cancel", "."], base_url=emulator.url)
    assert cancel.err_lines == ["teleflow: error: TRANSACTION_ID: must not be '.' or '..'"]
    trigger = run_command(
        ["trigger", "welcome", "--to", "ada", "--idempotency-key", "a b"],
        base_url=emulator.url,
    )
    assert trigger.code == 2
    assert trigger.err_lines[0].startswith("teleflow: error: --idempotency-key: "), trigger.err
    assert emulator.requests() == []


def test_a_bad_second_line_is_not_preceded_by_no_lines_to_read(
    emulator: Emulator, tmp_path: Path
) -> None:
    data = tmp_path / "two.jsonl"
    data.write_text(json.dumps({"name": "welcome", "to": "ada"}) + "\n" + '{"to": "bob"}\n')
    ran = run_command(["bulk", str(data)], base_url=emulator.url)
    assert ran.code == 2
    assert "no lines to read" not in ran.out + ran.err
    assert ran.out.strip() == "nothing sent"
    assert ran.err_lines == [
        "teleflow: error: line 2: has no 'name' (the workflow to trigger); nothing was sent"
    ]


def test_a_retry_prints_one_line_naming_the_attempt_and_the_wait() -> None:
    # Default settings: 5 retries, so 5 lines before the error.
    ran = run_command(["trigger", "welcome", "--to", "ada"], base_url=refused_url())
    assert ran.code == 3
    notices, error = ran.err_lines[:-1], ran.err_lines[-1]
    assert len(notices) == 5
    for number, line in enumerate(notices, start=2):
        assert line.startswith("teleflow: POST http://127.0.0.1:")
        assert "/v1/events/trigger failed (APIConnectionError); " in line
        assert f"; attempt {number} of 6 in " in line
        assert line.endswith(" s (--quiet hides this line)")
    assert error.startswith("teleflow: error: connection failed:")


def test_quiet_hides_the_retry_lines() -> None:
    ran = run_command(
        ["trigger", "welcome", "--to", "ada", "--max-retries", "2", "--quiet"],
        base_url=refused_url(),
    )
    assert ran.code == 3
    assert len(ran.err_lines) == 1
    assert "(after 2 retries)" in ran.err


def test_a_retried_503_is_reported_by_its_status(emulator: Emulator) -> None:
    emulator.fail_next(1, 503, headers={"Retry-After": "0"}, path="/v1/events/trigger")
    ran = run_command(["trigger", "welcome", "--to", "ada"], base_url=emulator.url)
    assert ran.code == 0, ran.err
    assert len(ran.err_lines) == 1
    assert "/v1/events/trigger failed (503); attempt 2 of 6 in 0.0 s" in ran.err_lines[0]


def test_each_error_status_says_what_to_do(emulator: Emulator) -> None:
    hints = {
        403: "this API key may not do this",
        413: "send fewer or smaller events",
        429: "send less often",
        500: "try again later; a repeat with the same idempotency key is safe",
        503: "try again later; a repeat with the same idempotency key is safe",
    }
    with Client(
        api_key=API_KEY, base_url=emulator.url, register_atexit=False, max_retries=0
    ) as client:
        for status, hint in hints.items():
            emulator.fail_next(1, status, path="/v1/events/trigger")
            with pytest.raises(APIError) as caught:
                client.trigger_event("welcome", "ada")
            assert caught.value.status == status
            assert hint in str(caught.value), (status, str(caught.value))
        emulator.fail_next(
            1, 429, body={"message": "Daily quota reached", "statusCode": 429}, path="/v1/"
        )
        with pytest.raises(APIError) as daily:
            client.trigger_event("welcome", "ada")
        assert "the daily quota is spent: it renews the next day" in str(daily.value)


def test_a_base_url_with_a_wrong_path_says_it_must_be_the_api_root(emulator: Emulator) -> None:
    with Client(api_key=API_KEY, base_url=emulator.url + "/api", register_atexit=False) as client:
        with pytest.raises(APIError) as caught:
            client.trigger_event("welcome", "ada")
    assert caught.value.status == 404
    assert "base_url must be the API's root" in str(caught.value)


def test_a_connection_failure_in_the_command_says_where_to_look() -> None:
    ran = run_command(
        ["trigger", "welcome", "--to", "ada", "--max-retries", "0"], base_url=refused_url()
    )
    assert ran.code == 3
    assert ran.err_lines[-1].endswith(
        ": check that the API answers at that address (--base-url or TELEFLOW_BASE_URL)"
    )


def test_the_hint_names_the_same_variable_the_client_reads() -> None:
    assert _hints.KEY_ENV == API_KEY_ENV
