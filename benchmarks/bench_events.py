"""Caller cost of ``trigger_event`` against a bare ``requests.Session.post``, in one run.

Both send the same JSON body with the same headers to the same loopback server (in a process
of its own, ``_loopback.py``) and parse the answer; the SDK also validates, mints an idempotency key, builds a Response and a result.
Calls alternate in rounds so that drift on a shared machine hits both sides alike.

    python benchmarks/bench_events.py            # 1,000 calls each, prints the ratio
    python benchmarks/bench_events.py --calls 3000

Target (issue 2): the SDK's median per call within 1.10x of the bare session.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
import uuid
from pathlib import Path
from typing import Callable, List

import requests

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _loopback import LoopbackServer
from _results import add_json_option, metric, write

from teleflow_py import Client


def time_calls(call: Callable[[int], None], start: int, count: int) -> List[float]:
    samples = []
    for i in range(start, start + count):
        began = time.perf_counter_ns()
        call(i)
        samples.append((time.perf_counter_ns() - began) / 1000.0)
    return samples


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=1000, help="calls per side (default 1000)")
    parser.add_argument("--rounds", type=int, default=10, help="alternating rounds")
    add_json_option(parser)
    args = parser.parse_args()

    server = LoopbackServer(kind="trigger")
    base_url = server.url
    api_key = "sk_bench_0123456789"
    client = Client(api_key=api_key, base_url=base_url)
    session = requests.Session()
    bare_headers = {
        "Authorization": f"ApiKey {api_key}",
        "Content-Type": "application/json",
        "Accept": "application/json",
    }

    def sdk(i: int) -> None:
        client.trigger_event("welcome", "subscriber-1", payload={"i": i, "plan": "pro"})

    def bare(i: int) -> None:
        body = json.dumps(
            {"name": "welcome", "to": "subscriber-1", "payload": {"i": i, "plan": "pro"}}
        )
        headers = dict(bare_headers, **{"Idempotency-Key": str(uuid.uuid4())})
        answer = session.post(
            base_url + "/v1/events/trigger", data=body, headers=headers, timeout=(10, 30)
        )
        answer.raise_for_status()
        answer.json()

    for warm in (sdk, bare):
        time_calls(warm, 0, 50)
    per_round = max(1, args.calls // args.rounds)
    sdk_samples: List[float] = []
    bare_samples: List[float] = []
    for round_number in range(args.rounds):
        first, second = (sdk, bare) if round_number % 2 == 0 else (bare, sdk)
        a = time_calls(first, round_number * per_round, per_round)
        b = time_calls(second, round_number * per_round, per_round)
        (sdk_samples if first is sdk else bare_samples).extend(a)
        (bare_samples if first is sdk else sdk_samples).extend(b)

    sdk_median = statistics.median(sdk_samples)
    bare_median = statistics.median(bare_samples)
    ratio = sdk_median / bare_median
    print(f"calls per side        {len(sdk_samples)}")
    print(f"bare Session.post     median {bare_median:8.1f} us/call")
    print(f"Client.trigger_event  median {sdk_median:8.1f} us/call")
    print(
        f"ratio sdk/bare        {ratio:.3f}  (target <= 1.10: {'PASS' if ratio <= 1.10 else 'FAIL'})"
    )
    client.close()
    server.close()
    write(
        args.json,
        "events",
        [
            metric("trigger_event median", sdk_median, "us"),
            metric("trigger_event median", bare_median, "us", sdk="requests.Session.post"),
            metric(
                "trigger_event vs bare Session.post",
                ratio,
                "x",
                ratio=ratio,
                limit=1.10,
                target="<= 1.10x bare requests",
            ),
        ],
        calls=len(sdk_samples),
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
