"""Events API speed, as ratios measured in one run (issue 8).

1. ``trigger_event`` median per call against a bare ``requests.Session.post`` (target: at
   most 0.5x) and against a bare ``http.client`` exchange on one keep-alive connection
   (the floor: no client can beat it, so its ratio is reported, not targeted). All three
   send the same JSON body with the same headers to the same loopback server (a process
   of its own, ``_loopback.py``) and parse the answer; the SDK also validates, mints an
   idempotency key, builds a Response and a result. Calls alternate in rounds so that
   drift on a shared machine hits every side alike.
2. 100,000 events through ``trigger_bulk_event(concurrency=8)`` against a loopback server
   that adds 50 ms to every request: wall time against the ideal of 1,000 requests / 8 at
   50 ms each (6.25 s). Target: at most 1.3x.

    python benchmarks/bench_events.py                 # both, prints the ratios
    python benchmarks/bench_events.py --calls 3000 --json /tmp/events.json
"""

from __future__ import annotations

import argparse
import http.client
import json
import statistics
import sys
import time
import uuid
from pathlib import Path
from typing import Any, Callable, Dict, List
from urllib.parse import urlsplit

import requests

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _loopback import LoopbackServer
from _results import add_json_option, metric, write

from teleflow_py import Client
from teleflow_py._bodies import plan_chunks

API_KEY = "sk_bench_0123456789"
TRIGGER_LIMIT = 0.5
BULK_LIMIT = 1.3


def time_calls(call: Callable[[int], None], start: int, count: int) -> List[float]:
    samples = []
    for i in range(start, start + count):
        began = time.perf_counter_ns()
        call(i)
        samples.append((time.perf_counter_ns() - began) / 1000.0)
    return samples


