"""OpenTelemetry for the client: spans, metrics and ``traceparent``, when it is installed.

``pip install 'teleflow-py[otel]'`` brings ``opentelemetry-api``; configure an SDK as usual
(``opentelemetry-instrument``, or a ``TracerProvider`` / ``MeterProvider`` of your own) and
the client reports what ``docs/observability.rst`` lists. Without the package, or without
an SDK, nothing is recorded and nothing is paid for.
"""

from __future__ import annotations

import importlib
import threading
from typing import Optional

from .._core.tracing import NOOP, Telemetry

_lock = threading.Lock()
_shared: Optional[Telemetry] = None


def telemetry() -> Telemetry:
    """The process's telemetry hooks: OpenTelemetry's if ``opentelemetry-api`` imports, else no-op.

    The same object is returned to every caller (the metric instruments are made once).
    Never raises: an OpenTelemetry that fails to import means no telemetry.
    """
    global _shared
    with _lock:
        if _shared is None:
            try:
                module = importlib.import_module("teleflow_py.integrations._opentelemetry")
            except ImportError:
                _shared = NOOP
            else:
                _shared = module.OpenTelemetry()
        return _shared
