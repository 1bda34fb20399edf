"""The durable spool in one process: keys kept on disk, dead letters, order, bounds, repair.

Crash, kill and sharing between processes are in ``test_spool_processes.py``.
"""

from __future__ import annotations

import json
import logging
import os
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any, Callable, List, Tuple

import pytest
from loopback import LoopbackServer, fast_retry, unused_port_url

from teleflow_py import Client
from teleflow_py.analytics import SpoolError, inspect_spool, retry_dead_letters


@pytest.fixture
def spool(tmp_path: Path) -> str:
    return str(tmp_path / "teleflow.db")


def test_a_batch_keeps_its_key_and_message_ids_across_clients(
    server: LoopbackServer, make_client: Callable[..., Client], spool: str
) -> None:
    server.fail_next(3, 503, headers=fast_retry())
    first = make_client(spool_path=spool, batch_max_retries=2)
    for n in range(5):
        first.track("e", user_id="u", properties={"n": n})
    assert first.flush(timeout=30).pending == 5
    first.shutdown(timeout=0)
    first.close()
    state = inspect_spool(spool)
    assert (state["pending_events"], state["pending_batches"], state["claimed_batches"]) == (
        5,
        1,
        0,
    )

    second = make_client(spool_path=spool)
    assert second.flush(timeout=30).ok
    attempts = server.requests()
    assert len({r["headers"]["x-idempotency-key"] for r in attempts}) == 1
    ids = {tuple(e["message_id"] for e in r["body"]["events"]) for r in attempts}
    assert len(ids) == 1
    assert [e["properties"]["n"] for e in server.delivered_events()] == list(range(5))
    assert inspect_spool(spool)["pending_events"] == 0


def test_what_an_earlier_client_left_goes_first_in_order(
    server: LoopbackServer, make_client: Callable[..., Client], spool: str
) -> None:
    down = make_client(spool_path=spool, base_url=unused_port_url(), batch_max_retries=0)
    for n in range(250):
        down.track("e", user_id="u", properties={"n": n})
    down.shutdown(timeout=0.5)
    assert inspect_spool(spool)["pending_events"] == 250

    later = make_client(spool_path=spool)  # starts sending at once
    for n in range(250, 300):
        later.track("e", user_id="u", properties={"n": n})
    assert later.flush(timeout=30).pending == 0
    assert [e["properties"]["n"] for e in server.delivered_events()] == list(range(300))


def test_refused_for_good_goes_to_dead_letters_and_can_be_sent_again(
    server: LoopbackServer, make_client: Callable[..., Client], spool: str
) -> None:
    reports: List[Tuple[Exception, List[Any]]] = []
    server.fail_next(1, 401)
    client = make_client(
        spool_path=spool, on_error=lambda error, events: reports.append((error, events))
    )
    for n in range(3):
        client.track("e", user_id="u", properties={"n": n})
    client.alias(user_id="u", anonymous_id="a")
    result = client.flush(timeout=30)
    assert result.rejected == 3
    assert [[e["properties"]["n"] for e in events] for _, events in reports] == [[0, 1, 2]]
    assert inspect_spool(spool)["dead_letters"] == 3
    assert len(server.requests("/v1/identify/alias")) == 1  # the alias after it went on

    assert retry_dead_letters(spool) == 3
    assert inspect_spool(spool)["dead_letters"] == 0
    client.track("later", user_id="u")
    client.flush(timeout=30)
    client.flush(timeout=30)
    delivered = [e.get("properties", {}).get("n") for e in server.delivered_events()]
    assert sorted(n for n in delivered if n is not None) == [0, 1, 2]
    assert inspect_spool(spool)["pending_events"] == 0


def test_a_413_splits_inside_the_spool_and_every_event_arrives_once(
    server: LoopbackServer, make_client: Callable[..., Client], spool: str
) -> None:
    server.batch_event_limit = 3
    client = make_client(spool_path=spool)
    for n in range(20):
        client.track("e", user_id="u", properties={"n": n})
    assert client.flush(timeout=30).ok
    assert [e["properties"]["n"] for e in server.delivered_events()] == list(range(20))
    assert set(server.deliveries().values()) == {1}
    assert inspect_spool(spool)["pending_batches"] == 0


