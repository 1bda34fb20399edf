"""Recovery paths: a shutdown that rides out a blip, a long Retry-After, and a worker whose
connection cannot be set up."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Callable, List, Tuple

import pytest
from loopback import API_KEY, LoopbackServer, fast_retry

from teleflow_py import Client

ROOT = Path(__file__).resolve().parents[2]


def test_shutdown_rides_out_a_short_outage_within_its_budget(
    server: LoopbackServer, make_client: Callable[..., Client]
) -> None:
    client = make_client(batch_max_retries=0)
    server.fail_next(3, 503, headers=fast_retry(50))
    for n in range(10):
        client.track("signup", user_id="u", properties={"n": n})
    result = client.shutdown(timeout=30)
    assert result.pending == 0
    assert sorted(e["properties"]["n"] for e in server.delivered_events()) == list(range(10))
    keys = {r["headers"]["x-idempotency-key"] for r in server.requests()}
    assert len(keys) == 1  # every attempt of the one batch, same key


def test_a_wait_longer_than_the_cap_is_obeyed_not_hammered(
    server: LoopbackServer, make_client: Callable[..., Client]
) -> None:
    client = make_client(batch_max_retries=3, max_retry_wait=1.0)
    server.fail_next(1, 429, headers={"Retry-After": "120"})
    client.track("signup", user_id="u")
    result = client.flush(timeout=30)
    assert result.pending == 1
    # Without the pause the worker would be back within 1 s and again within 2 s.
    time.sleep(3)
    assert len(server.requests()) == 1


def test_a_connection_that_cannot_be_set_up_is_reported_not_fatal(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(tmp_path / "missing-bundle.pem"))
    errors: List[Tuple[Exception, List[Any]]] = []
    client = Client(
        api_key=API_KEY,
        base_url="https://127.0.0.1:9",
        register_atexit=False,
        on_error=lambda error, events: errors.append((error, events)),
    )
    client.track("signup", user_id="u")
    result = client.flush(timeout=30)
    assert result.rejected == 1 and result.pending == 0
    [(error, events)] = errors
    assert "cannot connect" in str(error) and "FileNotFoundError" in str(error)
    assert [e["event"] for e in events] == ["signup"]
    # The worker is still alive: a later event is handled (and reported) too.
    client.track("second", user_id="u")
    assert client.flush(timeout=30).rejected == 1
    client.close()
