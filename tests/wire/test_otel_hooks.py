"""The OpenTelemetry hooks, driven directly as the drivers will drive them.

Spans go to the SDK's InMemorySpanExporter, metrics to its InMemoryMetricReader, through
providers given to :class:`OpenTelemetry` (the process's global providers stay untouched).
Attribute names follow the stable HTTP semantic conventions (``http.request.method``,
``url.full``, ``server.address``, ``server.port``, ``http.response.status_code``,
``http.request.resend_count``, ``error.type``, ``http.client.request.duration``).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Any, Dict, Iterator, List, Tuple

import pytest

pytest.importorskip("opentelemetry.sdk")

from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from teleflow_py._core.tracing import (
    NOOP,
    WAIT_RETRY_AFTER,
    CallInfo,
    Telemetry,
)
from teleflow_py.integrations._opentelemetry import OpenTelemetry

API_KEY = "sk_test_0123456789abcdef"
URL = "https://user:secret@api.teleflow.example:8443/v1/events/trigger"


@pytest.fixture
def sdk() -> Iterator[Tuple[OpenTelemetry, InMemorySpanExporter, InMemoryMetricReader]]:
    exporter = InMemorySpanExporter()
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(SimpleSpanProcessor(exporter))
    reader = InMemoryMetricReader()
    meter_provider = MeterProvider(metric_readers=[reader])
    yield OpenTelemetry(tracer_provider, meter_provider), exporter, reader
    tracer_provider.shutdown()
    meter_provider.shutdown()


def by_name(spans: Tuple[ReadableSpan, ...], name: str) -> List[ReadableSpan]:
    return [span for span in spans if span.name == name]


def metric_points(reader: InMemoryMetricReader) -> Dict[str, List[Any]]:
    data = reader.get_metrics_data()
    points: Dict[str, List[Any]] = {}
    for resource in data.resource_metrics if data else []:
        for scope in resource.scope_metrics:
            for metric in scope.metrics:
                points.setdefault(metric.name, []).extend(metric.data.data_points)
    return points


def retried_call(telemetry: Telemetry) -> List[Dict[str, str]]:
    """A trigger that meets a 503, waits, and succeeds: what a driver reports."""
    call = telemetry.call(
        CallInfo("trigger", workflow="welcome", idempotency_key="idem-1", events=1)
    )
    sent: List[Dict[str, str]] = []
    for resend, status in enumerate((503, 201)):
        headers = {"Authorization": "ApiKey " + API_KEY, "Idempotency-Key": "idem-1"}
        attempt = call.attempt("POST", URL, resend, headers, "/v1/events/trigger")
        sent.append(headers)
        attempt.answered(status)
        if status == 503:
            call.waited(1.5, WAIT_RETRY_AFTER)
    call.succeeded("txn-42")
    return sent


def test_a_retried_call_is_one_call_span_over_two_attempt_spans(sdk: Any) -> None:
    telemetry, exporter, _ = sdk
    retried_call(telemetry)
    spans = exporter.get_finished_spans()
    (call,) = by_name(spans, "teleflow.trigger")
    first, second = by_name(spans, "POST /v1/events/trigger")
    assert call.attributes is not None
    assert dict(call.attributes) == {
        "teleflow.workflow.name": "welcome",
        "teleflow.idempotency_key": "idem-1",
        "teleflow.events.count": 1,
        "teleflow.transaction_id": "txn-42",
    }
    for attempt in (first, second):
        assert attempt.kind is SpanKind.CLIENT
        assert attempt.parent is not None and attempt.parent.span_id == call.context.span_id
        assert attempt.context.trace_id == call.context.trace_id
    assert first.attributes is not None and second.attributes is not None
    assert dict(first.attributes) == {
        "http.request.method": "POST",
        "url.full": "https://api.teleflow.example:8443/v1/events/trigger",
        "server.address": "api.teleflow.example",
        "server.port": 8443,
        "url.template": "/v1/events/trigger",
        "http.response.status_code": 503,
        "error.type": "503",
    }
    assert first.status.status_code is StatusCode.ERROR
    assert "http.request.resend_count" not in first.attributes
    assert second.attributes["http.request.resend_count"] == 1
    assert second.attributes["http.response.status_code"] == 201
    assert "error.type" not in second.attributes
    assert second.status.status_code is StatusCode.UNSET
    (event,) = call.events
    assert event.name == "teleflow.wait"
    assert dict(event.attributes or {}) == {
        "teleflow.wait.seconds": 1.5,
        "teleflow.wait.reason": "retry_after",
    }


def test_each_attempt_carries_its_own_traceparent(sdk: Any) -> None:
    telemetry, exporter, _ = sdk
    sent = retried_call(telemetry)
    attempts = by_name(exporter.get_finished_spans(), "POST /v1/events/trigger")
    for headers, span in zip(sent, attempts):
        version, trace_id, span_id, flags = headers["traceparent"].split("-")
        assert version == "00" and int(flags, 16) & 1  # sampled
        assert int(trace_id, 16) == span.context.trace_id
        assert int(span_id, 16) == span.context.span_id


def test_the_call_span_is_a_child_of_the_callers_span(sdk: Any) -> None:
    telemetry, exporter, _ = sdk
    tracer = telemetry._tracer()
    with tracer.start_as_current_span("handle request") as outer:
        retried_call(telemetry)
    (call,) = by_name(exporter.get_finished_spans(), "teleflow.trigger")
    assert call.parent is not None and call.parent.span_id == outer.get_span_context().span_id


def test_a_failed_attempt_and_call_record_the_error_type(sdk: Any) -> None:
    telemetry, exporter, reader = sdk
    call = telemetry.call(CallInfo("cancel", transaction_id="txn-9"))
    attempt = call.attempt("DELETE", "http://127.0.0.1/v1/events/trigger/txn-9", 0, {})
    attempt.failed(ConnectionResetError("reset by peer"))
    call.failed(TimeoutError("deadline"))
    spans = exporter.get_finished_spans()
    (span,) = by_name(spans, "DELETE")
    assert span.attributes is not None
    assert span.attributes["error.type"] == "ConnectionResetError"
    assert span.attributes["server.port"] == 80
    assert "http.response.status_code" not in span.attributes
    (cancel,) = by_name(spans, "teleflow.cancel")
    assert cancel.attributes is not None
    assert cancel.attributes["teleflow.transaction_id"] == "txn-9"
    assert cancel.attributes["error.type"] == "TimeoutError"
    assert cancel.status.status_code is StatusCode.ERROR
    (point,) = metric_points(reader)["http.client.request.duration"]
    assert dict(point.attributes) == {
        "http.request.method": "DELETE",
        "server.address": "127.0.0.1",
        "server.port": 80,
        "error.type": "ConnectionResetError",
    }


def test_every_attempt_is_measured_in_the_duration_histogram(sdk: Any) -> None:
    telemetry, _, reader = sdk
    retried_call(telemetry)
    points = metric_points(reader)["http.client.request.duration"]
    by_status = {point.attributes["http.response.status_code"]: point for point in points}
    assert set(by_status) == {503, 201}
    assert by_status[503].attributes["error.type"] == "503"
    assert all(point.count == 1 and point.sum >= 0 for point in points)
    assert "url.full" not in by_status[201].attributes  # high cardinality: spans only


def test_analytics_delivery_is_a_root_span_and_the_counters_count(sdk: Any) -> None:
    telemetry, exporter, reader = sdk
    tracer = telemetry._tracer()
    with tracer.start_as_current_span("unrelated caller span"):
        headers: Dict[str, str] = {}
        attempt = telemetry.delivery("POST", "http://127.0.0.1:9/v1/events/batch", 2, 50, headers)
        attempt.answered(200)
    telemetry.queued(60)
    telemetry.delivered(50)
    telemetry.dropped(7, "queue_full")
    telemetry.dropped(3, "shutdown")
    queue = [12]
    stop = telemetry.watch_queue(lambda: queue[0])
    telemetry.watch_queue(lambda: 5)
    (delivery,) = by_name(exporter.get_finished_spans(), "POST")
    assert delivery.parent is None
    assert delivery.attributes is not None
    assert delivery.attributes["teleflow.analytics.batch.size"] == 50
    assert delivery.attributes["http.request.resend_count"] == 2
    assert "traceparent" in headers
    points = metric_points(reader)
    assert [p.value for p in points["teleflow.analytics.queued"]] == [60]
    assert [p.value for p in points["teleflow.analytics.delivered"]] == [50]
    dropped = {p.attributes["reason"]: p.value for p in points["teleflow.analytics.dropped"]}
    assert dropped == {"queue_full": 7, "shutdown": 3}
    assert [p.value for p in points["teleflow.analytics.queue.size"]] == [17]
    stop()
    queue[0] = 100
    assert [p.value for p in metric_points(reader)["teleflow.analytics.queue.size"]] == [5]


def test_the_api_key_appears_in_no_span_event_or_metric(sdk: Any) -> None:
    telemetry, exporter, reader = sdk
    retried_call(telemetry)
    seen = "".join(span.to_json() for span in exporter.get_finished_spans())
    seen += json.dumps(reader.get_metrics_data().to_json())
    assert API_KEY not in seen and "secret" not in seen
    assert "welcome" in seen  # the scan did see the spans


def test_without_an_sdk_no_span_is_started() -> None:
    # The API alone: its global providers are proxies, so calls get the no-op span.
    code = """
