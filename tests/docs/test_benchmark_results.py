"""The performance page's numbers come from a real run of ``benchmarks/run.py``: the chart the
docs show is the one drawn from the committed results file, and the file has what the page
reads."""

from __future__ import annotations

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "benchmarks"))

from _chart import draw  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results.json"


def test_the_committed_chart_is_drawn_from_the_committed_results() -> None:
    results = json.loads(RESULTS.read_text(encoding="utf-8"))
    assert (ROOT / "benchmarks" / "results.svg").read_text(encoding="utf-8") == draw(results)


def test_the_results_file_has_what_the_performance_page_reads() -> None:
    results = json.loads(RESULTS.read_text(encoding="utf-8"))
    assert {"when", "command", "machine", "peers", "benchmarks", "not_run"} <= set(results)
    assert {"python", "platform", "cpu", "cpus"} <= set(results["machine"])
    scripts = {document["script"] for document in results["benchmarks"]}
    assert "bench_events.py" in scripts
    for document in results["benchmarks"]:
        assert document["metrics"], document["script"]
        for item in document["metrics"]:
            assert {"name", "sdk", "value", "unit", "ratio", "limit", "ok"} <= set(item)


def test_the_chart_shows_every_library_compared() -> None:
    results = {
        "benchmarks": [
            {
                "metrics": [
                    {"name": "m", "sdk": "teleflow_py", "value": 1.0, "unit": "us", "limit": None},
                    {"name": "m", "sdk": "novu", "value": 9.0, "unit": "us", "limit": None},
                    {
                        "name": "r",
                        "sdk": "teleflow_py",
                        "value": 2.0,
                        "unit": "x",
                        "ratio": 2.0,
                        "limit": 1.1,
                    },
                ]
            }
        ]
    }
    svg = draw(results)
    assert ">novu<" in svg and ">teleflow_py<" in svg
    assert "2.00 (limit 1.10)" in svg
    assert "#d1453b" in svg  # the missed target is drawn as missed
