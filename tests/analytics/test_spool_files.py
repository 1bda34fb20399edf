"""What a spool path may hold, and sharing it inside one process.

* Several clients of one process on one path share one spool: each event is sent once,
  and a flush of any of them waits for the batch another's worker took
  (``test_spool_shared_flush.py`` holds that window open).
* A path that holds another application's SQLite database, a symbolic link to one, or an
  empty file is refused (group mode keeps events in memory, sync mode refuses them, with
  a warning) and left byte for byte as it was, with no ``-wal`` or ``-shm`` file made
  next to it; the spool starts by itself once the path is fixed.
* ``spool_max_bytes`` is decided at ``track()`` time: the caller learns no at once.
* ``analytics_stats.pending`` and ``analytics_health().pending`` agree with what was
  tracked at every moment (issue 17: they once read 2,003 after 1,003 calls).
"""

from __future__ import annotations

import hashlib
import logging
import os
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Callable, List, Set

import pytest
from loopback import LoopbackServer, unused_port_url

from teleflow_py import Client
from teleflow_py.analytics import inspect_spool
from teleflow_py.analytics.spool_file import APPLICATION_ID


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _track_900_on_three_clients(make_client: Callable[..., Client], spool: str) -> List[Client]:
    clients = [make_client(spool_path=spool, flush_at=50) for _ in range(3)]
    for n in range(900):
        assert clients[n % 3].track("E", user_id="u", properties={"n": n})
    return clients


def test_three_clients_in_one_process_share_the_spool_and_send_each_event_once(
    server: LoopbackServer, make_client: Callable[..., Client], tmp_path: Path
) -> None:
    spool = str(tmp_path / "spool.db")
    clients = _track_900_on_three_clients(make_client, spool)
    for client in clients:
        client.shutdown(timeout=30)
    deliveries = server.deliveries()
    assert len(deliveries) == 900 and set(deliveries.values()) == {1}
    assert sum(client.analytics_stats.accepted for client in clients) == 900
    assert inspect_spool(spool)["pending_events"] == 0


def test_a_flush_of_clients_sharing_a_spool_waits_for_what_the_others_took(
    server: LoopbackServer, make_client: Callable[..., Client], tmp_path: Path
) -> None:
    spool = str(tmp_path / "spool.db")
    clients = _track_900_on_three_clients(make_client, spool)
    for client in clients:
        # Any of the three workers may be sending the batch: each flush waits for it.
        assert client.flush(timeout=30).pending == 0
    deliveries = server.deliveries()
    assert len(deliveries) == 900 and set(deliveries.values()) == {1}
    assert sum(client.analytics_stats.accepted for client in clients) == 900
    assert [client.analytics_stats.pending for client in clients] == [0, 0, 0]
    assert inspect_spool(spool)["pending_events"] == 0


@pytest.fixture
def app_db(tmp_path: Path) -> Path:
    """Another application's SQLite database."""
    path = tmp_path / "app.db"
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE users (id INTEGER PRIMARY KEY, email TEXT)")
    conn.execute("INSERT INTO users (email) VALUES ('a@example.com')")
    conn.commit()
    conn.close()
    return path


@pytest.mark.parametrize("how", ["direct", "symlink", "empty", "symlink-to-spool"])
def test_a_path_that_is_not_a_spool_is_refused_and_left_unchanged(
    server: LoopbackServer,
    make_client: Callable[..., Client],
    tmp_path: Path,
    app_db: Path,
    caplog: pytest.LogCaptureFixture,
    how: str,
) -> None:
    if how == "direct":
        path = target = app_db
    elif how == "empty":
        path = target = tmp_path / "empty.db"
        path.touch()
    else:
        target = app_db
        if how == "symlink-to-spool":
            # A link is refused even when it points to a real spool: never resolved.
            target = tmp_path / "real.db"
            make_client(spool_path=str(target), base_url=unused_port_url()).close()
        path = tmp_path / "link.db"
        path.symlink_to(target)
    before = digest(target)
    names = sorted(os.listdir(tmp_path))
    with caplog.at_level(logging.WARNING, logger="teleflow_py"):
        client = make_client(spool_path=str(path))
    warned = " ".join(r.getMessage() for r in caplog.records)
    assert "kept in memory" in warned and str(path) in warned
    expected = {"direct": "not a teleflow spool", "symlink": "symbolic link", "empty": "empty"}
    assert expected.get(how, "symbolic link") in warned
    assert client.analytics_health().spool_problem is not None
    assert client.track("E", user_id="u", properties={"n": 1})
    assert client.flush(timeout=30).ok
    client.close()
    assert digest(target) == before
    assert sorted(os.listdir(tmp_path)) == names
    assert [e["properties"]["n"] for e in server.delivered_events()] == [1]


