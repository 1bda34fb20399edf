"""Fault injection from Python and over HTTP: fail, delay, drop, down and back."""

from __future__ import annotations

import pytest
import requests

from teleflow_py.emulator import Emulator
from teleflow_py.emulator.faults import FaultQueue

from ._support import Api, analytics_event, trigger_body


def test_fail_next_answers_with_status_headers_and_nest_body(api: Api, emu: Emulator) -> None:
    emu.fail_next(2, 429, headers={"Retry-After": "7", "X-Test": "yes"})

    first = api.post("/v1/events/trigger", trigger_body())
    second = api.post("/v1/events/trigger", trigger_body())
    third = api.post("/v1/events/trigger", trigger_body())

    assert [first.status_code, second.status_code, third.status_code] == [429, 429, 201]
    assert first.headers["Retry-After"] == "7" and first.headers["X-Test"] == "yes"
    assert first.json() == {
        "statusCode": 429,
        "message": "Injected fault",
        "error": "Too Many Requests",
    }
    assert len(emu.triggers()) == 1  # failed requests are not processed
    assert [r["status"] for r in emu.requests()] == [429, 429, 201]
    assert [r["fault"] for r in emu.requests()] == ["fail", "fail", None]
    assert emu.faults_served() == [
        {"fault": "fail", "path": "/v1/events/trigger", "status": 429},
        {"fault": "fail", "path": "/v1/events/trigger", "status": 429},
    ]
    assert emu.stats()["faults"] == 2


def test_fail_next_with_a_custom_body(api: Api, emu: Emulator) -> None:
    emu.fail_next(1, 502, headers={"Content-Type": "text/html"}, body="<h1>Bad gateway</h1>")
    emu.fail_next(1, 500, body={"oops": True})

    html = api.post("/v1/events/trigger", trigger_body())
    json_body = api.post("/v1/events/trigger", trigger_body())

    assert html.status_code == 502
    assert html.headers["Content-Type"] == "text/html"
    assert html.text == "<h1>Bad gateway</h1>"
    assert json_body.json() == {"oops": True}


def test_faults_apply_in_injection_order_to_matching_paths_only(api: Api, emu: Emulator) -> None:
    emu.fail_next(1, 500, path="/v1/events/batch")
    emu.fail_next(1, 503)

    trigger = api.post("/v1/events/trigger", trigger_body())  # skips the batch-only fault
    batch = api.post("/v1/events/batch", {"events": [analytics_event("m1")]})
    after = api.post("/v1/events/batch", {"events": [analytics_event("m1")]})

    assert (trigger.status_code, batch.status_code, after.status_code) == (503, 500, 200)
    assert emu.pending_faults() == []


def test_path_filter_is_a_prefix(api: Api, emu: Emulator) -> None:
    emu.fail_next(1, 500, path="/v1/events/trigger")
    assert api.post("/v1/events/trigger/bulk", {"events": [trigger_body()]}).status_code == 500


def test_delay_next_still_processes(api: Api, emu: Emulator) -> None:
    emu.delay_next(1, seconds=0.05)
    response = api.post("/v1/events/trigger", trigger_body())
    assert response.status_code == 201
    assert len(emu.triggers()) == 1
    assert emu.requests()[0]["fault"] == "delay"
    assert emu.faults_served() == [{"fault": "delay", "path": "/v1/events/trigger", "status": None}]


def test_drop_next_stores_the_request_and_answers_nothing(api: Api, emu: Emulator) -> None:
    emu.drop_next(1)

    with pytest.raises(requests.ConnectionError):
        api.post("/v1/events/trigger", trigger_body())

    [stored] = emu.triggers()
    assert stored["name"] == "welcome"
    [logged] = emu.requests()
    assert (logged["status"], logged["fault"]) == (None, "drop")
    assert emu.faults_served() == [{"fault": "drop", "path": "/v1/events/trigger", "status": None}]
    assert api.post("/v1/events/trigger", trigger_body()).status_code == 201


