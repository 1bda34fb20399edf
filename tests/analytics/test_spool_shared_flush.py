"""flush() with a spool shared by several clients of one process, its windows held open.

Any worker of the clients sharing a spool takes the next batch from it, whichever client
tracked the events. Two windows once let ``flush()`` return with such a batch unanswered
(one run in five of the three-client test in ``test_spool_files.py``):

* the batch was in flight on another client's worker, and the flush waited for its own
  worker only, which found nothing to take;
* the answer had come and the batch had left the pending count, but it was not yet in the
  totals: a flush starting then saw nothing pending and returned at once.

Here each window is held open by the test (the server holds the answer; another SQLite
connection holds the spool's write lock), with the client's default settings.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from pathlib import Path
from typing import Any, Callable, Dict

from loopback import HANG_GUARD, LoopbackServer

from teleflow_py import Client, ClientConfig
from teleflow_py.analytics import inspect_spool

DEFAULTS: Dict[str, Any] = {
    "flush_interval": ClientConfig.flush_interval,
    "shutdown_timeout": ClientConfig.shutdown_timeout,
}
# flush_at events make a client's worker send a batch by itself, with no flush asked.
BATCH = ClientConfig.flush_at


def _track_a_batch(client: Client) -> None:
    for n in range(BATCH):
        assert client.track("E", user_id="u", properties={"n": n})


def test_a_flush_waits_for_the_batch_another_clients_worker_is_sending(
    server: LoopbackServer, make_client: Callable[..., Client], tmp_path: Path
) -> None:
    spool = str(tmp_path / "spool.db")
    release = server.hold_answers()
    sender = make_client(spool_path=spool, **DEFAULTS)
    flusher = make_client(spool_path=spool, **DEFAULTS)
    _track_a_batch(sender)
    # The sender's worker took the whole batch and sent it; its answer is held.
    server.wait_for_requests(1)
    seen: Dict[str, Any] = {}

    def flush() -> None:
        seen["result"] = flusher.flush()
        seen["answered before it returned"] = release.is_set()
        seen["accepted"] = sender.analytics_stats.accepted

    flushing = threading.Thread(target=flush)
    flushing.start()
    try:
        # The flusher's own worker has done this flush (it found nothing to take): where
        # the flush used to return.
        end = time.monotonic() + HANG_GUARD
        while flusher._batcher._flush_done < 1:
            assert time.monotonic() < end, "the flusher's worker never flushed"
            time.sleep(0.01)
        flushing.join(0.5)
        assert flushing.is_alive(), "flush() returned with the batch still in flight"
    finally:
        release.set()
    flushing.join(HANG_GUARD)
    assert not flushing.is_alive()
    assert seen["answered before it returned"]
    assert seen["result"].pending == 0 and seen["accepted"] == BATCH
    # The events are counted where they were sent: on the sender's totals.
    assert seen["result"].accepted == 0
    assert inspect_spool(spool)["pending_events"] == 0
    assert len(server.deliveries()) == BATCH and set(server.deliveries().values()) == {1}


def test_a_batch_leaves_the_pending_count_only_once_its_answer_is_counted(
    server: LoopbackServer, make_client: Callable[..., Client], tmp_path: Path
) -> None:
    spool = str(tmp_path / "spool.db")
    release = server.hold_answers()
    client = make_client(spool_path=spool, **DEFAULTS)
    other = make_client(spool_path=spool, **DEFAULTS)
    _track_a_batch(client)
    server.wait_for_requests(1)
    # Another connection holds the spool's write lock: the worker cannot record the answer
    # in the file (deleting the batch) until it lets go, and waits there.
    blocker = sqlite3.connect(spool, timeout=HANG_GUARD, isolation_level=None)
    blocker.execute("BEGIN IMMEDIATE")
    try:
        release.set()
        end = time.monotonic() + HANG_GUARD
        while True:
            stats = client.analytics_stats
            if stats.pending < BATCH or stats.accepted:
                break
            assert time.monotonic() < end, "the answer never reached the client"
            time.sleep(0.01)
        # In the pending count or in the totals, never in neither (a flush starting now
        # would see nothing pending and return before the answer is counted).
        assert stats.accepted == BATCH
        assert stats.pending in (0, BATCH)
        if stats.pending == 0:
            result = other.flush()
            assert result.pending == 0 and client.analytics_stats.accepted == BATCH
    finally:
        blocker.execute("ROLLBACK")
        blocker.close()
    assert client.flush().ok
    assert inspect_spool(spool)["pending_events"] == 0
