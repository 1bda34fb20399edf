"""Pacing by the rate-limit headers, and the cost of OpenTelemetry, measured in one run (issue 16).

1. Against the emulator with rate limiting on (a process of its own; the server's token
   bucket, ``RateLimit-*`` headers, 429 with ``Retry-After``), with and without pacing:
   40,000 events through ``trigger_bulk_event(concurrency=8)`` (400 requests of cost 100)
   and 4,000 ``trigger_event`` calls from 8 threads (cost 1). For each: the requests the
   server refused (target: at most 0.2 %), every event once, and the time to finish
   against the fastest the bucket allows, ``(tokens needed - burst) / refill rate``
   (target: at most 1.2x).
2. ``trigger_event`` per call against a loopback server, alternating rounds in one process:
   the telemetry of a process without ``opentelemetry-api`` (the no-op hooks) against the
   telemetry with the API installed and no SDK configured (target: at most 1.05x), and,
   reported without a target, with an SDK configured (a tracer provider whose batch
   processor exports to an exporter that drops everything, and a meter provider).

    python benchmarks/bench_ratelimit.py
    python benchmarks/bench_ratelimit.py --quick --json /tmp/ratelimit.json
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import statistics
import sys
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any, Callable, Dict, List, Sequence

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _loopback import LoopbackServer
from _results import add_json_option, metric, write

from teleflow_py import Client
from teleflow_py._core.tracing import NOOP, Telemetry
from teleflow_py.integrations import otel

API_KEY = "sk_bench_0123456789"
REFUSED_LIMIT = 0.002
TIME_LIMIT = 1.2
OTEL_LIMIT = 1.05


def _serve(tier: int, urls: Any, stop: Any) -> None:
    from teleflow_py.emulator import Emulator

    with Emulator(rate_limit_tier=tier) as emulator:
        urls.put(emulator.url)
        stop.wait()


class RateLimitedServer:
    """The emulator with a numeric tier (``tier`` tokens a second), in a process of its own."""

    def __init__(self, tier: int) -> None:
        self.tier = tier
        self.burst = int(tier * 1.1)
        urls: Any = multiprocessing.Queue()
        self._stop = multiprocessing.Event()
        self._process = multiprocessing.Process(
            target=_serve, args=(tier, urls, self._stop), daemon=True
        )
        self._process.start()
        self.url: str = urls.get(timeout=30)

    def _get(self, what: str) -> Any:
        with urllib.request.urlopen(f"{self.url}/emulator/{what}", timeout=30) as answer:
            return json.loads(answer.read())

    def stats(self) -> Dict[str, int]:
        return dict(self._get("stats"))

    def refused(self) -> int:
        return len(self._get("requests?status=429"))

    def close(self) -> None:
        self._stop.set()
        self._process.join(10)


def run_bulk(url: str, events: int, paced: bool) -> None:
    batch = [{"name": "welcome", "to": f"s-{i}", "payload": {"i": i}} for i in range(events)]
    with Client(api_key=API_KEY, base_url=url, pace_by_rate_limit=paced) as client:
        result = client.trigger_bulk_event(batch, concurrency=8)
    assert result.ok and len(result) == events


def run_triggers(url: str, calls: int, paced: bool) -> None:
    numbers = iter(range(calls))
    lock = threading.Lock()
    with Client(api_key=API_KEY, base_url=url, pace_by_rate_limit=paced) as client:

        def work() -> None:
            while True:
                with lock:
                    i = next(numbers, None)
                if i is None:
                    return
                assert client.trigger_event("welcome", f"s-{i}", payload={"i": i}).ok

        threads = [threading.Thread(target=work) for _ in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()


def bench_paced(
    label: str, tier: int, tokens: int, events: int, run: Callable[[str, bool], None]
) -> List[Dict[str, Any]]:
    """One workload with and without pacing, each on a fresh bucket."""
    found: List[Dict[str, Any]] = []
    for paced in (True, False):
        server = RateLimitedServer(tier)
        try:
            time.sleep(1.5)  # a full bucket to start from
            began = time.perf_counter()
            run(server.url, paced)
            elapsed = time.perf_counter() - began
            stats, refused = server.stats(), server.refused()
        finally:
            server.close()
        ideal = max(0.0, tokens - server.burst) / tier
        requests = stats["requests"]
        share = refused / requests
        ratio = elapsed / ideal
        once = stats["triggers"] == events
        side = "paced" if paced else "unpaced"
        print(
            f"{label} {side:8s} {requests:6d} requests, {refused:5d} refused ({share:.2%}), "
            f"{elapsed:6.2f} s vs {ideal:.2f} s the bucket allows ({ratio:.3f}x), "
            f"each event once: {once}"
        )
        targets = paced  # the unpaced side is the comparison
        found += [
            metric(
                f"{label} {side}: requests refused (429)",
                share,
                "share",
                ratio=share,
                limit=REFUSED_LIMIT if targets else None,
                target=f"<= {REFUSED_LIMIT:.1%}" if targets else None,
            ),
            metric(
                f"{label} {side}: time vs the bucket's fastest",
                ratio,
                "x",
                ratio=ratio,
                limit=TIME_LIMIT if targets else None,
                target=f"<= {TIME_LIMIT}x (burst {server.burst} + {tier}/s)" if targets else None,
            ),
        ]
        if not once:
            lost = metric(f"{label} {side}: every event once", stats["triggers"], "events")
            lost["ok"] = False
            found.append(lost)
    return found


class DropAll:
    """A span exporter that drops everything (the SDK's cost without the export's)."""

    def export(self, spans: Sequence[Any]) -> Any:
        from opentelemetry.sdk.trace.export import SpanExportResult

        return SpanExportResult.SUCCESS

    def shutdown(self) -> None:
        return None

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return True


def bench_telemetry(calls: int, rounds: int) -> List[Dict[str, Any]]:
    """trigger_event with each telemetry, alternating rounds in one process."""
    try:
        from opentelemetry.sdk.metrics import MeterProvider
        from opentelemetry.sdk.metrics.export import InMemoryMetricReader
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor

        from teleflow_py.integrations._opentelemetry import OpenTelemetry
    except ImportError:
        print("telemetry: opentelemetry-api and -sdk are not installed; skipped")
        return []
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(BatchSpanProcessor(DropAll()))  # type: ignore[arg-type]
    meter_provider = MeterProvider(metric_readers=[InMemoryMetricReader()])
    sides: Dict[str, Telemetry] = {
        "no opentelemetry": NOOP,
        "API, no SDK": OpenTelemetry(),  # the global providers: none set in this process
        "SDK, dropping exporter": OpenTelemetry(tracer_provider, meter_provider),
    }
    server = LoopbackServer(kind="trigger")
    clients = {}
    for name, telemetry in sides.items():
        otel._shared = telemetry  # what a client built now picks up
        clients[name] = Client(api_key=API_KEY, base_url=server.url, register_atexit=False)
    otel._shared = None
    samples: Dict[str, List[float]] = {name: [] for name in sides}
    per_round = max(1, calls // rounds)
    for client in clients.values():  # warm up
        for _ in range(50):
            client.trigger_event("welcome", "s-1")
    for _ in range(rounds):
        for name, client in clients.items():
            for _ in range(per_round):
                began = time.perf_counter_ns()
                client.trigger_event("welcome", "s-1")
                samples[name].append((time.perf_counter_ns() - began) / 1000.0)
    for client in clients.values():
        client.close()
    server.close()
    tracer_provider.shutdown()
    meter_provider.shutdown()
    medians = {name: statistics.median(values) for name, values in samples.items()}
    base = medians["no opentelemetry"]
    found = []
    for name, median in medians.items():
        ratio = median / base
        print(f"trigger_event, {name:24s} median {median:7.1f} us/call  {ratio:.3f}x")
        found.append(metric(f"trigger_event, {name}", median, "us/call"))
    ratio = medians["API, no SDK"] / base
    verdict = "PASS" if ratio <= OTEL_LIMIT else "FAIL"
    print(
        f"ratio API without SDK / no opentelemetry {ratio:.3f} (target <= {OTEL_LIMIT}: {verdict})"
    )
    found.append(
        metric(
            "trigger_event with opentelemetry-api, no SDK vs without",
            ratio,
            "x",
            ratio=ratio,
            limit=OTEL_LIMIT,
            target=f"<= {OTEL_LIMIT}x",
        )
    )
    sdk = medians["SDK, dropping exporter"] / base
    found.append(metric("trigger_event with an SDK (dropping exporter) vs without", sdk, "x"))
    return found


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=40_000, help="events in the bulk call")
    parser.add_argument("--triggers", type=int, default=4_000, help="trigger_event calls")
    parser.add_argument("--bulk-tier", type=int, default=4_000, help="tokens/s for the bulk")
    parser.add_argument("--trigger-tier", type=int, default=600, help="tokens/s for triggers")
    parser.add_argument("--calls", type=int, default=3_000, help="calls per telemetry side")
    parser.add_argument("--rounds", type=int, default=10, help="alternating rounds")
    parser.add_argument("--quick", action="store_true", help="a tenth of the workloads")
    parser.add_argument("--only", choices=("pacing", "telemetry"), help="one part only")
    add_json_option(parser)
    args = parser.parse_args()
    if args.quick:
        args.events, args.triggers, args.calls = 4_000, 1_000, 1_000
        args.bulk_tier, args.trigger_tier = 1_000, 200
    metrics: List[Dict[str, Any]] = []
    if args.only in (None, "pacing"):
        events, triggers = args.events, args.triggers
        metrics += bench_paced(
            f"bulk {events} events, concurrency 8,",
            args.bulk_tier,
            events,  # a request of up to 100 events costs 100 tokens
            events,
            lambda url, paced: run_bulk(url, events, paced),
        )
        metrics += bench_paced(
            f"{triggers} trigger_event, 8 threads,",
            args.trigger_tier,
            triggers,
            triggers,
            lambda url, paced: run_triggers(url, triggers, paced),
        )
    if args.only in (None, "telemetry"):
        metrics += bench_telemetry(args.calls, args.rounds)
    write(
        args.json,
        "ratelimit",
        metrics,
        events=args.events,
        triggers=args.triggers,
        bulk_tier=args.bulk_tier,
        trigger_tier=args.trigger_tier,
    )
    return 0 if all(m["ok"] is not False for m in metrics) else 1


if __name__ == "__main__":
    raise SystemExit(main())
