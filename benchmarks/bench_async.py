"""AsyncClient.trigger_event against the sync Client's, on the same loopback server, in one run.

Both clients send the same trigger to the same loopback server (a process of its own,
``_loopback.py``), one call at a time, and time each call; rounds alternate so that drift
on a shared machine hits both alike. Then 1,000 triggers are started at once from one
event loop and must all succeed.

    python benchmarks/bench_async.py                # 1,000 calls each, prints the ratio
    python benchmarks/bench_async.py --calls 3000 --json /tmp/async.json

Target (issue 8): the async median within 1.5x of the sync client's; 1,000 concurrent
triggers from one loop finish without error.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from pathlib import Path
from typing import List

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _loopback import LoopbackServer
from _results import add_json_option, metric, write

from teleflow_py import AsyncClient, Client

LIMIT = 1.5
API_KEY = "sk_bench_0123456789"


def sync_round(client: Client, start: int, count: int) -> List[float]:
    samples = []
    for i in range(start, start + count):
        began = time.perf_counter_ns()
        client.trigger_event("welcome", "subscriber-1", payload={"i": i, "plan": "pro"})
        samples.append((time.perf_counter_ns() - began) / 1000.0)
    return samples


async def async_round(client: AsyncClient, start: int, count: int) -> List[float]:
    samples = []
    for i in range(start, start + count):
        began = time.perf_counter_ns()
        await client.trigger_event("welcome", "subscriber-1", payload={"i": i, "plan": "pro"})
        samples.append((time.perf_counter_ns() - began) / 1000.0)
    return samples


async def concurrent(client: AsyncClient, count: int) -> float:
    """Seconds for ``count`` triggers started at once; raises if any fails."""
    began = time.perf_counter()
    results = await asyncio.gather(
        *(client.trigger_event("welcome", f"subscriber-{i}") for i in range(count))
    )
    elapsed = time.perf_counter() - began
    failed = [result for result in results if not result.ok]
    if failed:
        raise SystemExit(f"{len(failed)} of {count} concurrent triggers were not processed")
    return elapsed


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--calls", type=int, default=1000, help="calls per side (default 1000)")
    parser.add_argument("--rounds", type=int, default=10, help="alternating rounds")
    parser.add_argument("--concurrent", type=int, default=1000, help="triggers at once")
    add_json_option(parser)
    args = parser.parse_args()

    server = LoopbackServer(kind="trigger")
    loop = asyncio.new_event_loop()
    sync_client = Client(api_key=API_KEY, base_url=server.url)
    async_client = AsyncClient(api_key=API_KEY, base_url=server.url)
    try:
        sync_round(sync_client, 0, 50)
        loop.run_until_complete(async_round(async_client, 0, 50))
        per_round = max(1, args.calls // args.rounds)
        sync_samples: List[float] = []
        async_samples: List[float] = []
        for number in range(args.rounds):
            start = number * per_round
            if number % 2 == 0:
                sync_samples += sync_round(sync_client, start, per_round)
                async_samples += loop.run_until_complete(
                    async_round(async_client, start, per_round)
                )
            else:
                async_samples += loop.run_until_complete(
                    async_round(async_client, start, per_round)
                )
                sync_samples += sync_round(sync_client, start, per_round)
        burst = loop.run_until_complete(concurrent(async_client, args.concurrent))
    finally:
        loop.run_until_complete(async_client.close())
        loop.close()
        sync_client.close()
        server.close()

    sync_median = statistics.median(sync_samples)
    async_median = statistics.median(async_samples)
    ratio = async_median / sync_median
    verdict = "PASS" if ratio <= LIMIT else "FAIL"
    print(f"calls per side              {len(sync_samples)}")
    print(f"Client.trigger_event        median {sync_median:8.1f} us/call")
    print(f"AsyncClient.trigger_event   median {async_median:8.1f} us/call")
    print(f"ratio async/sync            {ratio:.3f}  (target <= {LIMIT}: {verdict})")
    print(f"{args.concurrent} concurrent triggers  {burst:.2f} s, all processed")
    write(
        args.json,
        "async",
        [
            metric("Client.trigger_event median", sync_median, "us"),
            metric(
                "AsyncClient.trigger_event median",
                async_median,
                "us",
                ratio=ratio,
                limit=LIMIT,
                target=f"<= {LIMIT}x the sync client",
            ),
            metric(f"{args.concurrent} concurrent AsyncClient triggers", burst, "s"),
        ],
        calls=len(sync_samples),
        concurrent=args.concurrent,
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
