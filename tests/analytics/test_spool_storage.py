"""The spool against real storage faults, in child processes where the fault needs one.

* A file-size limit (``RLIMIT_FSIZE``, 200 KB; ``SIGXFSZ`` ignored so writes fail with
  ``EFBIG``) with 5,000 ``track()`` calls in each mode, default settings apart from
  ``spool_path``: the events ``track()`` said yes to are exactly those the server
  receives (in that process or the next one on the spool), and every other event is
  counted as dropped with a reason.
* ``chmod`` of the spool file and of its folder, in a child bound by file modes: root
  ignores them, so as root the child runs without the capabilities that override them
  (``setpriv --bounding-set=-dac_override,-dac_read_search``). It stays root and can load
  the interpreter wherever it lives (a user such as ``nobody`` cannot read ``/root/.pyenv``).
* The file removed while a client runs.
"""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
import tempfile
import textwrap
import time
from collections import defaultdict
from pathlib import Path
from typing import Any, Callable, Dict, Optional, Set

import pytest
from loopback import API_KEY, LoopbackServer, unused_port_url

from teleflow_py import Client
from teleflow_py.analytics import inspect_spool

REPO = Path(__file__).resolve().parents[2]
# A guard against a hung child only; nothing here asserts how long anything took.
GUARD = 180.0
SETPRIV = shutil.which("setpriv")


# As root, a child that file modes bind: without the capabilities that override them.
BOUND_BY_MODES = (
    [SETPRIV, "--bounding-set=-dac_override,-dac_read_search", "--"]
    if SETPRIV is not None and os.geteuid() == 0
    else []
)


def run_child(code: str, bound_by_modes: bool = False, cwd: str = "/") -> Dict[str, Any]:
    """Run ``code`` in a fresh interpreter; returns its last stdout line (JSON) and stderr."""
    command = [sys.executable, "-c", textwrap.dedent(code)]
    if bound_by_modes:
        command = [*BOUND_BY_MODES, *command]
    done = subprocess.run(
        command,
        capture_output=True,
        text=True,
        timeout=GUARD,
        cwd=cwd,
        env=dict(os.environ, PYTHONPATH=str(REPO)),
    )
    assert done.returncode == 0, done.stderr
    lines = done.stdout.strip().splitlines()
    result: Dict[str, Any] = json.loads(lines[-1]) if lines else {}
    result["stderr"] = done.stderr
    return result


def delivered_once(server: LoopbackServer) -> Set[int]:
    """The events the server received, each under a single idempotency key."""
    keys: Dict[int, Set[str]] = defaultdict(set)
    ids: Dict[int, Set[str]] = defaultdict(set)
    for request in server.answered():
        for event in request["body"]["events"]:
            keys[event["properties"]["n"]].add(request["headers"]["x-idempotency-key"])
            ids[event["properties"]["n"]].add(event["message_id"])
    twice = [n for n in keys if len(keys[n]) > 1 or len(ids[n]) > 1]
    assert not twice, f"sent twice under different keys: {twice[:10]}"
    return set(keys)


@pytest.mark.parametrize("mode", ["group", "sync"])
def test_a_file_size_limit_true_means_delivered_and_false_means_counted(
    server: LoopbackServer, tmp_path: Path, mode: str
) -> None:
    spool = str(tmp_path / "spool.db")
    # 5,000 events of about 500 bytes are 12 times the limit: the file fills.
    limited = run_child(
        f"""
        import json, resource, signal
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (200 * 1024, 200 * 1024))
        from teleflow_py import Client
        client = Client(api_key={API_KEY!r}, base_url={server.url!r}, spool_path={spool!r},
                        spool_mode={mode!r})
        said = {{"yes": [], "no": []}}
        for n in range(5000):
            ok = client.track("Limited", user_id="u", properties={{"n": n, "pad": "p" * 400}})
            said["yes" if ok else "no"].append(n)
        client.flush()
        stats = client.analytics_stats
        said["dropped"] = stats.dropped_by_reason
        said["fallback"] = stats.spool_fallback
        print(json.dumps(said), flush=True)
        """
    )
    # The next process on the same spool sends what the first left in the file.
    run_child(
        f"""
        from teleflow_py import Client
        Client(api_key={API_KEY!r}, base_url={server.url!r}, spool_path={spool!r}).close()
        """
    )
    yes, no = set(limited["yes"]), set(limited["no"])
    assert delivered_once(server) == yes
    assert sum(limited["dropped"].values()) == len(no)
    assert "Traceback" not in limited["stderr"]
    if mode == "sync":
        # Refused at once when the commit failed, never yes-then-lost.
        assert no and set(limited["dropped"]) <= {"spool_error"}
    else:
        # What the full file could not take waited in memory and was sent from there.
        assert not no and limited["fallback"] > 0
    assert inspect_spool(spool)["pending_events"] == 0


def _why_file_modes_cannot_bind_a_child() -> Optional[str]:
    """Why a child here would ignore a read-only file (None: file modes bind it)."""
    if os.geteuid() != 0:
        return None
    if SETPRIV is None:
        return "needs setpriv to run a child as root without the power to override file modes"
    folder = Path(tempfile.mkdtemp(prefix="teleflow-modes-"))
    try:
        probe = folder / "read-only"
        probe.write_text("")
        probe.chmod(0o444)
        tried = subprocess.run(
            [*BOUND_BY_MODES, sys.executable, "-c", f"open({str(probe)!r}, 'a')"],
            capture_output=True,
            text=True,
            timeout=GUARD,
            check=False,
        )
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    if "PermissionError" not in tried.stderr:
        return f"a child of root still writes a read-only file: {tried.stderr.strip()[-300:]}"
    return None


