"""The inspection API over HTTP, the dashboard files, and the Python lifecycle."""

from __future__ import annotations

import threading

import pytest
import requests

from teleflow_py.emulator import Emulator

from ._support import Api, analytics_event, raw_exchange, status_of, trigger_body


def get(emu: Emulator, path: str) -> requests.Response:
    return requests.get(emu.url + path, timeout=30)


def test_listings_mirror_the_python_api(api: Api, emu: Emulator) -> None:
    tid = api.post("/v1/events/trigger", trigger_body()).json()["data"]["transactionId"]
    api.post("/v1/events/trigger", trigger_body(name="other"))
    api.post("/v1/events/trigger/bulk", {"events": [trigger_body(payload={})]})
    api.post("/v1/events/trigger/broadcast", {"name": "news", "payload": {}})
    api.delete(f"/v1/events/trigger/{tid}")
    api.post("/v1/events/batch", {"events": [analytics_event("m1")]})
    api.post("/v1/identify/alias", {"user_id": "u", "previous_id": "p"})

    assert get(emu, "/emulator/triggers").json() == emu.triggers()
    assert get(emu, "/emulator/triggers?name=other").json() == emu.triggers(name="other")
    assert get(emu, "/emulator/bulk").json() == emu.bulk_calls()
    assert get(emu, "/emulator/broadcasts").json() == emu.broadcasts()
    assert get(emu, "/emulator/cancellations").json() == emu.cancellations()
    assert get(emu, "/emulator/events").json() == emu.events()
    assert get(emu, "/emulator/aliases").json() == emu.aliases()
    assert get(emu, "/emulator/batches").json() == emu.batches()
    assert get(emu, "/emulator/replays").json() == emu.replays()
    assert get(emu, "/emulator/requests?method=DELETE").json() == emu.requests(method="DELETE")
    stats = get(emu, "/emulator/stats").json()
    assert stats["triggers"] == 3 and stats["broadcasts"] == 1 and stats["cancellations"] == 1
    assert stats["events"] == 1 and stats["aliases"] == 1 and stats["requests"] == 7
    kinds = [n["source"] for n in get(emu, "/emulator/notifications").json()]
    assert kinds == ["trigger", "trigger", "bulk", "broadcast"]


def test_limit_returns_the_newest_rows_oldest_first(api: Api, emu: Emulator) -> None:
    for name in ("a", "b", "c"):
        api.post("/v1/events/trigger", trigger_body(name=name))
    assert [t["name"] for t in get(emu, "/emulator/triggers?limit=2").json()] == ["b", "c"]
    assert get(emu, "/emulator/triggers?limit=zero").status_code == 400


def test_unknown_control_route_is_404(emu: Emulator) -> None:
    assert get(emu, "/emulator/nothing").status_code == 404
    assert requests.put(emu.url + "/emulator/reset", json={}, timeout=30).status_code == 404


def test_dashboard_files_are_served_with_a_strict_policy(emu: Emulator) -> None:
    page = get(emu, "/")
    assert page.status_code == 200
    assert page.headers["Content-Type"].startswith("text/html")
    assert "default-src 'self'" in page.headers["Content-Security-Policy"]
    assert 'id="triggers"' in page.text
    for asset in ("/static/dashboard.js", "/static/dashboard.css"):
        assert get(emu, asset).status_code == 200
    assert get(emu, "/static/dashboard.js").headers["Content-Type"].startswith("text/javascript")


@pytest.mark.parametrize(
    "path", ["/static/../emulator.py", "/static/..%2Femulator.py", "/static/", "/static/nope.js"]
)
def test_only_the_static_files_themselves_are_served(emu: Emulator, path: str) -> None:
    # Raw socket: requests would normalise the dot segments away before sending.
    request = f"GET {path} HTTP/1.1\r\nHost: localhost\r\n\r\n".encode()
    assert status_of(raw_exchange(emu.port, request)) == 404


def test_lifecycle() -> None:
    emu = Emulator()
    with pytest.raises(RuntimeError):
        _ = emu.url
    emu.start()
    try:
        with pytest.raises(RuntimeError, match="already started"):
            emu.start()
        assert emu.url == f"http://127.0.0.1:{emu.port}"
    finally:
        emu.stop()
    emu.stop()  # idempotent
    with pytest.raises(RuntimeError, match="not started"):
        emu.go_down()
    assert emu.triggers() == []  # inspection works after stop


def test_stop_ends_a_delay_in_progress(emu: Emulator) -> None:
    emu.delay_next(1, seconds=600)
    errors: list[BaseException] = []

    def call() -> None:
        try:
            Api(emu.url).post("/v1/events/trigger", trigger_body())
        except requests.RequestException as exc:
            errors.append(exc)

    worker = threading.Thread(target=call)
    worker.start()
    while not emu.faults_served():
        threading.Event().wait(0.01)
    emu.stop()
    worker.join()  # would hang for 10 minutes if stop() left the delay running
    assert not worker.is_alive()


def test_listings_filter_by_workflow_subscriber_status_and_key(api: Api, emu: Emulator) -> None:
    emu.set_workflow("off", active=False)
    api.post(
        "/v1/events/trigger", trigger_body(to={"subscriberId": "ada"}), **{"Idempotency-Key": "k1"}
    )
    api.post("/v1/events/trigger", trigger_body(name="off", to=["bob", "ada"]))
    api.post("/v1/events/trigger", trigger_body(to="carl"))

    def names(query: str) -> list[tuple[str, object]]:
        rows = get(emu, "/emulator/notifications?" + query).json()
        return [(row["name"], row["to"]) for row in rows]

    assert names("subscriber=ada") == [
        ("welcome", {"subscriberId": "ada"}),
        ("off", ["bob", "ada"]),
    ]
    assert names("status=trigger_not_active") == [("off", ["bob", "ada"])]
    assert names("key=k1&name=welcome") == [("welcome", {"subscriberId": "ada"})]
    assert names("status=processed&limit=1") == [("welcome", "carl")]
    keyed = get(emu, "/emulator/requests?key=k1").json()
    assert [r["idempotency_key"] for r in keyed] == ["k1"]
    assert get(emu, "/emulator/requests?status=201").json() == emu.requests()
    assert get(emu, "/emulator/requests?status=abc").status_code == 400
