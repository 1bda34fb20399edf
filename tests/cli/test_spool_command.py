"""``teleflow spool PATH``: what a durable analytics spool holds, and --retry-dead (issue 7).

The spools are made by real clients against the emulator: one left with dead letters (a
batch the server refused for good), one left with events the server never received.
"""

from __future__ import annotations

import hashlib
import os
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Dict

import pytest

from teleflow_py import Client
from teleflow_py.emulator import Emulator

from .conftest import API_KEY, Runner

BATCH = "/v1/events/batch"


def _client(emulator: Emulator, spool: Path) -> Client:
    return Client(
        api_key=API_KEY,
        base_url=emulator.url,
        spool_path=str(spool),
        register_atexit=False,
        shutdown_timeout=1,
    )


def test_dead_letters_are_shown_then_requeued_and_delivered(
    cli: Runner, emulator: Emulator, tmp_path: Path
) -> None:
    spool = tmp_path / "teleflow.db"
    emulator.fail_next(1, 400, path=BATCH)  # refused for good: a dead letter
    with _client(emulator, spool) as client:
        for i in range(3):
            client.track("signed_up", user_id=f"u-{i}")
        client.flush(timeout=10)
    assert emulator.events() == []

    shown = cli("spool", str(spool), "--json")
    assert shown.code == 0, shown.err
    assert shown.json["dead_letters"] == 3
    assert shown.json["pending_events"] == 0
    human = cli("spool", str(spool))
    assert "dead letters     3" in human.out

    requeued = cli("spool", str(spool), "--retry-dead", "--json")
    assert requeued.code == 0, requeued.err
    assert requeued.json["requeued_dead_letters"] == 3
    assert requeued.json["dead_letters"] == 0
    assert requeued.json["pending_events"] == 3

    # The next client on the spool sends them: each once, under its first message_id.
    with _client(emulator, spool) as client:
        client.flush(timeout=10)
    assert sorted(e["user_id"] for e in emulator.events()) == ["u-0", "u-1", "u-2"]
    assert cli("spool", str(spool), "--json").json["pending_events"] == 0


def test_events_left_by_an_outage_are_pending_with_their_age(
    cli: Runner, emulator: Emulator, tmp_path: Path
) -> None:
    spool = tmp_path / "teleflow.db"
    emulator.go_down()
    with _client(emulator, spool) as client:
        client.track("page_viewed", user_id="u-1")
        client.track("page_viewed", user_id="u-2")
    shown = cli("spool", str(spool), "--json")
    assert shown.code == 0, shown.err
    assert shown.json["pending_events"] == 2
    assert shown.json["oldest_age_seconds"] >= 0
    assert shown.json["dead_letters"] == 0


def test_a_missing_or_foreign_file_is_one_line_and_exit_2(cli: Runner, tmp_path: Path) -> None:
    missing = cli("spool", str(tmp_path / "nope.db"))
    assert missing.code == 2
    assert missing.err_lines == [f"teleflow: error: {tmp_path / 'nope.db'}: no such spool file"]
    garbage = tmp_path / "garbage.db"
    garbage.write_bytes(b"this is not an sqlite file" * 100)
    foreign = cli("spool", str(garbage), "--json")
    assert foreign.code == 2
    assert len(foreign.err_lines) == 1 and "not a readable spool" in foreign.err
    assert foreign.json["ok"] is False


def _snapshot(folder: Path) -> Dict[str, str]:
    """Every file of ``folder`` (names and contents), to show nothing was written."""
    return {
        path.name: hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(folder.iterdir())
        if path.is_file() and not path.is_symlink()
    }


def _app_db(path: Path) -> None:
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE users (id INTEGER PRIMARY KEY, email TEXT)")
    conn.execute("INSERT INTO users (email) VALUES ('a@example.com')")
    conn.commit()
    conn.close()


@pytest.mark.parametrize("what", ["app-db", "symlink", "empty", "garbage"])
@pytest.mark.parametrize("retry", [False, True])
def test_a_file_that_is_not_a_spool_is_never_written(
    cli: Runner, tmp_path: Path, what: str, retry: bool
) -> None:
    path = tmp_path / "app.db"
    if what == "empty":
        path.touch()
    elif what == "garbage":
        path.write_bytes(b"not sqlite" * 100)
    else:
        _app_db(path)
    if what == "symlink":
        (tmp_path / "link.db").symlink_to(path)
        path = tmp_path / "link.db"
    before = _snapshot(tmp_path)
    ran = cli("spool", str(path), *(["--retry-dead"] if retry else []))
    assert ran.code == 2
    assert len(ran.err_lines) == 1 and "not a readable spool" in ran.err
    assert _snapshot(tmp_path) == before


def test_inspecting_a_spool_reads_only(cli: Runner, emulator: Emulator, tmp_path: Path) -> None:
    spool = tmp_path / "teleflow.db"
    emulator.go_down()
    # Left by a process that ended (its -wal and -shm files remain next to it).
    subprocess.run(
        [
            sys.executable,
            "-c",
            "from teleflow_py import Client\n"
            f"c = Client(api_key='k' * 12, base_url={emulator.url!r}, spool_path={str(spool)!r},"
            " shutdown_timeout=0)\n"
            "c.track('page_viewed', user_id='u-1')\n",
        ],
        check=True,
        timeout=120,
        env=dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parents[2])),
    )
    before = _snapshot(tmp_path)
    shown = cli("spool", str(spool), "--json")
    assert shown.code == 0, shown.err
    assert shown.json["pending_events"] == 1
    # No file made, not a byte of the spool or its -wal changed. The -shm is SQLite's
    # shared-memory index, which every reader (mode=ro too) uses to coordinate with a
    # live writer; it holds no data.
    after = _snapshot(tmp_path)
    assert sorted(after) == sorted(before)
    assert {n: d for n, d in after.items() if not n.endswith("-shm")} == {
        n: d for n, d in before.items() if not n.endswith("-shm")
    }
