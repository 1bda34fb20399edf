"""Draw finished spans as a text tree (the example trace of docs/observability.rst)."""

from __future__ import annotations

from typing import Any, Dict, List, Sequence, Tuple

from opentelemetry.sdk.trace import ReadableSpan

# Shown in this order; the rest (url.full, server.*) is the same on every attempt.
SHOWN = (
    "teleflow.workflow.name",
    "teleflow.events.count",
    "teleflow.idempotency_key",
    "teleflow.transaction_id",
    "http.request.resend_count",
    "http.response.status_code",
    "error.type",
)


def _attributes(values: Dict[str, Any]) -> str:
    return " ".join(f"{name}={values[name]}" for name in SHOWN if name in values)


def draw(spans: Sequence[ReadableSpan]) -> str:
    """One line per span and per span event, children and events in time order."""
    children: Dict[int, List[ReadableSpan]] = {}
    roots = []
    for span in spans:
        if span.parent is None:
            roots.append(span)
        else:
            children.setdefault(span.parent.span_id, []).append(span)
    lines: List[str] = []

    def walk(span: ReadableSpan, prefix: str, last: bool, top: bool) -> None:
        branch = "" if top else ("└── " if last else "├── ")
        kind = span.kind.name.lower()
        lines.append(
            f"{prefix}{branch}{span.name} [{kind}] {_attributes(dict(span.attributes or {}))}".rstrip()
        )
        items: List[Tuple[int, str, Any]] = [
            (child.start_time or 0, "span", child)
            for child in children.get(span.context.span_id, [])
        ]
        items += [(event.timestamp, "event", event) for event in span.events]
        items.sort(key=lambda item: item[0])
        inner = prefix + ("" if top else ("    " if last else "│   "))
        for index, (_, what, item) in enumerate(items):
            is_last = index == len(items) - 1
            if what == "span":
                walk(item, inner, is_last, False)
            else:
                values = dict(item.attributes or {})
                detail = " ".join(f"{k.rsplit('.', 1)[1]}={v}" for k, v in values.items())
                lines.append(f"{inner}{'└── ' if is_last else '├── '}event {item.name} {detail}")

    for root in sorted(roots, key=lambda span: span.start_time or 0):
        walk(root, "", True, True)
    return "\n".join(lines)
