"""How soon an event is in the spool file after ``track()`` returns (docs/analytics.rst: 0.3 s).

Run from the repository root::

    python3 benchmarks/bench_spool_latency.py             # 200 events per mode
    python3 benchmarks/bench_spool_latency.py --events 500

For each spool mode, a client with default settings apart from ``spool_path`` and
``spool_mode`` tracks events one at a time, against a server that is down (so every event
stays in the file). After each ``track()`` returns, another connection polls the file
(``inspect_spool``, a read of the committed rows, every 0.5 ms) until the event is there;
the time from the return to the first poll that sees it is the event's latency. Nothing
asks the client to commit: in ``group`` mode its writer thread commits by itself, in
``sync`` mode ``track()`` commits before it returns (so its latency is the poll's own).
The verdict is the largest latency against the documented 0.3 s.
"""

from __future__ import annotations

import argparse
import logging
import socket
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import List

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from teleflow_py import Client
from teleflow_py.analytics import inspect_spool

API_KEY = "sk_test_0123456789abcdef"
PROMISE = 0.3  # seconds, docs/analytics.rst
POLL = 0.0005


def down_url() -> str:
    """A URL on a port nothing listens on: every delivery fails and the events stay."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{probe.getsockname()[1]}"


def latencies(mode: str, events: int, folder: Path) -> List[float]:
    spool = str(folder / f"{mode}.db")
    client = Client(
        api_key=API_KEY,
        base_url=down_url(),
        spool_path=spool,
        spool_mode=mode,
        register_atexit=False,
    )
    seen: List[float] = []
    try:
        for n in range(1, events + 1):
            assert client.track("Latency", user_id="u", properties={"n": n})
            returned = time.perf_counter()
            while inspect_spool(spool)["pending_events"] < n:
                time.sleep(POLL)
            seen.append(time.perf_counter() - returned)
    finally:
        client.shutdown(timeout=0)
    return seen


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=200, help="events per mode")
    args = parser.parse_args()
    logging.getLogger("teleflow_py").setLevel(logging.CRITICAL)  # the server is down
    worst = 0.0
    with tempfile.TemporaryDirectory() as folder:
        for mode in ("group", "sync"):
            seen = sorted(latencies(mode, args.events, Path(folder)))
            p99 = seen[max(0, int(len(seen) * 0.99) - 1)]
            worst = max(worst, seen[-1])
            print(
                f"{mode:5}  events {len(seen)}  median {statistics.median(seen) * 1000:6.1f} ms"
                f"  p99 {p99 * 1000:6.1f} ms  max {seen[-1] * 1000:6.1f} ms"
            )
    verdict = "PASS" if worst <= PROMISE else "FAIL"
    print(f"largest latency {worst * 1000:.1f} ms (documented: within {PROMISE} s): {verdict}")
    return 0 if verdict == "PASS" else 1


if __name__ == "__main__":
    sys.exit(main())
