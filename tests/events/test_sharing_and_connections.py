"""One client shared by threads; connections kept alive and reused."""

from __future__ import annotations

import threading
from typing import List

import pytest

from teleflow_py import Client, TeleflowError, TriggerResult
from teleflow_py.emulator import Emulator


def test_one_client_shared_by_eight_threads(client: Client, emulator: Emulator) -> None:
    results: List[TriggerResult] = []
    errors: List[BaseException] = []
    lock = threading.Lock()
    start = threading.Barrier(8)

    def work(worker: int) -> None:
        start.wait()
        for i in range(25):
            try:
                result = client.trigger_event(
                    "w", f"s-{worker}", payload={"worker": worker, "i": i}
                )
            except BaseException as exc:
                with lock:
                    errors.append(exc)
            else:
                with lock:
                    results.append(result)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert errors == []
    assert len(results) == 200 and all(r.ok for r in results)
    received = sorted((t["payload"]["worker"], t["payload"]["i"]) for t in emulator.triggers())
    assert received == sorted((w, i) for w in range(8) for i in range(25))
    keys = [r["headers"]["idempotency-key"] for r in emulator.requests()]
    assert len(set(keys)) == 200
    # One keep-alive connection per thread at most, not one per request.
    assert emulator.connections_accepted <= 8


def test_a_thousand_sequential_triggers_reuse_a_handful_of_connections(
    client: Client, emulator: Emulator
) -> None:
    for i in range(1000):
        client.trigger_event("w", "s", payload={"i": i})
    assert len(emulator.triggers()) == 1000
    assert emulator.connections_accepted <= 3


def test_a_closed_client_refuses_calls_and_close_is_repeatable(
    emulator: Emulator, api_key: str
) -> None:
    with Client(api_key=api_key, base_url=emulator.url) as api:
        api.trigger_event("w", "s")
    api.close()
    with pytest.raises(TeleflowError, match="closed"):
        api.trigger_event("w", "s")
    assert len(emulator.requests()) == 1