def test_sync_mode_commits_before_track_returns(
    make_client: Callable[..., Client], spool: str
) -> None:
    client = make_client(spool_path=spool, spool_mode="sync", base_url=unused_port_url())
    assert client.track("e", user_id="u")
    # Another connection sees it at once: committed, with no flush and no writer thread.
    assert inspect_spool(spool)["pending_events"] == 1


def test_a_full_spool_drops_and_counts(make_client: Callable[..., Client], spool: str) -> None:
    drops: List[str] = []
    client = make_client(
        spool_path=spool,
        spool_mode="sync",
        spool_max_bytes=1024 * 1024,
        base_url=unused_port_url(),
        on_drop=lambda event, reason: drops.append(reason),
    )
    blob = "x" * 20_000
    results = [client.track("big", user_id="u", properties={"b": blob}) for _ in range(80)]
    kept = results.count(True)
    assert 0 < kept < 80
    assert client.analytics_stats.dropped_by_reason == {"spool_full": 80 - kept}
    assert set(drops) == {"spool_full"}
    assert inspect_spool(spool)["pending_events"] == kept


@pytest.mark.parametrize("damage", ["garbage", "truncated", "directory"])
def test_a_broken_spool_is_moved_aside_and_a_new_one_works(
    server: LoopbackServer,
    make_client: Callable[..., Client],
    spool: str,
    caplog: pytest.LogCaptureFixture,
    damage: str,
) -> None:
    if damage == "garbage":
        Path(spool).write_bytes(os.urandom(10_000))
    elif damage == "truncated":
        # Written by an earlier process (in this one, a later client would share its spool).
        subprocess.run(
            [
                sys.executable,
                "-c",
                "from teleflow_py import Client\n"
                f"c = Client(api_key='k', base_url={unused_port_url()!r}, spool_path={spool!r},"
                " spool_mode='sync', register_atexit=False)\n"
                "for n in range(500):\n"
                "    c.track('old', user_id='u', properties={'n': n, 'pad': 'p' * 200})\n",
            ],
            check=True,
            env=dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parents[2])),
            timeout=120,
        )
        sqlite3.connect(spool).execute("PRAGMA wal_checkpoint(TRUNCATE)").close()
        data = Path(spool).read_bytes()
        Path(spool).write_bytes(data[: len(data) // 3])
    else:
        os.mkdir(spool)
    with caplog.at_level(logging.WARNING, logger="teleflow_py"):
        client = make_client(spool_path=spool)
    assert any("cannot be used" in r.getMessage() for r in caplog.records)
    assert any(".corrupt-" in name for name in os.listdir(os.path.dirname(spool)))
    client.track("new", user_id="u")
    assert client.flush(timeout=30).ok
    assert client.analytics_health().spool_path == spool
    assert [e["event"] for e in server.delivered_events()][-1:] == ["new"]


def test_inspect_spool_is_json_and_refuses_a_missing_or_broken_file(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        inspect_spool(str(tmp_path / "none.db"))
    broken = tmp_path / "broken.db"
    broken.write_bytes(b"not a database at all" * 100)
    with pytest.raises(SpoolError):
        inspect_spool(str(broken))
    with pytest.raises(SpoolError):
        retry_dead_letters(str(broken))


def test_inspect_spool_reports_age_and_counts(
    make_client: Callable[..., Client], spool: str
) -> None:
    client = make_client(spool_path=spool, spool_mode="sync", base_url=unused_port_url())
    client.track("e", user_id="u")
    state = inspect_spool(spool)
    assert json.loads(json.dumps(state)) == state
    assert state["pending_events"] == 1 and state["dead_letters"] == 0
    assert state["oldest_age_seconds"] is not None and state["oldest_age_seconds"] >= 0
