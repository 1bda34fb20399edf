"""The OpenTelemetry implementation of the telemetry hooks (imported only when it is installed).

Spans: one per Events call (``teleflow.trigger``, ...), below it one HTTP client span per
attempt following the stable HTTP semantic conventions, waits as span events, and the
attempt's context injected into the request headers through the global propagator
(``traceparent``). Metrics: ``http.client.request.duration`` and the analytics counters and
queue gauge. See ``docs/observability.rst``.

Cost. With the API installed and no SDK configured, no provider has been set: each call
checks that (two attribute reads) and returns the no-op call span, so nothing else runs. An
SDK configured later is picked up by the next call.
"""

from __future__ import annotations

import importlib
import os
import threading
import time
from typing import Any, Callable, Dict, Iterable, List, MutableMapping, NamedTuple, Optional, Tuple

from opentelemetry import context as otel_context
from opentelemetry import metrics, propagate, trace
from opentelemetry.metrics import CallbackOptions, NoOpMeterProvider, Observation
from opentelemetry.trace import (
    NoOpTracerProvider,
    ProxyTracerProvider,
    SpanKind,
    Status,
    StatusCode,
)

from .._core.tracing import (
    CALL_SPAN_NAMES,
    NOOP_ATTEMPT,
    NOOP_CALL,
    AttemptSpan,
    CallInfo,
    CallSpan,
    Telemetry,
    error_type,
    server_of,
    url_without_credentials,
)
from .._version import __version__

try:  # the proxy the API hands out before an SDK is set (private name, stable since 1.12)
    from opentelemetry.metrics._internal import _ProxyMeterProvider

    _IDLE_METERS: tuple[type, ...] = (_ProxyMeterProvider, NoOpMeterProvider)
except ImportError:  # pragma: no cover - a future API without it: always record
    _IDLE_METERS = (NoOpMeterProvider,)
_IDLE_TRACERS = (ProxyTracerProvider, NoOpTracerProvider)

try:  # where set_meter_provider keeps the provider
    _metrics_state: Any = importlib.import_module("opentelemetry.metrics._internal")
except ImportError:  # pragma: no cover
    _metrics_state = metrics

_UNKNOWN: Any = object()


class _Signal(NamedTuple):
    """Where the API keeps one signal's global provider, and which providers record nothing."""

    module: Any
    attribute: str  # the global set by ``set_*_provider``
    lookup: Callable[[], Any]  # the public function: ``get_tracer_provider``, ...
    idle: Tuple[type, ...]


_TRACES = _Signal(trace, "_TRACER_PROVIDER", trace.get_tracer_provider, _IDLE_TRACERS)
_METRICS = _Signal(_metrics_state, "_METER_PROVIDER", metrics.get_meter_provider, _IDLE_METERS)


def _active(explicit: Any, signal: _Signal, from_environment: bool) -> Any:
    """The provider that records: ``explicit``, else the one set with ``set_*_provider``.

    None when there is none or it is one of the signal's idle classes (records nothing).
    ``get_tracer_provider()`` reads ``os.environ`` on every call until a provider is set (a
    few microseconds); the module's global says the same in one attribute read. The public
    function decides only when the global is not where it is expected, or a provider is
    named in the environment (made on first use).
    """
    provider = explicit or getattr(signal.module, signal.attribute, _UNKNOWN)
    if provider is None:
        if not from_environment:
            return None
        provider = signal.lookup()
    elif provider is _UNKNOWN:
        provider = signal.lookup()
    return None if isinstance(provider, signal.idle) else provider


SCOPE = "teleflow_py"
#: The semantic conventions' advisory boundaries for http.client.request.duration.
DURATION_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10)


class _Instruments:
    """The metric instruments of one meter provider."""

    def __init__(self, provider: metrics.MeterProvider, queues: _QueueSizes) -> None:
        meter = provider.get_meter(SCOPE, __version__)
        name, description = "http.client.request.duration", "Duration of HTTP client requests."
        try:
            self.duration = meter.create_histogram(
                name, "s", description, explicit_bucket_boundaries_advisory=DURATION_BUCKETS
            )
        except TypeError:  # opentelemetry-api < 1.30 has no advisory: the SDK's buckets
            self.duration = meter.create_histogram(name, "s", description)
        self.queued = meter.create_counter(
            "teleflow.analytics.queued", unit="{event}", description="Analytics events queued."
        )
        self.delivered = meter.create_counter(
            "teleflow.analytics.delivered",
            unit="{event}",
            description="Analytics events the server confirmed.",
        )
        self.dropped = meter.create_counter(
            "teleflow.analytics.dropped",
            unit="{event}",
            description="Analytics events that never reached the server, by reason.",
        )
        meter.create_observable_gauge(
            "teleflow.analytics.queue.size",
            callbacks=[queues.observe],
            unit="{event}",
            description="Analytics events waiting in the queue.",
        )


