"""Run every benchmark, with the peer SDKs that are installed, and write one results file.

Each ``benchmarks/bench_*.py`` runs in a fresh interpreter, one after the other (never two at
once: they would measure each other), with ``--json`` so that it writes its numbers through
``_results.py``. The runner gathers them with the machine, the installed peers and their
versions into one JSON document and draws the chart the docs show (``_chart.py``)::

    python benchmarks/run.py                  # the full run; writes benchmarks/results.json
    python benchmarks/run.py --quick          # smaller workloads where a script offers --quick
    python benchmarks/run.py --only events    # just bench_events*.py

A script that fails, or that does not take ``--json``, is reported in ``not_run`` with the
end of its output, and the runner exits with 1.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Dict, List, Optional

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _chart import draw

HERE = Path(__file__).resolve().parent

#: The peer SDKs the scripts measure when installed (distribution names).
PEERS = ("getfluxly", "segment-analytics-python", "posthog", "novu")


def installed_version(distribution: str) -> Optional[str]:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(distribution)
    except PackageNotFoundError:
        return None


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text(encoding="utf-8").splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine() -> Dict[str, Any]:
    return {
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "platform": platform.platform(),
        "cpu": cpu_model(),
        "cpus": os.cpu_count(),
    }


def options_of(script: Path) -> str:
    done = subprocess.run(
        [sys.executable, str(script), "--help"], capture_output=True, text=True, timeout=120
    )
    return done.stdout


def run_script(script: Path, quick: bool, timeout: float) -> Dict[str, Any]:
    """Run one script; its results document, or ``{"error": ...}``."""
    options = options_of(script)
    if "--json" not in options:
        return {"error": "the script does not take --json"}
    with tempfile.TemporaryDirectory() as scratch:
        out = Path(scratch) / "result.json"
        command = [sys.executable, str(script), "--json", str(out)]
        if quick and "--quick" in options:
            command.append("--quick")
        began = time.monotonic()
        try:
            done = subprocess.run(
                command, capture_output=True, text=True, timeout=timeout, cwd=HERE.parent
            )
        except subprocess.TimeoutExpired:
            return {"error": f"timed out after {timeout:.0f} s"}
        sys.stdout.write(done.stdout)
        if done.returncode != 0 or not out.exists():
            tail = (done.stderr or done.stdout).strip().splitlines()[-5:]
            return {"error": f"exit code {done.returncode}: " + " | ".join(tail)}
        document: Dict[str, Any] = json.loads(out.read_text(encoding="utf-8"))
    document["script"] = script.name
    document["seconds"] = round(time.monotonic() - began, 1)
    return document


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="pass --quick where offered")
    parser.add_argument("--only", metavar="NAME", help="run only bench_NAME*.py")
    parser.add_argument(
        "--out", default=str(HERE / "results.json"), help="results file (default: %(default)s)"
    )
    parser.add_argument(
        "--svg", default=str(HERE / "results.svg"), help="chart file (default: %(default)s)"
    )
    parser.add_argument("--timeout", type=float, default=1800, help="seconds per script")
    args = parser.parse_args(argv)

    scripts = sorted(HERE.glob(f"bench_{args.only or ''}*.py"))
    peers = {name: installed_version(name) for name in PEERS}
    print(
        f"{len(scripts)} scripts; peers installed: "
        + (", ".join(f"{n} {v}" for n, v in peers.items() if v) or "none")
    )
    benchmarks: List[Dict[str, Any]] = []
    not_run: List[Dict[str, str]] = []
    for script in scripts:
        print(f"\n== {script.name}", flush=True)
        document = run_script(script, args.quick, args.timeout)
        if "error" in document:
            print(f"   not run: {document['error']}")
            not_run.append({"script": script.name, "reason": document["error"]})
        else:
            benchmarks.append(document)
    command = " ".join(
        ["python", "benchmarks/run.py", *(argv if argv is not None else sys.argv[1:])]
    )
    results = {
        "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "command": command,
        "machine": machine(),
        "peers": peers,
        "benchmarks": benchmarks,
        "not_run": not_run,
    }
    Path(args.out).write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    Path(args.svg).write_text(draw(results), encoding="utf-8")
    print(f"\nwrote {args.out} and {args.svg}")
    return 1 if not_run else 0


if __name__ == "__main__":
    raise SystemExit(main())