_MODES_DO_NOT_BIND = _why_file_modes_cannot_bind_a_child()
needs_file_modes = pytest.mark.skipif(
    _MODES_DO_NOT_BIND is not None, reason=_MODES_DO_NOT_BIND or ""
)


def tracks_then_reports(url: str, spool: str, first: int, count: int, mode: str = "group") -> str:
    return f"""
        import json
        from teleflow_py import Client
        client = Client(api_key={API_KEY!r}, base_url={url!r}, spool_path={spool!r},
                        spool_mode={mode!r})
        said = [client.track("E", user_id="u", properties={{"n": n}})
                for n in range({first}, {first + count})]
        result = client.flush(timeout=30)
        health = client.analytics_health()
        print(json.dumps({{"said": said, "problem": health.spool_problem,
                           "pending": result.pending,
                           "dropped": client.analytics_stats.dropped_by_reason}}), flush=True)
        """


@needs_file_modes
def test_a_read_only_spool_file_falls_back_to_memory_and_keeps_what_it_holds(
    server: LoopbackServer, tmp_path: Path
) -> None:
    spool = str(tmp_path / "spool.db")
    down = unused_port_url()
    run_child(tracks_then_reports(down, spool, 0, 30), bound_by_modes=True)
    assert inspect_spool(spool)["pending_events"] == 30
    os.chmod(spool, 0o444)
    before = Path(spool).read_bytes()

    seen = run_child(tracks_then_reports(server.url, spool, 100, 5), bound_by_modes=True)
    assert seen["said"] == [True] * 5
    assert "readonly" in (seen["problem"] or "")
    assert delivered_once(server) == set(range(100, 105))
    # The 30 stay in the file, said so on exit, and the file was not moved aside.
    assert Path(spool).read_bytes() == before
    assert "30 stay in the spool" in seen["stderr"]
    assert not [name for name in os.listdir(tmp_path) if ".corrupt-" in name]

    os.chmod(spool, 0o644)
    run_child(tracks_then_reports(server.url, spool, 200, 1), bound_by_modes=True)
    assert delivered_once(server) == set(range(100, 105)) | set(range(30)) | {200}


@needs_file_modes
def test_a_read_only_folder_refuses_in_sync_mode_and_resumes_when_writable(
    server: LoopbackServer, tmp_path: Path
) -> None:
    folder = tmp_path / "data"
    folder.mkdir()
    spool = str(folder / "spool.db")
    run_child(tracks_then_reports(server.url, spool, 0, 3, mode="sync"), bound_by_modes=True)
    folder.chmod(0o555)  # no -wal or -shm can be created now
    seen = run_child(
        tracks_then_reports(server.url, spool, 10, 4, mode="sync"), bound_by_modes=True
    )
    assert seen["said"] == [False] * 4
    assert seen["dropped"] == {"spool_error": 4}
    folder.chmod(0o755)
    again = run_child(
        tracks_then_reports(server.url, spool, 20, 2, mode="sync"), bound_by_modes=True
    )
    assert again["said"] == [True, True]
    assert delivered_once(server) == {0, 1, 2, 20, 21}


def test_the_file_removed_while_running_is_recreated_and_nothing_is_lost(
    server: LoopbackServer, make_client: Callable[..., Client], tmp_path: Path
) -> None:
    spool = str(tmp_path / "spool.db")
    client = make_client(spool_path=spool, spool_mode="sync", base_url=unused_port_url())
    for n in range(20):
        assert client.track("E", user_id="u", properties={"n": n})
    for suffix in ("", "-wal", "-shm"):
        os.remove(spool + suffix)
    # Noticed at the next commit: refused (sync mode), the old file's events read back.
    assert not client.track("E", user_id="u", properties={"n": 20})
    assert "was removed" in (client.analytics_health().spool_problem or "")
    # The probe starts a new spool at the path and writes them there.
    wait_until(lambda: client.analytics_health().spool_problem is None)
    said = [client.track("E", user_id="u", properties={"n": n}) for n in range(21, 40)]
    assert all(said)
    client.shutdown(timeout=0)
    client.close()
    # What the removed file held was read back and written to the new file.
    assert os.path.exists(spool)
    assert inspect_spool(spool)["pending_events"] == 20 + len(said)
    assert client.analytics_stats.dropped_by_reason == {"spool_error": 1}


def wait_until(condition: Callable[[], bool]) -> None:
    end = time.monotonic() + GUARD
    while not condition():
        assert time.monotonic() < end, "gave up waiting"
        time.sleep(0.02)


def test_new_files_are_0600_in_a_0700_folder(
    make_client: Callable[..., Client], tmp_path: Path
) -> None:
    spool = tmp_path / "made" / "by" / "sdk" / "spool.db"
    client = make_client(spool_path=str(spool), base_url=unused_port_url())
    client.track("E", user_id="u", properties={"n": 1})
    client.flush(timeout=0)
    client._batcher._queue.persist(force=True)  # type: ignore[union-attr]
    for suffix in ("", "-wal", "-shm"):
        assert stat.S_IMODE(os.stat(str(spool) + suffix).st_mode) == 0o600, suffix
    for folder in (spool.parent, spool.parent.parent, spool.parent.parent.parent):
        assert stat.S_IMODE(folder.stat().st_mode) == 0o700, folder