import json
from opentelemetry import trace
from teleflow_py._core.tracing import NOOP_CALL, NOOP_ATTEMPT, CallInfo
from teleflow_py.integrations.otel import telemetry
t = telemetry()
call = t.call(CallInfo("trigger", workflow="w"))
headers = {}
attempt = call.attempt("POST", "http://x/v1/events/trigger", 0, headers)
print(json.dumps([t.enabled, call is NOOP_CALL, attempt is NOOP_ATTEMPT, headers,
                  t.delivery("POST", "http://x/", 0, 1, headers) is NOOP_ATTEMPT]))
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert json.loads(out.stdout) == [True, True, True, {}, True]


def test_an_sdk_configured_after_the_client_is_picked_up() -> None:
    code = """
import json
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from teleflow_py._core.tracing import CallInfo
from teleflow_py.integrations.otel import telemetry
t = telemetry()
t.call(CallInfo("trigger")).succeeded()
exporter = InMemorySpanExporter()
provider = TracerProvider()
provider.add_span_processor(SimpleSpanProcessor(exporter))
trace.set_tracer_provider(provider)
t.call(CallInfo("broadcast", workflow="w")).succeeded()
print(json.dumps([s.name for s in exporter.get_finished_spans()]))
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert json.loads(out.stdout) == ["teleflow.broadcast"]


def test_without_opentelemetry_the_hooks_are_the_no_op_ones() -> None:
    code = """
import sys
sys.modules["opentelemetry"] = None  # as if the extra were not installed
from teleflow_py._core.tracing import NOOP
from teleflow_py.integrations.otel import telemetry
assert telemetry() is NOOP and telemetry().enabled is False
assert not any(name.startswith("opentelemetry.") for name in sys.modules)
print("ok")
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "ok"
    assert NOOP.enabled is False


def test_a_provider_named_in_the_environment_is_used() -> None:
    # OTEL_PYTHON_TRACER_PROVIDER makes the API build the SDK's provider on first use: the
    # cheap "no provider set" check must not hide it.
    code = """
import json
from teleflow_py._core.tracing import NOOP_CALL, CallInfo
from teleflow_py.integrations.otel import telemetry
call = telemetry().call(CallInfo("trigger"))
print(json.dumps(call is NOOP_CALL))
"""
    env = dict(os.environ, OTEL_PYTHON_TRACER_PROVIDER="sdk_tracer_provider")
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env
    )
    assert json.loads(out.stdout) is False
