"""Form-encoded bodies, read as the server's ``bodyParser.urlencoded({extended: true})`` does.

NxPKG/teleflow ``apps/api/src/bootstrap.ts`` parses ``application/x-www-form-urlencoded``
bodies with the ``qs`` library, so a form reaches the handler as nested values:

- ``a=1&b=2`` is ``{"a": "1", "b": "2"}``; every value is a string; ``+`` is a space;
- a repeated key is a list: ``a=1&a=2`` is ``{"a": ["1", "2"]}``;
- brackets nest: ``payload[user][name]=Ada`` is ``{"payload": {"user": {"name": "Ada"}}}``;
- ``a[]=x&a[]=y`` and ``a[0]=x&a[1]=y`` are lists (indices in order, gaps closed);
- more than 1,000 parameters is a 413 ``too many parameters`` (body-parser's limit).

Not reproduced: qs's rarer merges (``a[0]=x&a[b]=y`` turning a list into an object with
index keys, a bracket index above the array limit becoming an object key).
"""

from __future__ import annotations

import re
from typing import Any, Optional
from urllib.parse import unquote_plus

PARAMETER_LIMIT = 1000
# Deeper brackets stay one key (qs's ``depth`` option; keeps the recursion bounded).
MAX_DEPTH = 64
_SEGMENT = re.compile(r"\[([^\[\]]*)\]")


class TooManyParameters(ValueError):
    """More parameters than body-parser's ``parameterLimit``."""


class _Indexed(dict):  # type: ignore[type-arg]
    """A list under construction: index (or append order) -> value."""


def _segments(key: str) -> list[str]:
    """``a[b][]`` -> ``["a", "b", ""]``; text after the last bracket pair is one more key."""
    first = key.find("[")
    if first <= 0:
        return [key]
    parts = [key[:first]]
    position = first
    for match in _SEGMENT.finditer(key, first):
        if match.start() != position:
            break
        parts.append(match.group(1))
        position = match.end()
    if position < len(key):
        parts.append(key[position:])
    if len(parts) > MAX_DEPTH:
        parts[MAX_DEPTH:] = ["".join(f"[{part}]" for part in parts[MAX_DEPTH:])]
    return parts


def _insert(node: dict[Any, Any], parts: list[str], value: str) -> None:
    head, rest = parts[0], parts[1:]
    if isinstance(node, _Indexed):
        slot: Any = len(node) if head == "" else int(head) if head.isdigit() else head
    else:
        slot = head
    if not rest:
        previous = node.get(slot)
        if previous is None:
            node[slot] = value
        elif isinstance(previous, _Indexed):
            previous[len(previous)] = value
        elif isinstance(previous, str):
            node[slot] = _Indexed({0: previous, 1: value})
        return
    child = node.get(slot)
    wants_list = rest[0] == "" or rest[0].isdigit()
    if not isinstance(child, dict):
        child = _Indexed() if wants_list else {}
        node[slot] = child
    _insert(child, rest, value)


def _finish(value: Any) -> Any:
    if isinstance(value, _Indexed):
        ordered = [value[k] for k in sorted(value, key=lambda k: (isinstance(k, str), k))]
        return [_finish(item) for item in ordered]
    if isinstance(value, dict):
        return {key: _finish(item) for key, item in value.items()}
    return value


def parse_form(raw: bytes) -> dict[str, Any]:
    """Decode a form body into nested dicts, lists and strings.

    Raises:
        TooManyParameters: for more than ``PARAMETER_LIMIT`` parameters.
    """
    text = raw.decode("utf-8", "replace")
    pairs = [part for part in text.split("&") if part]
    if len(pairs) > PARAMETER_LIMIT:
        raise TooManyParameters("too many parameters")
    result: dict[Any, Any] = {}
    for pair in pairs:
        # qs splits at "]=" when present, so "a[=]=b" keeps its bracket in the key.
        split_at = pair.find("]=")
        split_at = pair.find("=") if split_at == -1 else split_at + 1
        name, value = (pair, "") if split_at == -1 else (pair[:split_at], pair[split_at + 1 :])
        key = unquote_plus(name)
        if key:
            _insert(result, _segments(key), unquote_plus(value))
    finished: dict[str, Any] = _finish(result)
    return finished


def form_value(raw: bytes) -> tuple[Optional[dict[str, Any]], Optional[str]]:
    """``(parsed, None)`` or ``(None, the error message)`` for a form body."""
    try:
        return parse_form(raw), None
    except TooManyParameters as exc:
        return None, str(exc)
