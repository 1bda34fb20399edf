"""With db_path, a new Emulator on the same file loses nothing: data, counters, idempotency."""

from __future__ import annotations

from pathlib import Path

from teleflow_py.emulator import Emulator

from ._support import Api, analytics_event, trigger_body


def test_restart_on_the_same_db_keeps_everything(tmp_path: Path) -> None:
    db = str(tmp_path / "emulator.sqlite3")
    with Emulator(db_path=db, workflows={"welcome": {"delayed": True}}) as first:
        api = Api(first.url)
        tid = api.post("/v1/events/trigger", trigger_body(), **{"Idempotency-Key": "t"}).json()[
            "data"
        ]["transactionId"]
        api.post("/v1/events/trigger/broadcast", {"name": "news", "payload": {}})
        batch = {"events": [analytics_event("m1"), analytics_event("m2")]}
        api.post("/v1/events/batch", batch, **{"X-Idempotency-Key": "b"})
        api.post("/v1/identify/alias", {"user_id": "u1", "anonymous_id": "a1"})
        api.delete(f"/v1/events/trigger/{tid}")
        before = {
            "triggers": first.triggers(),
            "broadcasts": first.broadcasts(),
            "events": first.events(),
            "aliases": first.aliases(),
            "cancellations": first.cancellations(),
            "batches": first.batches(),
            "requests": first.requests(),
            "stats": first.stats(),
        }

    with Emulator(db_path=db) as second:
        after = {
            "triggers": second.triggers(),
            "broadcasts": second.broadcasts(),
            "events": second.events(),
            "aliases": second.aliases(),
            "cancellations": second.cancellations(),
            "batches": second.batches(),
            "requests": second.requests(),
            "stats": second.stats(),
        }
        before["stats"].pop("connections_accepted")
        assert after["stats"].pop("connections_accepted") == 0
        assert after == before
        assert after["triggers"][0]["cancelled"] is True

        api = Api(second.url)
        replay = api.post("/v1/events/batch", batch, **{"X-Idempotency-Key": "b"})
        assert replay.headers["Idempotency-Replay"] == "true"
        assert api.post("/v1/events/batch", {"events": [analytics_event("m1")]}).json() == {
            "accepted": 1,
            "rejected": 0,
            "errors": [],
        }
        assert len(second.events()) == 2  # m1 was remembered across the restart
        assert api.delete(f"/v1/events/trigger/{tid}").json() == {"data": False}
        assert second.stats()["retries_seen"] == 1


def test_memory_store_starts_empty_each_time(api: Api) -> None:
    api.post("/v1/events/trigger", trigger_body())
    with Emulator() as fresh:
        assert fresh.triggers() == []
