"""Caller-thread cost of ``track()``, time and CPU to deliver, against the peer SDKs.

Run from the repository root (the full run is the documented one; ``--quick`` is smaller)::

    python3 benchmarks/bench_analytics.py            # 100,000 calls and events
    python3 benchmarks/bench_analytics.py --quick    # 20,000
    python3 benchmarks/bench_analytics.py --json results/analytics.json

Every number is measured in the same run against a loopback server (``_loopback.py``, in
a process of its own) that counts the events it receives, so the printed ratios compare
like with like on this machine. Peers are run
when installed: ``pip install getfluxly segment-analytics-python posthog``.

Caller-thread cost: calls are timed in groups of 100 with ``time.perf_counter_ns`` (the
clock costs more than a call), and the median of the per-call averages is reported. The
floor is building the same message dict (event, message_id, occurred_at, user_id,
properties) and encoding it once with the C JSON encoder, timed the same way. A scenario
against a slow (2 s per request) or unreachable server stops after a time budget, since
some SDKs block the caller on a flush. The spool is measured in both modes, on a file in
a temporary folder.

CPU per delivered event: process CPU time (caller and worker threads; the server runs in
a process of its own) spent to track and deliver every event, divided by the events.

Sustained delivery: track() at a steady 6,000 events/s for a while against a server that
adds 100 ms to every request, with the default settings; the rate is events over the time
until the server has them all, and nothing may be dropped.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import platform
import socket
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Tuple

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _loopback import LoopbackServer
from _results import add_json_option, metric, write

from teleflow_py import Client

GROUP = 100
BATCH_SIZE = 100
EVENT = "Bench Event"
USER = "user-1"
PROPERTIES: Dict[str, Any] = {"plan": "pro", "amount": 42, "items": ["a", "b"], "ok": True}
SLOW_SECONDS = 2.0
NETWORK_SECONDS = 0.1
SUSTAINED_RATE = 6_000


def unreachable_url() -> str:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{probe.getsockname()[1]}"


# -- the SDKs under test --------------------------------------------------------------------
# Each maker returns (timed group of calls, flush, close). A group runs GROUP calls and
# returns the nanoseconds they took; calls are written out per SDK so that no wrapper
# adds its own cost to the measurement.

Group = Callable[[], int]
Made = Tuple[Group, Callable[[], None], Callable[[], None]]


def make_floor(url: str, capacity: int) -> Made:
    # The least any SDK must do on the caller's thread: build the message, encode it once.
    dumps = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode
    message_id = "0b6f5e2c-6a43-4a8e-9c51-2f9f4d3b7a10"
    occurred_at = "2026-01-01T00:00:00.000000Z"
    clock = time.perf_counter_ns

    def group() -> int:
        start = clock()
        for _ in range(GROUP):
            dumps(
                {
                    "event": EVENT,
                    "message_id": message_id,
                    "occurred_at": occurred_at,
                    "user_id": USER,
                    "properties": PROPERTIES,
                }
            )
        return clock() - start

    return group, lambda: None, lambda: None


_SPOOL_DIR = tempfile.mkdtemp(prefix="teleflow-bench-")


def make_teleflow(url: str, capacity: int, **settings: Any) -> Made:
    spool = settings.get("spool_path")
    if spool is not None:
        for suffix in ("", "-wal", "-shm"):
            with contextlib.suppress(FileNotFoundError):
                os.remove(spool + suffix)
    client = Client(
        api_key="sk_bench_0123456789",
        base_url=url,
        max_queue_size=max(capacity, 10_000),
        register_atexit=False,
        shutdown_timeout=0,
        **settings,
    )
    track = client.track
    clock = time.perf_counter_ns

    def group() -> int:
        start = clock()
        for _ in range(GROUP):
            track(EVENT, user_id=USER, properties=PROPERTIES)
        return clock() - start

    return group, lambda: client.flush(), lambda: client.shutdown(timeout=0)


def make_spooled(url: str, capacity: int) -> Made:
    return make_teleflow(url, capacity, spool_path=os.path.join(_SPOOL_DIR, "group.db"))


def make_spooled_sync(url: str, capacity: int) -> Made:
    path = os.path.join(_SPOOL_DIR, "sync.db")
    return make_teleflow(url, capacity, spool_path=path, spool_mode="sync")


def make_segment(url: str, capacity: int) -> Made:
    from segment.analytics import Client as SegmentClient  # type: ignore[import-not-found]

    client = SegmentClient(
        write_key="bench", host=url, upload_size=BATCH_SIZE, max_queue_size=capacity, max_retries=1
    )
    track = client.track
    clock = time.perf_counter_ns

    def group() -> int:
        start = clock()
        for _ in range(GROUP):
            track(user_id=USER, event=EVENT, properties=PROPERTIES)
        return clock() - start

    return group, client.flush, lambda: None


def make_posthog(url: str, capacity: int) -> Made:
    from posthog import Posthog  # type: ignore[import-not-found]

    client = Posthog(
        "phc_bench", host=url, flush_at=BATCH_SIZE, max_queue_size=capacity, max_retries=1
    )
    capture = client.capture
    clock = time.perf_counter_ns

    def group() -> int:
        start = clock()
        for _ in range(GROUP):
            capture(EVENT, distinct_id=USER, properties=PROPERTIES)
        return clock() - start

    return group, client.flush, lambda: None


def make_getfluxly(url: str, capacity: int) -> Made:
    from getfluxly import Client as FluxClient  # type: ignore[import-not-found]

    client = FluxClient(
        token="bench", api_host=url, flush_at=BATCH_SIZE, max_queue_size=capacity, max_retries=1
    )
    track = client.track
    clock = time.perf_counter_ns

    def group() -> int:
        start = clock()
        for _ in range(GROUP):
            # getfluxly sends on the caller's thread and raises when that fails.
            with contextlib.suppress(Exception):
                track(EVENT, user_id=USER, properties=PROPERTIES)
        return clock() - start

    def flush() -> None:
        with contextlib.suppress(Exception):
            client.flush()

    return group, flush, lambda: None


PEERS: Dict[str, Callable[[str, int], Made]] = {
    "segment": make_segment,
    "posthog": make_posthog,
    "getfluxly": make_getfluxly,
}


def installed(name: str) -> bool:
    module = {"segment": "segment.analytics", "posthog": "posthog", "getfluxly": "getfluxly"}[name]
    try:
        __import__(module)
    except ImportError:
        return False
    return True


# -- measurements ---------------------------------------------------------------------------


def caller_cost(maker: Callable[[str, int], Made], url: str, calls: int, budget: float) -> float:
    """Median nanoseconds per call, over groups of GROUP calls (stops after ``budget`` s)."""
    group, _, close = maker(url, calls + GROUP)
    samples: List[float] = []
    end = time.monotonic() + budget
    for _ in range(calls // GROUP):
        samples.append(group() / GROUP)
        if time.monotonic() > end:
            break
    close()
    return statistics.median(samples)


def delivery_time(
    maker: Callable[[str, int], Made], server: LoopbackServer, events: int
) -> Tuple[Optional[float], Optional[float]]:
    """Seconds from the first call until the server has counted ``events`` events, and
    the process CPU seconds per event meanwhile (``None``s when not all arrived)."""
    server.reset()
    group, flush, close = maker(server.url, events + GROUP)
    start = time.perf_counter()
    cpu = time.process_time()
    for _ in range(events // GROUP):
        group()
    flush()
    delivered = server.wait_for(events, guard=600)
    elapsed = time.perf_counter() - start
    cpu_per_event = (time.process_time() - cpu) / events
    close()
    return (elapsed, cpu_per_event) if delivered else (None, None)


def sustained_delivery(server: LoopbackServer, seconds: float) -> Tuple[float, int]:
    """Events/s delivered to a server 100 ms away while tracking at SUSTAINED_RATE, with
    the default settings; and how many events were dropped."""
    server.reset()
    client = Client(api_key="sk_bench_0123456789", base_url=server.url, register_atexit=False)
    per_tick = SUSTAINED_RATE // 100
    ticks = int(seconds * 100)
    start = time.perf_counter()
    for tick in range(ticks):
        for _ in range(per_tick):
            client.track(EVENT, user_id=USER, properties=PROPERTIES)
        pause = start + (tick + 1) / 100 - time.perf_counter()
        if pause > 0:
            time.sleep(pause)
    total = per_tick * ticks
    server.wait_for(total - client.analytics_stats.dropped, guard=600)
    elapsed = time.perf_counter() - start
    dropped = client.analytics_stats.dropped
    client.shutdown(timeout=0)
    return server.events / elapsed, dropped


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="20,000 calls instead of 100,000")
    parser.add_argument("--budget", type=float, default=None, help="seconds per slow scenario")
    add_json_option(parser)
    args = parser.parse_args()
    calls = 20_000 if args.quick else 100_000
    budget = args.budget if args.budget is not None else (5.0 if args.quick else 20.0)
    sustained_seconds = 5.0 if args.quick else 10.0
    # Peers log every failed upload; the unreachable-server runs would flood the output.
    logging.disable(logging.CRITICAL)

    peers = {name: maker for name, maker in PEERS.items() if installed(name)}
    print(
        f"Python {platform.python_version()} on {platform.system()}, {os.cpu_count()} CPUs; "
        f"{calls:,} calls; batch size {BATCH_SIZE}; peers: {', '.join(peers) or 'none'}"
    )
    fast = LoopbackServer()
    slow = LoopbackServer(delay=SLOW_SECONDS)
    network = LoopbackServer(delay=NETWORK_SECONDS)
    down = unreachable_url()

    floor = caller_cost(make_floor, fast.url, calls, budget=float("inf"))
    cost: Dict[str, Dict[str, float]] = {}
    for name, maker in [("teleflow_py", make_teleflow), *peers.items()]:
        cost[name] = {
            "fast": caller_cost(maker, fast.url, calls, budget=float("inf")),
            "slow": caller_cost(maker, slow.url, calls, budget),
            "down": caller_cost(maker, down, calls, budget),
        }
    spooled = caller_cost(make_spooled, fast.url, calls, budget=float("inf"))
    spooled_sync = caller_cost(make_spooled_sync, fast.url, calls, budget)
    delivered: Dict[str, Optional[float]] = {}
    cpu: Dict[str, Optional[float]] = {}
    for name, maker in [("teleflow_py", make_teleflow), *peers.items()]:
        delivered[name], cpu[name] = delivery_time(maker, fast, calls)
    rate, dropped = sustained_delivery(network, sustained_seconds)

    print(f"\ncaller-thread cost per call (median, ns); floor build + encode = {floor:.0f} ns")
    print(
        f"{'sdk':<12}{'fast':>10}{'slow':>12}{'down':>12}   "
        f"delivery of {calls:,} events   CPU per event"
    )
    for name, row in cost.items():
        seconds, per_event = delivered[name], cpu[name]
        shown = f"{seconds:.2f} s" if seconds is not None else "not delivered"
        cpu_shown = f"{per_event * 1e6:.1f} us" if per_event is not None else "-"
        print(
            f"{name:<12}{row['fast']:>10.0f}{row['slow']:>12.0f}{row['down']:>12.0f}   "
            f"{shown:>22}   {cpu_shown:>13}"
        )
    print(
        f"\nteleflow_py with spool_path: group commit {spooled:.0f} ns per call, "
        f"sync (committed before return) {spooled_sync / 1000:.1f} us per call"
    )
    print(
        f"sustained delivery, server +{NETWORK_SECONDS * 1000:.0f} ms per request, defaults, "
        f"{SUSTAINED_RATE:,} events/s offered: {rate:,.0f} events/s delivered, {dropped} dropped"
    )

    ours = cost["teleflow_py"]
    checks: List[Tuple[str, float, float]] = [
        ("track() vs build+encode floor", ours["fast"] / floor, 3.0),
        ("track() with spool vs in memory", spooled / ours["fast"], 3.0),
        ("track(), server slow vs fast", ours["slow"] / ours["fast"], 1.5),
        ("track(), server down vs fast", ours["down"] / ours["fast"], 1.5),
        ("5,000 events/s vs sustained rate", 5_000 / rate, 1.0),
        ("events dropped (sustained)", float(dropped), 0.0),
    ]
    if peers:
        fastest_peer = min(cost[name]["fast"] for name in peers)
        checks.append(("track() vs fastest peer", ours["fast"] / fastest_peer, 1 / 3))
        peer_times = [t for name, t in delivered.items() if name in peers and t is not None]
        if peer_times and delivered["teleflow_py"] is not None:
            checks.append(
                ("delivery time vs fastest peer", delivered["teleflow_py"] / min(peer_times), 0.5)
            )
        peer_cpu = [c for name, c in cpu.items() if name in peers and c is not None]
        if peer_cpu and cpu["teleflow_py"] is not None:
            checks.append(("CPU per event vs best peer", cpu["teleflow_py"] / min(peer_cpu), 0.5))
    print("\ntarget                              ratio    limit")
    for label, ratio, limit in checks:
        verdict = "PASS" if ratio <= limit else "FAIL"
        print(f"{label:<34}{ratio:>7.2f}  <= {limit:.2f}  {verdict}")
    sys.stdout.flush()

    # Names and units follow the other benchmarks' files (benchmarks/run.py reads them).
    metrics = [metric("track() caller cost, server fast", floor, "ns", sdk="json build+encode")]
    for name, row in cost.items():
        for scenario in ("fast", "slow", "down"):
            metrics.append(
                metric(f"track() caller cost, server {scenario}", row[scenario], "ns", sdk=name)
            )
        if delivered[name] is not None:
            metrics.append(
                metric(f"delivery of {calls:,} events", delivered[name] or 0.0, "s", sdk=name)
            )
        if cpu[name] is not None:
            metrics.append(
                metric("CPU per delivered event", (cpu[name] or 0.0) * 1e6, "us", sdk=name)
            )
    metrics += [
        metric("track() caller cost, spool group commit", spooled, "ns"),
        metric("track() caller cost, spool sync", spooled_sync / 1000, "us"),
        metric("sustained delivery, server +100 ms", rate, "events/s"),
    ]
    for label, ratio, limit in checks:
        metrics.append(
            metric(label, ratio, "x", ratio=ratio, limit=limit, target=f"<= {limit:.2f}")
        )
    write(args.json, "analytics", metrics, calls=calls, batch_size=BATCH_SIZE, peers=list(peers))
    fast.close()
    slow.close()
    network.close()
    # Peers' exit hooks would retry against the unreachable server for minutes.
    os._exit(0)


if __name__ == "__main__":
    main()
