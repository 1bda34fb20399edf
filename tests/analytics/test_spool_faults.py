"""The spool under injected storage faults: every write path of the spool, every fault kind.

Each run tracks, flushes, meets retries and a 413 split (so batches are formed, claimed,
released, split, acknowledged) while the writes numbered ``start`` to ``start + 24`` fail
with one kind of fault (see ``storage_faults.py``), beginning at the spool's creation, at
its first commits and later while batches are settled. Whatever the timing, the promise
holds:

* every event ``track()`` said ``True`` for reaches the server, and under one idempotency
  key only (a batch sent again keeps its key, so the server processes it once);
* every event ``track()`` said ``False`` for is counted as dropped with its reason and was
  passed to ``on_drop``; in ``spool_mode="sync"`` the reason is ``"spool_error"``, and in
  group mode nothing is refused (what the file cannot take waits in memory);
* the fault is reported once (one warning, and ``analytics_health().spool_problem``),
  and the spool resumes by itself once writes work again.
"""

from __future__ import annotations

import logging
import time
from collections import defaultdict
from pathlib import Path
from typing import Callable, Dict, List, Set, Tuple

import pytest
from loopback import LoopbackServer, fast_retry
from storage_faults import KINDS, Plan, install

from teleflow_py import Client

EVENTS = 200
# A guard against a hang only; nothing asserts how long anything took.
GUARD = 60.0


@pytest.mark.parametrize("start", [1, 6, 20, 60])
@pytest.mark.parametrize("mode", ["group", "sync"])
@pytest.mark.parametrize("kind", KINDS)
def test_each_fault_keeps_the_promise(
    server: LoopbackServer,
    make_client: Callable[..., Client],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    kind: str,
    mode: str,
    start: int,
) -> None:
    plan = Plan(kind, start=start, count=25)
    install(monkeypatch, plan)
    server.batch_event_limit = 30  # bigger batches are split (413) inside the spool
    server.fail_next(2, 503, headers=fast_retry())
    drops: List[Tuple[int, str]] = []
    problems: Set[str] = set()
    accepted: Set[int] = set()
    refused: Set[int] = set()
    with caplog.at_level(logging.WARNING, logger="teleflow_py"):
        client = make_client(
            spool_path=str(tmp_path / "spool.db"),
            spool_mode=mode,
            flush_at=20,
            on_drop=lambda event, reason: drops.append((event["properties"]["n"], reason)),
        )
        for n in range(EVENTS):
            (accepted if client.track("e", user_id="u", properties={"n": n}) else refused).add(n)
            problem = client.analytics_health().spool_problem
            if problem:
                problems.add(problem)
            if n % 50 == 49:
                client.flush(timeout=30)
        client.flush(timeout=30)
        # Resumed by itself (the probe); then what waited is sent.
        wait_until(lambda: client.analytics_health().spool_problem is None, "the spool to resume")
        client.flush(timeout=30)
        stats = client.analytics_stats
    assert plan.failed > 0, "the fault never hit a write"
    assert problems, "the fault never showed in analytics_health()"
    assert stats.pending == 0

    delivered: Dict[int, Set[str]] = defaultdict(set)
    for request in server.answered():
        for event in request["body"]["events"]:
            delivered[event["properties"]["n"]].add(request["headers"]["x-idempotency-key"])
    assert set(delivered) == accepted
    assert all(len(keys) == 1 for keys in delivered.values()), "an event went out twice"
    assert sum(stats.dropped_by_reason.values()) == len(refused)
    assert {n for n, _ in drops} == refused
    if mode == "group":
        assert not refused
    else:
        assert set(stats.dropped_by_reason) <= {"spool_error"}
    reported = [r for r in caplog.records if "until it can" in r.getMessage()]
    assert len(reported) == 1, [r.getMessage() for r in reported]


def wait_until(condition: Callable[[], bool], what: str) -> None:
    end = time.monotonic() + GUARD
    while not condition():
        if time.monotonic() > end:
            raise AssertionError(f"gave up waiting for {what}")
        time.sleep(0.02)
