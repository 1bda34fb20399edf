"""The results file every benchmark script can write, so ``benchmarks/run.py`` and the docs'
performance page read numbers from one place instead of from printed text.

A script adds ``--json PATH`` with :func:`add_json_option` and, at its end, calls :func:`write`
with its measurements. One measurement is a dict::

    {"name": "trigger_event median", "sdk": "teleflow_py", "value": 148.2, "unit": "us",
     "target": "<= 0.5x bare requests", "ratio": 0.30, "limit": 0.5, "ok": True}

``sdk`` names the library measured (a peer's package name for peers); ``ratio``, ``limit`` and
``ok`` are present on the rows that carry an issue's target and ``None`` elsewhere.
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path
from typing import Any, Dict, List, Optional


def add_json_option(parser: argparse.ArgumentParser) -> None:
    """Add ``--json PATH``: where to write the results file (nothing is written without it)."""
    parser.add_argument("--json", metavar="PATH", help="also write the results to this JSON file")


def metric(
    name: str,
    value: float,
    unit: str,
    *,
    sdk: str = "teleflow_py",
    ratio: Optional[float] = None,
    limit: Optional[float] = None,
    target: Optional[str] = None,
) -> Dict[str, Any]:
    """One measurement; ``ok`` is ``ratio <= limit`` when both are given."""
    ok = None if ratio is None or limit is None else ratio <= limit
    return {
        "name": name,
        "sdk": sdk,
        "value": value,
        "unit": unit,
        "ratio": ratio,
        "limit": limit,
        "target": target,
        "ok": ok,
    }


def write(path: Optional[str], benchmark: str, metrics: List[Dict[str, Any]], **info: Any) -> None:
    """Write ``metrics`` of ``benchmark`` to ``path`` (no-op when ``path`` is None)."""
    if not path:
        return
    document = {
        "benchmark": benchmark,
        "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": {
            "python": platform.python_version(),
            "platform": platform.platform(),
            "processor": platform.machine(),
        },
        "info": info,
        "metrics": metrics,
    }
    Path(path).write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
