"""OpenTelemetry through the clients, against the emulator.

The process's telemetry (``teleflow_py.integrations.otel.telemetry()``) is replaced, for each
test, by the OpenTelemetry implementation writing to the SDK's InMemorySpanExporter and
InMemoryMetricReader, so the global providers of the test process stay untouched. Everything
else is the real path: the client's observer, the attempt loop, the drivers, the emulator.
"""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any, Callable, Dict, Iterator, List, Tuple

import pytest

pytest.importorskip("opentelemetry.sdk")

from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from teleflow_py import AsyncClient, AuthenticationError, Client
from teleflow_py.emulator import Emulator
from teleflow_py.integrations import otel
from teleflow_py.integrations._opentelemetry import OpenTelemetry

from .trace_tree import draw

API_KEY = "sk_test_0123456789abcdef"
TRIGGER = "/v1/events/trigger"
ROOT = Path(__file__).resolve().parents[2]

Recorded = Tuple[InMemorySpanExporter, InMemoryMetricReader]


@pytest.fixture
def recorded(monkeypatch: pytest.MonkeyPatch) -> Iterator[Recorded]:
    exporter = InMemorySpanExporter()
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(SimpleSpanProcessor(exporter))
    reader = InMemoryMetricReader()
    meter_provider = MeterProvider(metric_readers=[reader])
    monkeypatch.setattr(otel, "_shared", OpenTelemetry(tracer_provider, meter_provider))
    yield exporter, reader
    tracer_provider.shutdown()
    meter_provider.shutdown()


def named(spans: Any, name: str) -> List[ReadableSpan]:
    return [span for span in spans if span.name == name]


def children(spans: Any, parent: ReadableSpan) -> List[ReadableSpan]:
    found = [
        s for s in spans if s.parent is not None and s.parent.span_id == parent.context.span_id
    ]
    return sorted(found, key=lambda s: s.start_time or 0)


def points(reader: InMemoryMetricReader) -> Dict[str, List[Any]]:
    data = reader.get_metrics_data()
    found: Dict[str, List[Any]] = {}
    for resource in data.resource_metrics if data else []:
        for scope in resource.scope_metrics:
            for metric in scope.metrics:
                found.setdefault(metric.name, []).extend(metric.data.data_points)
    return found


def sync_trigger(url: str, **kwargs: Any) -> str:
    with Client(api_key=API_KEY, base_url=url, register_atexit=False) as client:
        return client.trigger_event("welcome", "s-1", **kwargs).transaction_id or ""


def async_trigger(url: str, **kwargs: Any) -> str:
    async def run() -> str:
        async with AsyncClient(api_key=API_KEY, base_url=url, register_atexit=False) as client:
            return (await client.trigger_event("welcome", "s-1", **kwargs)).transaction_id or ""

    return asyncio.run(run())


@pytest.mark.parametrize("trigger", [sync_trigger, async_trigger], ids=["sync", "async"])
def test_a_call_retried_after_a_503_is_one_span_with_two_attempt_spans(
    recorded: Recorded, trigger: Callable[..., str]
) -> None:
    exporter, reader = recorded
    with Emulator() as emulator:
        emulator.fail_next(1, 503, headers={"Retry-After": "0"}, path=TRIGGER)
        transaction_id = trigger(emulator.url, idempotency_key="idem-503")
        sent = emulator.requests(path=TRIGGER)
    spans = exporter.get_finished_spans()
    (call,) = named(spans, "teleflow.trigger")
    attempts = children(spans, call)
    assert [a.name for a in attempts] == ["POST /v1/events/trigger"] * 2
    assert all(a.kind is SpanKind.CLIENT for a in attempts)
    first, second = (dict(a.attributes or {}) for a in attempts)
    assert first["http.response.status_code"] == 503 and first["error.type"] == "503"
    assert "http.request.resend_count" not in first
    assert second["http.request.resend_count"] == 1
    assert second["http.response.status_code"] == 201 and "error.type" not in second
    assert second["url.full"] == sent[1]["headers"]["host"].join(["http://", TRIGGER])
    assert second["server.port"] == int(sent[1]["headers"]["host"].rsplit(":", 1)[1])
    attributes = dict(call.attributes or {})
    assert attributes["teleflow.workflow.name"] == "welcome"
    assert attributes["teleflow.idempotency_key"] == "idem-503"
    assert attributes["teleflow.events.count"] == 1
    assert attributes["teleflow.transaction_id"] == transaction_id != ""
    assert [e.attributes["teleflow.wait.reason"] for e in call.events] == ["retry_after"]
    # Each attempt carried its own span's traceparent.
    for request, attempt in zip(sent, attempts):
        trace_id, span_id = request["headers"]["traceparent"].split("-")[1:3]
        assert int(trace_id, 16) == attempt.context.trace_id
        assert int(span_id, 16) == attempt.context.span_id
    durations = points(reader)["http.client.request.duration"]
    assert sum(p.count for p in durations) == 2


