"""Caller cost of ``trigger_event`` against the peer SDKs' trigger call, in one run.

The same trigger (name, subscriber, payload) goes through ``teleflow_py`` and through each
installed peer with an equivalent call (``novu``: ``EventApi.trigger``), to the same loopback
server (``_loopback.py``, a process of its own), each as a new user would create it. Calls
alternate in rounds so that drift on a shared machine hits every side alike; the median
microseconds per call is reported, and each peer's ratio to ``teleflow_py``.

    python benchmarks/bench_events_peers.py               # 1,000 calls per SDK
    python benchmarks/bench_events_peers.py --calls 3000 --json out.json

Peers are run when installed: ``pip install novu``. Without any, only ``teleflow_py`` runs.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path
from typing import Any, Callable, Dict, List

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _loopback import LoopbackServer
from _results import add_json_option, metric, write

from teleflow_py import Client

API_KEY = "sk_bench_0123456789"
Call = Callable[[int], Any]


def make_teleflow(url: str) -> Call:
    client = Client(api_key=API_KEY, base_url=url)
    return lambda i: client.trigger_event("welcome", "subscriber-1", payload={"i": i})


def make_novu(url: str) -> Call:
    from novu.api import EventApi  # type: ignore[import-not-found]

    events = EventApi(url=url, api_key=API_KEY)
    return lambda i: events.trigger("welcome", "subscriber-1", payload={"i": i})


PEERS: Dict[str, Callable[[str], Call]] = {"novu": make_novu}


def installed(module: str) -> bool:
    try:
        __import__(module)
    except ImportError:
        return False
    return True


def time_calls(call: Call, start: int, count: int) -> List[float]:
    samples = []
    for i in range(start, start + count):
        began = time.perf_counter_ns()
        call(i)
        samples.append((time.perf_counter_ns() - began) / 1000.0)
    return samples


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=1000, help="calls per SDK (default 1000)")
    parser.add_argument("--rounds", type=int, default=10, help="alternating rounds")
    add_json_option(parser)
    args = parser.parse_args()

    server = LoopbackServer(kind="trigger")
    makers = {"teleflow_py": make_teleflow}
    makers.update({name: maker for name, maker in PEERS.items() if installed(name)})
    calls = {name: maker(server.url) for name, maker in makers.items()}
    for call in calls.values():
        time_calls(call, 0, 50)  # warm up: connections, imports, caches
    per_round = max(1, args.calls // args.rounds)
    samples: Dict[str, List[float]] = {name: [] for name in calls}
    order = list(calls)
    for round_number in range(args.rounds):
        for name in order if round_number % 2 == 0 else reversed(order):
            samples[name].extend(time_calls(calls[name], round_number * per_round, per_round))
    server.close()

    ours = statistics.median(samples["teleflow_py"])
    print(f"calls per SDK {per_round * args.rounds}; peers: {', '.join(order[1:]) or 'none'}")
    print(f"{'sdk':<14}{'median us/call':>16}{'vs teleflow_py':>16}")
    metrics = []
    for name in order:
        median = statistics.median(samples[name])
        print(f"{name:<14}{median:>16.1f}{median / ours:>15.2f}x")
        metrics.append(
            metric(
                "trigger_event median",
                median,
                "us",
                sdk=name,
                ratio=None if name == "teleflow_py" else median / ours,
            )
        )
    write(args.json, "events_peers", metrics, calls=per_round * args.rounds, rounds=args.rounds)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
