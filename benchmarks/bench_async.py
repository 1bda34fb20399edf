"""AsyncClient.trigger_event against raw aiohttp, on the same loopback server, in one run.

The raw side is the same trigger hand-written as a user would with aiohttp alone: one
``ClientSession`` (default connector, no per-request environment lookup), ``session.post``
with the JSON body and the SDK's headers, the answer read and parsed. Both send to the same
loopback server (a process of its own, ``_loopback.py``), one call at a time, and each call
is timed; rounds alternate so that drift on a shared machine hits both alike. Then 1,000
triggers are started at once from one event loop, on each side, three times, and the
median times compared; every one must succeed.

    python benchmarks/bench_async.py                # 2,000 calls each
    python benchmarks/bench_async.py --calls 3000 --json /tmp/async.json

Targets (issue 14): the AsyncClient median at most 1.15x raw aiohttp's; 1,000 concurrent
AsyncClient triggers at most 1.15x raw aiohttp's time, all processed.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import time
import uuid
from pathlib import Path
from typing import Any, Awaitable, Callable, Dict, List

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _loopback import LoopbackServer
from _results import add_json_option, metric, write

from teleflow_py import AsyncClient

LIMIT = 1.15
API_KEY = "sk_bench_0123456789"

Trigger = Callable[[int], Awaitable[bool]]


def raw_trigger(session: aiohttp.ClientSession, url: str) -> Trigger:
    """The trigger as a user would write it with aiohttp: post, read, parse, check."""
    headers = {
        "Authorization": f"ApiKey {API_KEY}",
        "Content-Type": "application/json",
        "Accept": "application/json",
    }

    async def trigger(i: int) -> bool:
        body = {"name": "welcome", "to": "subscriber-1", "payload": {"i": i, "plan": "pro"}}
        sent = dict(headers, **{"Idempotency-Key": str(uuid.uuid4())})
        async with session.post(
            url + "/v1/events/trigger", data=json.dumps(body).encode(), headers=sent
        ) as answer:
            data: Dict[str, Any] = json.loads(await answer.read())
            return answer.status == 201 and data["data"]["status"] == "processed"

    return trigger


def sdk_trigger(client: AsyncClient) -> Trigger:
    async def trigger(i: int) -> bool:
        result = await client.trigger_event(
            "welcome", "subscriber-1", payload={"i": i, "plan": "pro"}
        )
        return result.ok

    return trigger


async def sequential(trigger: Trigger, start: int, count: int) -> List[float]:
    samples = []
    for i in range(start, start + count):
        began = time.perf_counter_ns()
        if not await trigger(i):
            raise SystemExit(f"call {i} was not processed")
        samples.append((time.perf_counter_ns() - began) / 1000.0)
    return samples


async def concurrent(trigger: Trigger, count: int) -> float:
    """Seconds for ``count`` triggers started at once; raises if any fails."""
    began = time.perf_counter()
    results = await asyncio.gather(*(trigger(i) for i in range(count)))
    elapsed = time.perf_counter() - began
    failed = [ok for ok in results if not ok]
    if failed:
        raise SystemExit(f"{len(failed)} of {count} concurrent triggers were not processed")
    return elapsed


async def measure(url: str, calls: int, rounds: int, at_once: int) -> Dict[str, Any]:
    session = aiohttp.ClientSession()
    client = AsyncClient(api_key=API_KEY, base_url=url)
    sides = {"raw": raw_trigger(session, url), "sdk": sdk_trigger(client)}
    samples: Dict[str, List[float]] = {"raw": [], "sdk": []}
    bursts: Dict[str, List[float]] = {"raw": [], "sdk": []}
    try:
        for trigger in sides.values():
            await sequential(trigger, 0, 100)  # warm up: connections, caches
        per_round = max(1, calls // rounds)
        for number in range(rounds):
            order = ["raw", "sdk"] if number % 2 == 0 else ["sdk", "raw"]
            for side in order:
                samples[side] += await sequential(sides[side], number * per_round, per_round)
        for number in range(3):
            order = ["raw", "sdk"] if number % 2 == 0 else ["sdk", "raw"]
            for side in order:
                bursts[side].append(await concurrent(sides[side], at_once))
    finally:
        await client.close()
        await session.close()
    return {"samples": samples, "bursts": bursts}


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--calls", type=int, default=2000, help="calls per side (default 2000)")
    parser.add_argument("--rounds", type=int, default=10, help="alternating rounds")
    parser.add_argument("--concurrent", type=int, default=1000, help="triggers at once")
    add_json_option(parser)
    args = parser.parse_args()

    server = LoopbackServer(kind="trigger")
    try:
        measured = asyncio.run(measure(server.url, args.calls, args.rounds, args.concurrent))
    finally:
        server.close()

    raw_median = statistics.median(measured["samples"]["raw"])
    sdk_median = statistics.median(measured["samples"]["sdk"])
    ratio = sdk_median / raw_median
    raw_burst = statistics.median(measured["bursts"]["raw"])
    sdk_burst = statistics.median(measured["bursts"]["sdk"])
    burst_ratio = sdk_burst / raw_burst

    def verdict(value: float) -> str:
        return "PASS" if value <= LIMIT else "FAIL"

    calls = len(measured["samples"]["sdk"])
    print(f"calls per side                     {calls}")
    print(f"raw aiohttp session.post           median {raw_median:8.1f} us/call")
    print(f"AsyncClient.trigger_event          median {sdk_median:8.1f} us/call")
    print(f"ratio sequential AsyncClient/raw   {ratio:.3f}  (target <= {LIMIT}: {verdict(ratio)})")
    print(f"{args.concurrent} concurrent, raw aiohttp       {raw_burst:.3f} s (median of 3)")
    print(f"{args.concurrent} concurrent, AsyncClient       {sdk_burst:.3f} s (median of 3)")
    print(
        f"ratio concurrent AsyncClient/raw   {burst_ratio:.3f}  "
        f"(target <= {LIMIT}: {verdict(burst_ratio)}); all processed"
    )
    write(
        args.json,
        "async",
        [
            metric("raw aiohttp trigger median", raw_median, "us", sdk="aiohttp"),
            metric(
                "AsyncClient.trigger_event median",
                sdk_median,
                "us",
                ratio=ratio,
                limit=LIMIT,
                target=f"<= {LIMIT}x raw aiohttp",
            ),
            metric(f"{args.concurrent} concurrent raw aiohttp", raw_burst, "s", sdk="aiohttp"),
            metric(
                f"{args.concurrent} concurrent AsyncClient triggers",
                sdk_burst,
                "s",
                ratio=burst_ratio,
                limit=LIMIT,
                target=f"<= {LIMIT}x raw aiohttp",
            ),
        ],
        calls=calls,
        concurrent=args.concurrent,
    )
    return 0 if ratio <= LIMIT and burst_ratio <= LIMIT else 1


if __name__ == "__main__":
    raise SystemExit(main())
