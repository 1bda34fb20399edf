"""AsyncClient.trigger_event against raw aiohttp, on the same loopback server, in one run.

The raw side is the same trigger hand-written as a user would with aiohttp alone: one
``ClientSession`` (default connector, no per-request environment lookup), ``session.post``
with the JSON body and the SDK's headers, the answer read and parsed. Both send to the same
loopback server (a process of its own, ``_loopback.py``).

- **Sequential**: one call at a time, each timed, in 40 short rounds that alternate raw
  and SDK (raw, SDK, SDK, raw, ...). The verdict is the median over rounds of the ratio
  of the two sides' medians within a round: the rounds of a pair run back to back, so a
  busy moment of a shared machine weighs on both. The medians of all calls, and the
  process CPU time per call (``time.process_time``), are reported beside it.
- **Concurrent**: 1,000 triggers started at once from one event loop, one burst per side
  per round, the sides interleaved (raw, SDK, SDK, raw, ...), after one unmeasured burst
  each (which opens the connections). The verdict is the median over rounds of the ratio
  SDK / raw within a round: the two bursts of a round run back to back, so a slow moment of
  the machine weighs on both. Every trigger must succeed. The process CPU time per burst
  is reported beside it, and how often the garbage collector ran per burst: with 1,000
  calls in flight each object a call holds counts towards the next collection, and the
  collections (a full one walks every object of the process) were most of the gap.

    python benchmarks/bench_async.py                # 2,000 calls each, 45 concurrent rounds
    python benchmarks/bench_async.py --calls 3000 --bursts 9 --json /tmp/async.json

Targets (issue 14): the AsyncClient median at most 1.15x raw aiohttp's; 1,000 concurrent
AsyncClient triggers at most 1.15x raw aiohttp's time, all processed.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import statistics
import sys
import time
import uuid
from pathlib import Path
from typing import Any, Awaitable, Callable, Dict, List, Tuple

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


async def sequential(trigger: Trigger, start: int, count: int) -> Tuple[List[float], float]:
    """Microseconds of each of ``count`` calls, and the process CPU seconds they took."""
    samples = []
    cpu = time.process_time()
    for i in range(start, start + count):
        began = time.perf_counter_ns()
        if not await trigger(i):
            raise SystemExit(f"call {i} was not processed")
        samples.append((time.perf_counter_ns() - began) / 1000.0)
    return samples, time.process_time() - cpu


async def concurrent(trigger: Trigger, count: int) -> float:
    """Seconds for ``count`` triggers started at once; raises if any fails."""
    began = time.perf_counter()
    results = await asyncio.gather(*(trigger(i) for i in range(count)))
    elapsed = time.perf_counter() - began
    failed = [ok for ok in results if not ok]
    if failed:
        raise SystemExit(f"{len(failed)} of {count} concurrent triggers were not processed")
    return elapsed


def interleaved(rounds: int) -> List[List[str]]:
    """The order of the sides in each round: raw first, then SDK first, and so on."""
    return [["raw", "sdk"] if number % 2 == 0 else ["sdk", "raw"] for number in range(rounds)]


async def measure(url: str, calls: int, rounds: int, at_once: int, bursts: int) -> Dict[str, Any]:
    session = aiohttp.ClientSession()
    client = AsyncClient(api_key=API_KEY, base_url=url)
    sides = {"raw": raw_trigger(session, url), "sdk": sdk_trigger(client)}
    samples: Dict[str, List[List[float]]] = {"raw": [], "sdk": []}
    cpu: Dict[str, float] = {"raw": 0.0, "sdk": 0.0}
    times: Dict[str, List[float]] = {"raw": [], "sdk": []}
    burst_cpu: Dict[str, List[float]] = {"raw": [], "sdk": []}
    collections: Dict[str, List[int]] = {"raw": [], "sdk": []}
    try:
        for trigger in sides.values():
            await sequential(trigger, 0, 100)  # warm up: connections, caches
        per_round = max(1, calls // rounds)
        for number, order in enumerate(interleaved(rounds)):
            for side in order:
                taken, seconds = await sequential(sides[side], number * per_round, per_round)
                samples[side].append(taken)
                cpu[side] += seconds
        for trigger in sides.values():
            await concurrent(trigger, at_once)  # warm up: the connections a burst opens
        for order in interleaved(bursts):
            for side in order:
                began, young = time.process_time(), gc.get_stats()[0]["collections"]
                times[side].append(await concurrent(sides[side], at_once))
                burst_cpu[side].append(time.process_time() - began)
                collections[side].append(gc.get_stats()[0]["collections"] - young)
    finally:
        await client.close()
        await session.close()
    return {
        "samples": samples,
        "cpu": cpu,
        "bursts": times,
        "burst_cpu": burst_cpu,
        "collections": collections,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--calls", type=int, default=2000, help="calls per side (default 2000)")
    parser.add_argument(
        "--rounds", type=int, default=40, help="alternating sequential rounds (default 40)"
    )
    parser.add_argument("--concurrent", type=int, default=1000, help="triggers at once")
    parser.add_argument(
        "--bursts", type=int, default=45, help="concurrent rounds, one burst per side (default 45)"
    )
    add_json_option(parser)
    args = parser.parse_args()

    server = LoopbackServer(kind="trigger")
    try:
        measured = asyncio.run(
            measure(server.url, args.calls, args.rounds, args.concurrent, args.bursts)
        )
    finally:
        server.close()

    rounds = measured["samples"]
    raw_median = statistics.median(t for taken in rounds["raw"] for t in taken)
    sdk_median = statistics.median(t for taken in rounds["sdk"] for t in taken)
    ratio = statistics.median(
        statistics.median(sdk) / statistics.median(raw)
        for raw, sdk in zip(rounds["raw"], rounds["sdk"])
    )
    calls = sum(map(len, rounds["sdk"]))
    raw_cpu = measured["cpu"]["raw"] / calls * 1e6
    sdk_cpu = measured["cpu"]["sdk"] / calls * 1e6
    bursts = measured["bursts"]
    raw_burst = statistics.median(bursts["raw"])
    sdk_burst = statistics.median(bursts["sdk"])
    burst_ratio = statistics.median(sdk / raw for raw, sdk in zip(bursts["raw"], bursts["sdk"]))

    def verdict(value: float) -> str:
        return "PASS" if value <= LIMIT else "FAIL"

    print(f"calls per side                     {calls}")
    print(f"raw aiohttp session.post           median {raw_median:8.1f} us/call")
    print(f"AsyncClient.trigger_event          median {sdk_median:8.1f} us/call")
    print(
        f"ratio sequential AsyncClient/raw   {ratio:.3f}  (median of {len(rounds['sdk'])} rounds' "
        f"ratios; target <= {LIMIT}: {verdict(ratio)})"
    )
    print(
        f"process CPU per call               raw {raw_cpu:.1f} us, AsyncClient {sdk_cpu:.1f} us, "
        f"ratio {sdk_cpu / raw_cpu:.3f}"
    )
    print(
        f"{args.concurrent} concurrent, raw aiohttp       {raw_burst:.3f} s "
        f"(median of {len(bursts['raw'])}: {', '.join(f'{t:.3f}' for t in bursts['raw'])})"
    )
    print(
        f"{args.concurrent} concurrent, AsyncClient       {sdk_burst:.3f} s "
        f"(median of {len(bursts['sdk'])}: {', '.join(f'{t:.3f}' for t in bursts['sdk'])})"
    )
    print(
        f"ratio concurrent AsyncClient/raw   {burst_ratio:.3f}  (median of the rounds' ratios; "
        f"target <= {LIMIT}: {verdict(burst_ratio)}); all processed"
    )
    # The process's CPU time per burst: what the client spent, whatever else the machine ran.
    raw_burst_cpu = statistics.median(measured["burst_cpu"]["raw"])
    sdk_burst_cpu = statistics.median(measured["burst_cpu"]["sdk"])
    print(
        f"process CPU per burst              raw {raw_burst_cpu:.3f} s, AsyncClient "
        f"{sdk_burst_cpu:.3f} s, ratio {sdk_burst_cpu / raw_burst_cpu:.3f}"
    )
    raw_young = statistics.median(measured["collections"]["raw"])
    sdk_young = statistics.median(measured["collections"]["sdk"])
    print(
        f"young GC collections per burst     raw {raw_young:.0f}, AsyncClient {sdk_young:.0f} "
        "(each object a call holds while in flight counts towards the next one)"
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
            metric("raw aiohttp process CPU per call", raw_cpu, "us", sdk="aiohttp"),
            metric("raw aiohttp young GC collections per burst", raw_young, "", sdk="aiohttp"),
            metric(
                "AsyncClient young GC collections per burst",
                sdk_young,
                "",
                ratio=sdk_young / raw_young,
            ),
            metric("AsyncClient process CPU per call", sdk_cpu, "us", ratio=sdk_cpu / raw_cpu),
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
        bursts=args.bursts,
    )
    return 0 if ratio <= LIMIT and burst_ratio <= LIMIT else 1


if __name__ == "__main__":
    raise SystemExit(main())