def test_sync_mode_refuses_while_the_path_is_not_a_spool_and_starts_once_fixed(
    make_client: Callable[..., Client], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from teleflow_py.analytics.spool_fallback import Fallback

    monkeypatch.setattr(Fallback, "PROBE_EVERY", 0.05)
    path = tmp_path / "empty.db"
    path.touch()
    client = make_client(spool_path=str(path), spool_mode="sync", base_url=unused_port_url())
    assert not client.track("E", user_id="u")
    assert client.analytics_stats.dropped_by_reason == {"spool_error": 1}
    assert path.read_bytes() == b""
    path.unlink()
    end = time.monotonic() + 60
    while client.analytics_health().spool_problem is not None:
        assert time.monotonic() < end, "the spool never started"
        time.sleep(0.02)
    assert client.track("E", user_id="u")
    assert inspect_spool(str(path))["pending_events"] == 1


def test_a_spool_is_marked_and_an_unmarked_spool_of_an_older_version_is_adopted(
    make_client: Callable[..., Client], tmp_path: Path
) -> None:
    spool = tmp_path / "spool.db"
    make_client(spool_path=str(spool), base_url=unused_port_url()).close()
    conn = sqlite3.connect(spool)
    assert conn.execute("PRAGMA application_id").fetchone()[0] == APPLICATION_ID
    # An older SDK made spools without the mark: same tables, application_id 0.
    conn.execute("PRAGMA application_id = 0")
    conn.close()
    client = make_client(spool_path=str(tmp_path / "spool.db"), base_url=unused_port_url())
    assert client.analytics_health().spool_problem is None


def test_spool_max_bytes_is_decided_when_track_is_called(
    make_client: Callable[..., Client], tmp_path: Path
) -> None:
    spool = str(tmp_path / "spool.db")
    drops: List[str] = []
    client = make_client(
        spool_path=spool,
        spool_max_bytes=1024 * 1024,
        base_url=unused_port_url(),
        on_drop=lambda event, reason: drops.append(reason),
    )
    said = [client.track("E", user_id="u", properties={"b": "x" * 5_000}) for _ in range(400)]
    client.shutdown(timeout=0)
    kept = said.count(True)
    assert 0 < kept < 400
    # Yes meant stored: nothing the caller was told yes for was dropped later.
    assert client.analytics_stats.dropped_by_reason == {"spool_full": 400 - kept}
    assert drops == ["spool_full"] * (400 - kept)
    assert inspect_spool(spool)["pending_events"] == kept
    # The documented margin: the file may pass the bound by at most a few pages.
    assert os.path.getsize(spool) <= 1024 * 1024 + 16 * 4096


@pytest.mark.parametrize("mode", ["group", "sync"])
def test_pending_never_counts_more_than_was_tracked(
    make_client: Callable[..., Client], tmp_path: Path, mode: str
) -> None:
    client = make_client(
        spool_path=str(tmp_path / "spool.db"),
        spool_mode=mode,
        base_url=unused_port_url(),
        batch_max_retries=0,
        flush_at=100,
        flush_interval=0.01,
    )
    tracked = 0
    done = threading.Event()
    wrong: Set[str] = set()

    def read() -> None:
        while not done.is_set():
            stats = client.analytics_stats.pending
            health = client.analytics_health().pending
            # One call may be under way: it can be counted before `tracked` grows.
            most = tracked + 1
            if stats > most or health > most:
                wrong.add(f"pending {stats}/{health} with {most} tracked")

    reader = threading.Thread(target=read)
    reader.start()
    count = 1003 if mode == "group" else 303
    for n in range(count):
        assert client.track("E", user_id="u", properties={"n": n})
        tracked += 1
    right_after = (client.analytics_stats.pending, client.analytics_health().pending)
    done.set()
    reader.join()
    assert not wrong, sorted(wrong)[:5]
    assert right_after == (count, count)


def test_a_client_joining_a_shared_spool_counts_what_another_process_added(
    server: LoopbackServer, make_client: Callable[..., Client], tmp_path: Path
) -> None:
    spool = str(tmp_path / "spool.db")
    down = unused_port_url()
    first = make_client(spool_path=spool, base_url=down)
    assert first.track("E", user_id="u", properties={"n": 0})
    first.shutdown(timeout=0)
    subprocess.run(
        [
            sys.executable,
            "-c",
            "from teleflow_py import Client\n"
            f"c = Client(api_key='k' * 12, base_url={down!r}, spool_path={spool!r},"
            " shutdown_timeout=0)\n"
            "for n in (1, 2, 3):\n"
            "    c.track('E', user_id='u', properties={'n': n})\n",
        ],
        check=True,
        timeout=120,
        env=dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parents[2])),
    )
    # Shares this process's spool with `first`, and counts the file afresh.
    second = make_client(spool_path=spool)
    assert second.analytics_stats.pending == 4
    assert second.flush(timeout=30).ok
    assert sorted(e["properties"]["n"] for e in server.delivered_events()) == [0, 1, 2, 3]