class _QueueSizes:
    """The queue-size functions of the live clients; the gauge reports their sum."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._sizes: Dict[int, Callable[[], int]] = {}
        self._next = 0

    def add(self, size: Callable[[], int]) -> Callable[[], None]:
        with self._lock:
            self._next += 1
            number = self._next
            self._sizes[number] = size

        def remove() -> None:
            with self._lock:
                self._sizes.pop(number, None)

        return remove

    def observe(self, options: CallbackOptions) -> Iterable[Observation]:
        with self._lock:
            sizes = list(self._sizes.values())
        total = 0
        for size in sizes:
            try:
                total += size()
            except Exception:  # a gauge callback must not break the export
                continue
        return [Observation(total)]


def _http_attributes(method: str, url: str, resend_count: int) -> Dict[str, Any]:
    address, port = server_of(url)
    attributes: Dict[str, Any] = {
        "http.request.method": method,
        "url.full": url_without_credentials(url),
        "server.address": address,
        "server.port": port,
    }
    if resend_count > 0:
        attributes["http.request.resend_count"] = resend_count
    return attributes


class _Attempt(AttemptSpan):
    __slots__ = ("_attributes", "_duration", "_span", "_started")

    def __init__(
        self,
        span: Optional[trace.Span],
        attributes: Dict[str, Any],
        duration: Optional[metrics.Histogram],
    ) -> None:
        self._span = span
        self._attributes = attributes
        self._duration = duration
        self._started = time.perf_counter()

    def answered(self, status: int) -> None:
        error = str(status) if status >= 400 else None
        self._end({"http.response.status_code": status}, error)

    def failed(self, error: BaseException) -> None:
        self._end({}, error_type(error))

    def _end(self, more: Dict[str, Any], error: Optional[str]) -> None:
        elapsed = time.perf_counter() - self._started
        if error is not None:
            more["error.type"] = error
        if self._duration is not None:
            recorded = {
                key: value
                for key, value in self._attributes.items()
                if key in ("http.request.method", "server.address", "server.port")
            }
            recorded.update(more)
            self._duration.record(elapsed, recorded)
        span = self._span
        if span is not None:
            span.set_attributes(more)
            if error is not None:
                span.set_status(Status(StatusCode.ERROR))
            span.end()


def _start_attempt(
    tracer: Optional[trace.Tracer],
    parent: otel_context.Context,
    duration: Optional[metrics.Histogram],
    method: str,
    url: str,
    resend_count: int,
    headers: MutableMapping[str, str],
    template: Optional[str],
    extra: Optional[Dict[str, Any]] = None,
) -> AttemptSpan:
    attributes = _http_attributes(method, url, resend_count)
    span = None
    if tracer is not None:
        if template is not None:
            attributes["url.template"] = template
        span = tracer.start_span(
            f"{method} {template}" if template else method,
            context=parent,
            kind=SpanKind.CLIENT,
            attributes={**attributes, **(extra or {})},
        )
        propagate.inject(headers, context=trace.set_span_in_context(span, parent))
    return _Attempt(span, attributes, duration)


class _Call(CallSpan):
    __slots__ = ("_context", "_duration", "_span", "_tracer")

    def __init__(
        self,
        tracer: Optional[trace.Tracer],
        duration: Optional[metrics.Histogram],
        info: CallInfo,
    ) -> None:
        self._tracer = tracer
        self._duration = duration
        self._span: Optional[trace.Span] = None
        self._context = otel_context.get_current()
        if tracer is not None:
            attributes: Dict[str, Any] = {}
            if info.workflow is not None:
                attributes["teleflow.workflow.name"] = info.workflow
            if info.idempotency_key is not None:
                attributes["teleflow.idempotency_key"] = info.idempotency_key
            if info.events is not None:
                attributes["teleflow.events.count"] = info.events
            if info.transaction_id is not None:
                attributes["teleflow.transaction_id"] = info.transaction_id
            name = CALL_SPAN_NAMES.get(info.operation, f"teleflow.{info.operation}")
            self._span = tracer.start_span(name, context=self._context, attributes=attributes)
            self._context = trace.set_span_in_context(self._span, self._context)

    def attempt(
        self,
        method: str,
        url: str,
        resend_count: int,
        headers: MutableMapping[str, str],
        template: Optional[str] = None,
    ) -> AttemptSpan:
        return _start_attempt(
            self._tracer,
            self._context,
            self._duration,
            method,
            url,
            resend_count,
            headers,
            template,
        )

    def waited(self, seconds: float, reason: str) -> None:
        if self._span is not None:
            self._span.add_event(
                "teleflow.wait", {"teleflow.wait.seconds": seconds, "teleflow.wait.reason": reason}
            )

    def succeeded(self, transaction_id: Optional[str] = None) -> None:
        span = self._span
        if span is not None:
            if transaction_id is not None:
                span.set_attribute("teleflow.transaction_id", transaction_id)
            span.end()

    def failed(self, error: BaseException) -> None:
        span = self._span
        if span is not None:
            span.set_attribute("error.type", error_type(error))
            span.set_status(Status(StatusCode.ERROR, type(error).__name__))
            span.end()


class OpenTelemetry(Telemetry):
    """The hooks, recorded through OpenTelemetry.

    Args:
        tracer_provider: where spans go (None: the global one, looked up on each call).
        meter_provider: where metrics go (None: the global one, looked up on each call).
    """

    enabled = True

    def __init__(
        self,
        tracer_provider: Optional[trace.TracerProvider] = None,
        meter_provider: Optional[metrics.MeterProvider] = None,
    ) -> None:
        self._tracer_provider = tracer_provider
        self._meter_provider = meter_provider
        self._lock = threading.Lock()
        self._tracers: List[Any] = [None, None]  # [provider, tracer]
        self._meters: List[Any] = [None, None]  # [provider, instruments]
        self._queues = _QueueSizes()
        self._env_tracer = "OTEL_PYTHON_TRACER_PROVIDER" in os.environ
        self._env_meter = "OTEL_PYTHON_METER_PROVIDER" in os.environ

    def _tracer(self) -> Optional[trace.Tracer]:
        provider = _active(self._tracer_provider, _TRACES, self._env_tracer)
        if provider is None:
            return None
        cached_provider, tracer = self._tracers
        if cached_provider is not provider:
            tracer = provider.get_tracer(SCOPE, __version__)
            self._tracers = [provider, tracer]
        return tracer  # type: ignore[no-any-return]

    def _instruments(self) -> Optional[_Instruments]:
        provider = _active(self._meter_provider, _METRICS, self._env_meter)
        if provider is None:
            return None
        cached_provider, instruments = self._meters
        if cached_provider is not provider:
            with self._lock:
                cached_provider, instruments = self._meters
                if cached_provider is not provider:
                    instruments = _Instruments(provider, self._queues)
                    self._meters = [provider, instruments]
        return instruments  # type: ignore[no-any-return]

    def recording(self) -> bool:
        # Asked at the start of every call: the providers only, not the cached instruments.
        return (
            _active(self._tracer_provider, _TRACES, self._env_tracer) is not None
            or _active(self._meter_provider, _METRICS, self._env_meter) is not None
        )

    def call(self, info: CallInfo) -> CallSpan:
        tracer = self._tracer()
        instruments = self._instruments()
        if tracer is None and instruments is None:
            return NOOP_CALL
        return _Call(tracer, instruments.duration if instruments else None, info)

    def delivery(
        self,
        method: str,
        url: str,
        resend_count: int,
        batch_size: int,
        headers: MutableMapping[str, str],
        template: Optional[str] = None,
    ) -> AttemptSpan:
        tracer = self._tracer()
        instruments = self._instruments()
        if tracer is None and instruments is None:
            return NOOP_ATTEMPT
        return _start_attempt(
            tracer,
            otel_context.Context(),  # a root span: nothing the caller holds
            instruments.duration if instruments else None,
            method,
            url,
            resend_count,
            headers,
            template,
            {"teleflow.analytics.batch.size": batch_size},
        )

    def queued(self, count: int) -> None:
        instruments = self._instruments()
        if instruments is not None:
            instruments.queued.add(count)

    def delivered(self, count: int) -> None:
        instruments = self._instruments()
        if instruments is not None:
            instruments.delivered.add(count)

    def dropped(self, count: int, reason: str) -> None:
        instruments = self._instruments()
        if instruments is not None:
            instruments.dropped.add(count, {"reason": reason})

    def watch_queue(self, size: Callable[[], int]) -> Callable[[], None]:
        # Registered even before an SDK exists: the gauge is created with the instruments.
        return self._queues.add(size)