def test_a_bulk_trigger_is_one_span_over_its_requests_and_a_cancel_names_its_transaction(
    recorded: Recorded,
) -> None:
    exporter, _ = recorded
    events = [{"name": "digest", "to": f"s-{i}", "payload": {}} for i in range(250)]
    with Emulator() as emulator:
        with Client(api_key=API_KEY, base_url=emulator.url, register_atexit=False) as client:
            assert client.trigger_bulk_event(events, idempotency_key="bulk-1").ok
            client.cancel_triggered_event("tx/1")
    spans = exporter.get_finished_spans()
    (bulk,) = named(spans, "teleflow.trigger_bulk")
    assert len(children(spans, bulk)) == 3
    attributes = dict(bulk.attributes or {})
    assert attributes["teleflow.events.count"] == 250
    assert attributes["teleflow.workflow.name"] == "digest"
    assert attributes["teleflow.idempotency_key"] == "bulk-1"
    (cancel,) = named(spans, "teleflow.cancel")
    assert dict(cancel.attributes or {})["teleflow.transaction_id"] == "tx/1"
    (attempt,) = children(spans, cancel)
    assert dict(attempt.attributes or {})["url.template"] == "/v1/events/trigger/{transactionId}"


def test_a_rate_limit_wait_is_an_event_of_the_call_span(recorded: Recorded) -> None:
    exporter, _ = recorded
    # One token each 0.5 s: the second trigger waits for it.
    with Emulator(rate_limit_tier=1, rate_limit_window=0.5) as emulator:
        with Client(api_key=API_KEY, base_url=emulator.url, register_atexit=False) as client:
            client.trigger_event("welcome", "s-1")
            client.trigger_event("welcome", "s-2")
    _, second = sorted(named(exporter.get_finished_spans(), "teleflow.trigger"), key=start)
    reasons = [e.attributes["teleflow.wait.reason"] for e in second.events]
    assert reasons == ["rate_limit"]


def start(span: ReadableSpan) -> int:
    return span.start_time or 0


def test_analytics_deliveries_are_root_spans_and_drops_are_counted_with_their_reason(
    recorded: Recorded,
) -> None:
    exporter, reader = recorded
    with Emulator() as emulator:
        client = Client(
            api_key=API_KEY,
            base_url=emulator.url,
            max_queue_size=2,
            flush_interval=60,
            register_atexit=False,
        )
        for n in range(4):
            client.track("signed_up", user_id=f"u-{n}")
        client.close()
        client.track("late", user_id="u-9")
    found = points(reader)
    assert sum(p.value for p in found["teleflow.analytics.queued"]) == 2
    assert sum(p.value for p in found["teleflow.analytics.delivered"]) == 2
    dropped = {p.attributes["reason"]: p.value for p in found["teleflow.analytics.dropped"]}
    assert dropped == {"queue_full": 2, "shutdown": 1}
    assert "teleflow.analytics.queue.size" in found
    (delivery,) = [s for s in exporter.get_finished_spans() if s.name.endswith("/v1/events/batch")]
    assert delivery.parent is None and delivery.kind is SpanKind.CLIENT
    assert dict(delivery.attributes or {})["teleflow.analytics.batch.size"] == 2


