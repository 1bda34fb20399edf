"""``teleflow bulk`` streams: its peak memory does not grow with the file."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from ._bulk_server import CountingServer
from .conftest import command_env

# Runs the real command in a fresh interpreter, then writes its own peak RSS (kB on Linux).
MEASURE = """
import resource, sys
from teleflow_py.cli import main
code = main(sys.argv[2:])
with open(sys.argv[1], "w") as out:
    out.write(str(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss))
sys.exit(code)
"""

PADDING = "x" * 400


def _write(path: Path, lines: int) -> Path:
    with path.open("w", encoding="utf-8") as handle:
        for number in range(1, lines + 1):
            body = {"name": "digest", "to": f"user-{number}", "payload": {"pad": PADDING}}
            handle.write(json.dumps(body) + "\n")
    return path


def _peak_kb(server: CountingServer, data: Path, tmp_path: Path) -> int:
    report = tmp_path / f"{data.stem}.rss"
    done = subprocess.run(
        [sys.executable, "-c", MEASURE, str(report), "bulk", str(data)],
        env=command_env(server.url),
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return int(report.read_text())


@pytest.mark.skipif(sys.platform != "linux", reason="ru_maxrss is in kB on Linux")
def test_peak_memory_does_not_grow_with_the_file(tmp_path: Path) -> None:
    small = _write(tmp_path / "small.jsonl", 1_000)
    large = _write(tmp_path / "large.jsonl", 60_000)
    large_mb = large.stat().st_size / 1e6
    assert large_mb > 25
    with CountingServer() as server:
        small_kb = _peak_kb(server, small, tmp_path)
        large_kb = _peak_kb(server, large, tmp_path)
        assert server.events == 61_000
        assert server.requests == 610
    # Default settings. Holding the large file (or its parsed events) would add well over
    # its 25+ MB; streaming adds only what a few chunks in flight take.
    growth_mb = (large_kb - small_kb) / 1024
    assert growth_mb < 10, f"peak grew by {growth_mb:.1f} MB for a {large_mb:.0f} MB file"