def test_go_down_refuses_connections_and_come_back_uses_the_same_port(
    api: Api, emu: Emulator
) -> None:
    url, port = emu.url, emu.port
    assert api.post("/v1/events/trigger", trigger_body()).status_code == 201  # pooled connection

    emu.go_down()
    with pytest.raises(requests.ConnectionError):
        api.post("/v1/events/trigger", trigger_body())  # the kept-alive connection is cut too
    with pytest.raises(requests.ConnectionError):
        requests.get(url + "/emulator/stats", timeout=30)

    emu.come_back()
    assert (emu.url, emu.port) == (url, port)
    assert api.post("/v1/events/trigger", trigger_body()).status_code == 201
    assert len(emu.triggers()) == 2


def test_clear_faults_and_reset(api: Api, emu: Emulator) -> None:
    emu.fail_next(5, 500)
    emu.clear_faults()
    assert api.post("/v1/events/trigger", trigger_body()).status_code == 201

    emu.fail_next(5, 500)
    emu.reset()
    assert emu.triggers() == [] and emu.requests() == [] and emu.pending_faults() == []
    assert emu.stats()["triggers"] == 0
    assert api.post("/v1/events/trigger", trigger_body()).status_code == 201


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda emu: emu.fail_next(0, 500), "count"),
        (lambda emu: emu.fail_next(1, 99), "status"),
        (lambda emu: emu.fail_next(1, 500, headers={"X": 1}), "headers"),
        (lambda emu: emu.delay_next(1, -1), "seconds"),
        (lambda emu: emu.drop_next(1.5), "count"),
    ],
)
def test_bad_fault_arguments_raise(emu: Emulator, call: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        call(emu)  # type: ignore[operator]
    assert emu.pending_faults() == []


# -- the same over HTTP -------------------------------------------------------------------


def test_http_fault_control(api: Api, emu: Emulator) -> None:
    added = requests.post(
        emu.url + "/emulator/faults",
        json={"kind": "fail", "count": 1, "status": 503, "headers": {"Retry-After": "2"}},
        timeout=30,
    )
    assert added.status_code == 201
    assert added.json()["fault"]["status"] == 503

    response = api.post("/v1/events/trigger", trigger_body())
    assert response.status_code == 503 and response.headers["Retry-After"] == "2"

    requests.post(emu.url + "/emulator/faults", json={"kind": "drop", "count": 3}, timeout=30)
    requests.post(
        emu.url + "/emulator/faults",
        json={"kind": "delay", "seconds": 0.01, "path": "/v1/events/batch"},
        timeout=30,
    )
    pending = requests.get(emu.url + "/emulator/faults", timeout=30).json()["pending"]
    assert [(f["kind"], f["count"]) for f in pending] == [("drop", 3), ("delay", 1)]

    cleared = requests.delete(emu.url + "/emulator/faults", timeout=30)
    assert cleared.json() == {"cleared": 2}
    assert api.post("/v1/events/trigger", trigger_body()).status_code == 201

    reset = requests.post(emu.url + "/emulator/reset", json={}, timeout=30)
    assert reset.json() == {"reset": True}
    assert emu.triggers() == []


@pytest.mark.parametrize(
    "spec",
    [
        {"kind": "explode"},
        {"kind": "fail"},
        {"kind": "fail", "status": 503, "count": 0},
        {"kind": "delay", "seconds": "soon"},
        {"kind": "drop", "typo": 1},
        {"kind": "fail", "status": 500, "headers": {"X-A": "1\r\nSet-Cookie: evil=1"}},
        [1],
    ],
)
def test_http_fault_control_rejects_bad_specs(emu: Emulator, spec: object) -> None:
    response = requests.post(emu.url + "/emulator/faults", json=spec, timeout=30)
    assert response.status_code == 400
    assert emu.pending_faults() == []


def test_control_routes_are_not_faulted_logged_or_authenticated(emu: Emulator) -> None:
    emu.fail_next(1, 500)
    assert requests.get(emu.url + "/emulator/stats", timeout=30).status_code == 200
    assert emu.pending_faults() != []  # still waiting for an API request
    assert emu.requests() == []


def test_a_clear_between_taking_a_delay_and_sleeping_it_still_ends_it() -> None:
    # A test that sees the delayed request and clears at once may do so before the server's
    # thread begins to sleep: the sleep counts clears from when the delay was taken.
    queue = FaultQueue()
    since = queue.generation
    queue.clear()
    assert queue.sleep(60.0, since) is True  # woken at once, not after 60 s
