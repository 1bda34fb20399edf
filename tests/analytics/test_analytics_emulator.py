"""End to end against the emulator: what the real service would store, after faults."""

from __future__ import annotations

from teleflow_py import Client
from teleflow_py.emulator import Emulator

API_KEY = "sk_test_analytics_0123456789"


def test_events_and_alias_reach_the_emulator_once_through_faults() -> None:
    with Emulator() as emu:
        emu.fail_next(2, 503, headers={"Retry-After": "0"}, path="/v1/events/batch")
        emu.set_batch_event_limit(4)
        client = Client(
            api_key=API_KEY,
            base_url=emu.url,
            flush_at=10,
            flush_interval=60,
            batch_max_retries=3,
            register_atexit=False,
        )
        for number in range(10):
            client.track("Order", user_id="u1", properties={"n": number})
        client.alias(user_id="u1", anonymous_id="anon-1")
        client.identify(user_id="u1", traits={"plan": "pro"})
        result = client.shutdown(timeout=30)
        client.close()

        assert (result.accepted, result.pending, result.dropped) == (12, 0, 0)
        orders = emu.events(event="Order")
        assert [e["properties"]["n"] for e in orders] == list(range(10))
        assert len(emu.events(event="$identify")) == 1
        assert len(emu.aliases()) == 1
        raw = [
            e["message_id"]
            for r in emu.requests(path="/v1/events/batch")
            if r["status"] == 200
            for e in r["body"]["events"]
        ]
        assert len(raw) == len(set(raw)) == 11