def test_no_span_attribute_or_event_holds_the_api_key(recorded: Recorded) -> None:
    exporter, _ = recorded
    with Emulator() as emulator:
        emulator.fail_next(1, 401, path=TRIGGER)
        with Client(api_key=API_KEY, base_url=emulator.url, register_atexit=False) as client:
            with pytest.raises(AuthenticationError):
                client.trigger_event("welcome", "s-1")
            client.trigger_event("welcome", "s-2")
            client.track("signed_up", user_id="u-1")
    spans = exporter.get_finished_spans()
    assert len(spans) >= 5
    text = "\n".join(
        repr(dict(s.attributes or {})) + repr([dict(e.attributes or {}) for e in s.events])
        for s in spans
    )
    assert API_KEY not in text and API_KEY[-8:] not in text


def test_the_trace_on_the_observability_page_is_what_a_client_records(
    recorded: Recorded,
) -> None:
    """docs/observability.rst draws this run (its waits and transaction id vary by run)."""
    exporter, _ = recorded
    tracer = otel.telemetry()._tracer()  # type: ignore[attr-defined]
    with Emulator(rate_limit_tier=1, rate_limit_window=0.5) as emulator:
        with Client(api_key=API_KEY, base_url=emulator.url, register_atexit=False) as client:
            client.trigger_event("welcome", "s-0")  # spends the one token
            emulator.fail_next(1, 503, headers={"Retry-After": "0"}, path=TRIGGER)
            with tracer.start_as_current_span("POST /signup", kind=SpanKind.SERVER) as handler:
                client.trigger_event("welcome", "ada", idempotency_key="signup-ada-1")
    trace_id = handler.get_span_context().trace_id
    drawn = draw([s for s in exporter.get_finished_spans() if s.context.trace_id == trace_id])
    page = (ROOT / "docs" / "observability.rst").read_text("utf-8")
    block = page.split(".. trace-example-start\n", 1)[1].split("\n.. trace-example-end", 1)[0]
    shown = "\n".join(line[3:] for line in block.splitlines() if line.startswith("   "))
    assert varying(shown) == varying(drawn)


def varying(tree: str) -> str:
    """``tree`` without what changes from run to run: wait lengths, the transaction id."""
    tree = re.sub(r"seconds=[0-9.e-]+", "seconds=S", tree)
    return re.sub(r"teleflow.transaction_id=\S+", "teleflow.transaction_id=T", tree)


def test_without_opentelemetry_no_span_is_made_and_no_traceparent_sent(tmp_path: Path) -> None:
    script = textwrap.dedent(
        """
        import sys
        sys.modules["opentelemetry"] = None  # as if the extra were not installed
        from teleflow_py import Client
        from teleflow_py._core.tracing import NOOP
        from teleflow_py.integrations.otel import telemetry
        with Client(api_key="sk_test_0123456789abcdef", base_url=sys.argv[1],
                    register_atexit=False) as client:
            assert client.trigger_event("welcome", "s-1").ok
            client.trigger_bulk_event([{"name": "welcome", "to": "s-2"}])
        assert telemetry() is NOOP
        assert not any(name.startswith("opentelemetry") and sys.modules[name] is not None
                       for name in sys.modules)
        print("no-otel ok")
        """
    )
    with Emulator() as emulator:
        ran = subprocess.run(
            [sys.executable, "-c", script, emulator.url],
            capture_output=True,
            text=True,
            timeout=60,
            cwd=ROOT,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
        )
        sent = emulator.requests()
    assert ran.returncode == 0, ran.stderr
    assert "no-otel ok" in ran.stdout
    assert len(sent) == 2 and all("traceparent" not in r["headers"] for r in sent)
