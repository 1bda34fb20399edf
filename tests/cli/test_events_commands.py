"""``teleflow trigger``, ``broadcast`` and ``cancel``: results, --json shapes, exit codes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from refused_port import refused_url

from teleflow_py.emulator import Emulator

from .conftest import API_KEY, Runner, command_env, run_command, run_in_process

TRIGGER_FIELDS = {
    "ok",
    "acknowledged",
    "status",
    "transaction_id",
    "error",
    "request_id",
    "idempotency_key",
}
ERROR_FIELDS = {"type", "message", "exit_code", "status", "request_id"}


def test_trigger_takes_ids_subscribers_and_topics(cli: Runner, emulator: Emulator) -> None:
    ran = cli(
        "trigger",
        "welcome",
        "--to",
        "ada",
        "--to",
        '{"subscriberId": "bob", "email": "bob@example.com"}',
        "--to",
        '{"type": "Topic", "topicKey": "beta"}',
        "--payload",
        '{"plan": "pro"}',
        "--transaction-id",
        "tx-1",
    )
    assert ran.code == 0, ran.err
    assert ran.out.startswith("processed: transactionId=tx-1")
    (stored,) = emulator.triggers("welcome")
    assert stored["to"] == [
        "ada",
        {"subscriberId": "bob", "email": "bob@example.com"},
        {"type": "Topic", "topicKey": "beta"},
    ]
    assert stored["payload"] == {"plan": "pro"}


def test_one_to_is_sent_as_one_recipient_and_payload_reads_a_file(
    cli_here: Runner, emulator: Emulator, tmp_path: Path
) -> None:
    payload = tmp_path / "payload.json"
    payload.write_text('{"from": "a file"}', encoding="utf-8")
    assert cli_here("trigger", "welcome", "--to", "ada", "--payload", f"@{payload}").code == 0
    (stored,) = emulator.triggers("welcome")
    assert stored["to"] == "ada"
    assert stored["payload"] == {"from": "a file"}


def test_trigger_json_shape_and_the_same_key_triggers_once(
    cli_here: Runner, emulator: Emulator
) -> None:
    first = cli_here("trigger", "welcome", "--to", "ada", "--idempotency-key", "k-1", "--json")
    again = cli_here("trigger", "welcome", "--to", "ada", "--idempotency-key", "k-1", "--json")
    assert first.code == again.code == 0
    assert set(first.json) == TRIGGER_FIELDS
    assert first.json["ok"] is True
    assert first.json["status"] == "processed"
    assert first.json["idempotency_key"] == "k-1"
    assert again.json["transaction_id"] == first.json["transaction_id"]
    assert len(emulator.triggers("welcome")) == 1


def test_broadcast_and_cancel(cli_here: Runner, emulator: Emulator) -> None:
    ran = cli_here("broadcast", "maintenance", "--payload", '{"window": "Sunday"}', "--json")
    assert ran.code == 0, ran.err
    assert set(ran.json) == TRIGGER_FIELDS
    assert emulator.broadcasts("maintenance")[0]["payload"] == {"window": "Sunday"}

    emulator.set_workflow("reminder", delayed=True)  # only pending steps can be cancelled
    assert cli_here("trigger", "reminder", "--to", "ada", "--transaction-id", "tx-9").code == 0
    first = cli_here("cancel", "tx-9", "--json")
    again = cli_here("cancel", "tx-9")
    assert first.code == again.code == 0
    assert first.json == {"ok": True, "transaction_id": "tx-9", "cancelled": True}
    assert again.out.strip() == "nothing to cancel for tx-9"


def test_api_error_exits_1_with_one_line_naming_the_request_id(
    cli: Runner, emulator: Emulator
) -> None:
    emulator.fail_next(
        1,
        400,
        headers={"X-Request-Id": "req-42"},
        body={"statusCode": 400, "message": ["to must be valid"], "error": "Bad Request"},
        path="/v1/events/trigger",
    )
    ran = cli("trigger", "welcome", "--to", "ada", "--json")
    assert ran.code == 1
    assert ran.err_lines == ["teleflow: error: HTTP 400: to must be valid (request id req-42)"]
    assert set(ran.json) == {"ok", "error"}
    assert ran.json["ok"] is False
    assert set(ran.json["error"]) == ERROR_FIELDS
    assert ran.json["error"]["status"] == 400
    assert ran.json["error"]["request_id"] == "req-42"
    assert ran.json["error"]["exit_code"] == 1
    assert emulator.triggers() == []


def test_a_trigger_the_server_did_not_process_exits_1() -> None:
    # A known-workflows emulator answers 422 for any other name (Novu:
    # apps/api/src/app/events/usecases/parse-event-request: workflow_not_found).
    with Emulator(known_workflows=["welcome"]) as emu:
        ran = run_in_process(["trigger", "unknown", "--to", "ada"], base_url=emu.url)
    assert ran.code == 1
    assert len(ran.err_lines) == 1
    assert "HTTP 422" in ran.err and "workflow" in ran.err


def test_usage_and_input_errors_exit_2_in_one_line(
    cli: Runner, cli_here: Runner, emulator: Emulator
) -> None:
    ran = cli("trigger", "welcome", "--to", "ada", "--payload", "{bad")
    assert ran.code == 2
    assert ran.err_lines == [
        "teleflow: error: --payload: not valid JSON: Expecting property name enclosed in "
        "double quotes (line 1 column 2)"
    ]
    cases = [
        (["trigger", "welcome"], "the following arguments are required: --to"),
        (["trigger", "welcome", "--to", "ada", "--payload", "{bad"], "--payload: not valid JSON"),
        (["trigger", "welcome", "--to", "ada", "--payload", "[1]"], "must be a JSON object"),
        (["trigger", "welcome", "--to", "{not json"], "--to: not valid JSON"),
        (["trigger", "welcome", "--to", "ada", "--payload", "@/no/such"], "cannot read /no/such"),
        (["trigger", "welcome", "--to", '{"email": "a@b.c"}'], "subscriberId"),
        (["cancel", "."], "TRANSACTION_ID: must not be"),
        (["bogus"], "invalid choice"),
        ([], "required: COMMAND"),
    ]
    for args, expected in cases:
        ran = cli_here(*args)
        assert ran.code == 2, (args, ran.err)
        assert len(ran.err_lines) == 1, ran.err
        assert ran.err_lines[0].startswith("teleflow: error: ")
        assert expected in ran.err, (args, ran.err)
    assert emulator.requests() == []


def test_usage_errors_are_json_too_when_asked(cli_here: Runner) -> None:
    ran = cli_here("trigger", "welcome", "--json")
    assert ran.code == 2
    assert ran.json["error"]["exit_code"] == 2
    assert ran.json["error"]["type"] == "UsageError"


def test_no_key_is_a_usage_error(emulator: Emulator) -> None:
    env = command_env(emulator.url)
    del env["TELEFLOW_API_KEY"]
    ran = run_command(["trigger", "welcome", "--to", "ada"], base_url=emulator.url, env=env)
    assert ran.code == 2
    assert ran.err_lines == ["teleflow: error: no API key: pass --api-key or set TELEFLOW_API_KEY"]
    ran = run_command(
        ["trigger", "welcome", "--to", "ada", "--api-key", API_KEY, "--json"],
        base_url=emulator.url,
        env=env,
    )
    assert ran.code == 0
    assert len(emulator.triggers("welcome")) == 1


def test_connection_error_exits_3_with_default_retries(emulator: Emulator) -> None:
    # The defaults a new user gets: 5 retries with backoff, then one line and exit 3.
    ran = run_command(["cancel", "tx-1", "--json"], base_url=refused_url())
    assert ran.code == 3
    assert len(ran.err_lines) == 6  # a line per retry, then the error
    assert ran.err_lines[-1].startswith("teleflow: error: connection failed: DELETE http://")
    assert "(after 5 retries)" in ran.err
    assert ran.json["error"]["exit_code"] == 3
    assert ran.json["error"]["type"] == "APIConnectionError"


def test_a_dropped_connection_after_processing_exits_4_saying_it_may_have_been_delivered(
    cli_here: Runner, emulator: Emulator
) -> None:
    # One command is one process: no answer has shown that this server deduplicates, so a
    # failure after the request was sent is not retried (a retry could deliver it twice).
    emulator.drop_next(1, path="/v1/events/trigger")
    ran = cli_here("trigger", "welcome", "--to", "ada")
    assert ran.code == 4, ran.err
    assert len(ran.err_lines) == 1
    assert ran.err_lines[0].startswith("teleflow: error: may or may not have been delivered: ")
    assert len(emulator.requests(path="/v1/events/trigger")) == 1  # not repeated
    assert len(emulator.triggers()) == 1  # processed once


def test_a_spent_event_quota_exits_1_with_one_line_and_is_not_retried(
    cli_here: Runner, emulator: Emulator
) -> None:
    # resource-throttler.guard.ts (NxPKG/teleflow): 402 before processing.
    emulator.set_event_quota(0)
    ran = cli_here("trigger", "welcome", "--to", "ada")
    assert ran.code == 1, ran.err
    assert len(ran.err_lines) == 1
    assert ran.err_lines[0].startswith("teleflow: error: event quota exceeded (HTTP 402): ")
    assert "upgrade your plan" in ran.err_lines[0]
    assert len(emulator.requests(path="/v1/events/trigger")) == 1


def test_verbose_logs_each_request_with_the_key_redacted(cli: Runner, emulator: Emulator) -> None:
    emulator.fail_next(1, 503, headers={"Retry-After": "0"}, path="/v1/events/trigger")
    ran = cli("trigger", "welcome", "--to", "ada", "--verbose", "--api-key", API_KEY)
    assert ran.code == 0, ran.err
    log = ran.err
    assert "POST http://" in log and "/v1/events/trigger attempt 1" in log
    assert "failed (503); retry 1 of 5" in log
    assert "/v1/events/trigger -> 201" in log
    assert "ApiKey ***" in log
    assert API_KEY not in log and API_KEY[-12:] not in log  # (run_command checks the whole key)


def test_output_is_valid_json_for_every_trigger_command(cli_here: Runner) -> None:
    for args in (
        ["trigger", "welcome", "--to", "ada"],
        ["broadcast", "welcome"],
        ["cancel", "nothing"],
    ):
        ran = cli_here(*args, "--json")
        assert ran.code == 0
        assert isinstance(json.loads(ran.out), dict)
        assert ran.out.count("\n") == 1


def test_an_unexpected_failure_is_one_line_unless_verbose(
    emulator: Emulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    from teleflow_py.cli import cancel

    def broken(args: object, output: object) -> int:
        raise RuntimeError(f"a bug near {API_KEY}")

    monkeypatch.setattr(cancel, "run", broken)
    quiet = run_in_process(["cancel", "tx"], base_url=emulator.url)
    assert quiet.code == 1
    assert quiet.err_lines == [
        "teleflow: error: unexpected RuntimeError: a bug near *** (run with --verbose for details)"
    ]
    verbose = run_in_process(["cancel", "tx", "--verbose"], base_url=emulator.url, traceback=True)
    assert verbose.code == 1
    assert "Traceback (most recent call last)" in verbose.err
    assert verbose.err_lines[-1].startswith("teleflow: error: unexpected RuntimeError")


def test_a_closed_stdout_exits_141_without_a_traceback(emulator: Emulator) -> None:
    read_end, write_end = os.pipe()
    os.close(read_end)  # like `teleflow ... | head` once head has gone
    try:
        done = subprocess.run(
            [sys.executable, "-m", "teleflow_py", "cancel", "tx", "--json"],
            env=command_env(emulator.url),
            stdout=write_end,
            stderr=subprocess.PIPE,
            text=True,
            timeout=120,
            check=False,
        )
    finally:
        os.close(write_end)
    assert done.returncode == 141
    assert done.stderr == ""
