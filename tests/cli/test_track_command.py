"""``teleflow track``: delivered before the command exits; the exit code says whether it was."""

from __future__ import annotations

from teleflow_py.emulator import Emulator

from .conftest import Runner

BATCH = "/v1/events/batch"


def test_track_is_delivered_before_the_command_exits(cli: Runner, emulator: Emulator) -> None:
    ran = cli("track", "signed_up", "--user-id", "ada", "--properties", '{"plan": "pro"}', "--json")
    assert ran.code == 0, ran.err
    assert ran.json == {
        "ok": True,
        "event": "signed_up",
        "accepted": 1,
        "rejected": 0,
        "pending": 0,
    }
    (event,) = emulator.events(event="signed_up")
    assert event["user_id"] == "ada"
    assert event["properties"] == {"plan": "pro"}


def test_an_event_the_server_refuses_exits_1(cli_here: Runner, emulator: Emulator) -> None:
    emulator.fail_next(1, 400, headers={"X-Request-Id": "req-3"}, path=BATCH)
    ran = cli_here("track", "signed_up", "--user-id", "ada", "--json")
    assert ran.code == 1
    assert ran.json["ok"] is False and ran.json["rejected"] == 1
    assert ran.err_lines == [
        "teleflow: error: 'signed_up' not delivered: HTTP 400: Injected fault (request id req-3)"
    ]
    assert emulator.events() == []


def test_a_server_that_is_down_exits_3_within_the_timeout(cli: Runner, emulator: Emulator) -> None:
    emulator.go_down()
    ran = cli("track", "signed_up", "--user-id", "ada", "--timeout", "2", "--json")
    assert ran.code == 3
    assert ran.json["pending"] == 1
    # The analytics worker's retries print no line (docs/cli.rst): the error alone.
    assert len(ran.err_lines) == 1
    assert ran.err_lines[0].startswith(
        "teleflow: error: 'signed_up' not delivered: connection failed: POST http://"
    )


def test_bad_input_is_refused_before_anything_is_queued(
    cli_here: Runner, emulator: Emulator
) -> None:
    no_id = cli_here("track", "signed_up")
    assert no_id.code == 2
    # The options by their names, not the SDK's argument names.
    assert no_id.err_lines == [
        "teleflow: error: teleflow track: give --user-id ID "
        "(or --anonymous-id ID for a visitor who is not signed in)"
    ]
    bad_properties = cli_here("track", "signed_up", "--user-id", "a", "--properties", "[]")
    assert bad_properties.code == 2
    assert bad_properties.err_lines == [
        "teleflow: error: --properties: must be a JSON object, not an array"
    ]
    assert emulator.requests() == []