def bench_trigger(calls: int, rounds: int) -> List[Dict[str, Any]]:
    server = LoopbackServer(kind="trigger")
    base_url = server.url
    client = Client(api_key=API_KEY, base_url=base_url)
    session = requests.Session()
    parts = urlsplit(base_url)
    connection = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=30)
    bare_headers = {
        "Authorization": f"ApiKey {API_KEY}",
        "Content-Type": "application/json",
        "Accept": "application/json",
    }

    def sdk(i: int) -> None:
        client.trigger_event("welcome", "subscriber-1", payload={"i": i, "plan": "pro"})

    def bare_requests(i: int) -> None:
        body = json.dumps(
            {"name": "welcome", "to": "subscriber-1", "payload": {"i": i, "plan": "pro"}}
        )
        headers = dict(bare_headers, **{"Idempotency-Key": str(uuid.uuid4())})
        answer = session.post(
            base_url + "/v1/events/trigger", data=body, headers=headers, timeout=(10, 30)
        )
        answer.raise_for_status()
        answer.json()

    def bare_http_client(i: int) -> None:
        body = json.dumps(
            {"name": "welcome", "to": "subscriber-1", "payload": {"i": i, "plan": "pro"}}
        )
        headers = dict(bare_headers, **{"Idempotency-Key": str(uuid.uuid4())})
        connection.request("POST", "/v1/events/trigger", body=body, headers=headers)
        answer = connection.getresponse()
        json.loads(answer.read())

    sides = {"sdk": sdk, "requests": bare_requests, "http.client": bare_http_client}
    for warm in sides.values():
        time_calls(warm, 0, 50)
    per_round = max(1, calls // rounds)
    samples: Dict[str, List[float]] = {name: [] for name in sides}
    for round_number in range(rounds):
        order = list(sides)
        shift = round_number % len(order)
        for name in order[shift:] + order[:shift]:
            samples[name].extend(time_calls(sides[name], round_number * per_round, per_round))
    client.close()
    connection.close()
    server.close()

    medians = {name: statistics.median(values) for name, values in samples.items()}
    vs_requests = medians["sdk"] / medians["requests"]
    vs_floor = medians["sdk"] / medians["http.client"]
    print(f"calls per side             {len(samples['sdk'])}")
    print(f"bare http.client (floor)   median {medians['http.client']:8.1f} us/call")
    print(f"bare requests.Session.post median {medians['requests']:8.1f} us/call")
    print(f"Client.trigger_event       median {medians['sdk']:8.1f} us/call")
    verdict = "PASS" if vs_requests <= TRIGGER_LIMIT else "FAIL"
    print(f"ratio sdk/requests         {vs_requests:.3f}  (target <= {TRIGGER_LIMIT}: {verdict})")
    print(f"ratio sdk/http.client      {vs_floor:.3f}  (the floor; no target)")
    return [
        metric("trigger_event median", medians["sdk"], "us"),
        metric("requests.Session.post median", medians["requests"], "us", sdk="requests"),
        metric("http.client exchange median", medians["http.client"], "us", sdk="http.client"),
        metric(
            "trigger_event vs requests.Session.post",
            vs_requests,
            "x",
            ratio=vs_requests,
            limit=TRIGGER_LIMIT,
            target=f"<= {TRIGGER_LIMIT}x bare requests",
        ),
        metric("trigger_event vs http.client (floor)", vs_floor, "x", ratio=vs_floor),
    ]


def bench_bulk(events: int, concurrency: int, delay: float) -> List[Dict[str, Any]]:
    server = LoopbackServer(kind="bulk", delay=delay)
    batch = [
        {"name": "campaign", "to": f"subscriber-{i}", "payload": {"i": i, "plan": "pro"}}
        for i in range(events)
    ]
    began = time.perf_counter()
    plan_chunks(batch, None)  # the part done before the first request: check and encode
    checking = time.perf_counter() - began
    requests_needed = (events + 99) // 100
    ideal = requests_needed / concurrency * delay
    with Client(api_key=API_KEY, base_url=server.url) as client:
        client.trigger_bulk_event(batch[:100])  # opens a connection, as a warm client has
        server.reset()
        began = time.perf_counter()
        results = client.trigger_bulk_event(batch, concurrency=concurrency)  # type: ignore[arg-type]
        elapsed = time.perf_counter() - began
    assert len(results) == events and results.ok and server.events == events
    server.close()
    ratio = elapsed / ideal
    verdict = "PASS" if ratio <= BULK_LIMIT else "FAIL"
    print(f"bulk {events} events, concurrency={concurrency}, +{delay * 1000:.0f} ms/request")
    print(
        f"  ideal {requests_needed} requests / {concurrency} x {delay * 1000:.0f} ms = {ideal:.2f} s"
    )
    print(f"  took  {elapsed:.2f} s (of which ~{checking:.2f} s checking and encoding first)")
    print(f"  ratio {ratio:.3f}  (target <= {BULK_LIMIT}: {verdict})")
    return [
        metric(f"trigger_bulk_event {events} events, concurrency={concurrency}", elapsed, "s"),
        metric(f"checking and encoding {events} events", checking, "s"),
        metric(
            "trigger_bulk_event vs ideal",
            ratio,
            "x",
            ratio=ratio,
            limit=BULK_LIMIT,
            target=f"<= {BULK_LIMIT}x {requests_needed}/{concurrency} x {delay * 1000:.0f} ms",
        ),
    ]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=1000, help="trigger calls per side")
    parser.add_argument("--rounds", type=int, default=10, help="alternating rounds")
    parser.add_argument("--events", type=int, default=100_000, help="events in the bulk call")
    parser.add_argument("--concurrency", type=int, default=8, help="bulk concurrency")
    parser.add_argument("--delay-ms", type=float, default=50.0, help="server delay per request")
    parser.add_argument("--only", choices=("trigger", "bulk"), help="run one benchmark only")
    add_json_option(parser)
    args = parser.parse_args()

    metrics: List[Dict[str, Any]] = []
    if args.only in (None, "trigger"):
        metrics += bench_trigger(args.calls, args.rounds)
    if args.only in (None, "bulk"):
        metrics += bench_bulk(args.events, args.concurrency, args.delay_ms / 1000.0)
    write(
        args.json,
        "events",
        metrics,
        calls=args.calls,
        events=args.events,
        concurrency=args.concurrency,
        delay_ms=args.delay_ms,
    )
    return 0 if all(m["ok"] is not False for m in metrics) else 1


if __name__ == "__main__":
    raise SystemExit(main())
