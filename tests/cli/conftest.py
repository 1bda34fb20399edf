"""Run the real ``teleflow`` command in a subprocess against an emulator."""

from __future__ import annotations

import contextlib
import io
import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Dict, Iterable, List, Optional

import pytest

from teleflow_py.cli import main
from teleflow_py.emulator import Emulator

ROOT = Path(__file__).resolve().parents[2]
API_KEY = "sk_test_cli_0123456789abcdef"


@dataclass
class Ran:
    """What one run of the command did."""

    code: int
    out: str
    err: str

    @property
    def json(self) -> Any:
        """stdout parsed: it must be exactly one JSON document."""
        return json.loads(self.out)

    @property
    def err_lines(self) -> List[str]:
        return [line for line in self.err.splitlines() if line.strip()]


def command_env(base_url: Optional[str], **extra: str) -> Dict[str, str]:
    """The environment of a command run: the repository importable, the key set."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TELEFLOW_")}
    env["PYTHONPATH"] = str(ROOT)
    env["TELEFLOW_API_KEY"] = API_KEY
    if base_url is not None:
        env["TELEFLOW_BASE_URL"] = base_url
    env.update(extra)
    return env


def run_command(
    args: Iterable[str],
    *,
    base_url: Optional[str],
    stdin: Optional[str] = None,
    env: Optional[Dict[str, str]] = None,
    timeout: float = 120,
    cwd: Optional[Path] = None,
) -> Ran:
    """``python -m teleflow_py ARGS`` in a fresh interpreter."""
    done = subprocess.run(
        [sys.executable, "-m", "teleflow_py", *args],
        input=stdin,
        cwd=cwd,
        env=env if env is not None else command_env(base_url),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    ran = Ran(done.returncode, done.stdout, done.stderr)
    # Promises every run keeps: no traceback, and the key never printed.
    assert "Traceback" not in ran.err, ran.err
    assert API_KEY not in ran.out + ran.err
    return ran


def run_in_process(
    args: Iterable[str],
    *,
    base_url: Optional[str],
    stdin: Optional[str] = None,
    traceback: bool = False,
) -> Ran:
    """The same command through :func:`teleflow_py.cli.main` in this process (quicker);
    for what does not depend on the interpreter exiting. ``traceback``: one is expected
    (``--verbose`` after an unexpected error)."""
    out, err = io.StringIO(), io.StringIO()
    saved_stdin = sys.stdin
    if stdin is not None:
        sys.stdin = io.TextIOWrapper(io.BytesIO(stdin.encode("utf-8")), encoding="utf-8")
    environ = {"TELEFLOW_API_KEY": API_KEY, "TELEFLOW_BASE_URL": base_url or ""}
    saved_env = {name: os.environ.get(name) for name in environ}
    os.environ.update(environ)
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = main(list(args))
    finally:
        sys.stdin = saved_stdin
        for name, value in saved_env.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
    ran = Ran(code, out.getvalue(), err.getvalue())
    assert traceback or "Traceback" not in ran.err, ran.err
    assert API_KEY not in ran.out + ran.err
    return ran


Runner = Callable[..., Ran]


@pytest.fixture
def cli(emulator: Emulator) -> Runner:
    """Run the command in a subprocess against the test's emulator."""

    def run(*args: str, stdin: Optional[str] = None, **kwargs: Any) -> Ran:
        return run_command(args, base_url=emulator.url, stdin=stdin, **kwargs)

    return run


@pytest.fixture
def cli_here(emulator: Emulator) -> Runner:
    """Run the command in this process (through ``main``) against the test's emulator."""

    def run(*args: str, stdin: Optional[str] = None) -> Ran:
        return run_in_process(args, base_url=emulator.url, stdin=stdin)

    return run


def write_jsonl(path: Path, count: int, name: str = "digest", start: int = 1) -> Path:
    """A bulk file of ``count`` triggers, one per line; line i goes to subscriber ``user-i``."""
    with path.open("w", encoding="utf-8") as handle:
        for number in range(start, start + count):
            body = {"name": name, "to": f"user-{number}", "payload": {"line": number}}
            handle.write(json.dumps(body) + "\n")
    return path


def sent_lines(emulator: Emulator) -> List[int]:
    """The line number of every event the emulator stored, in storing order."""
    return [int(row["payload"]["line"]) for row in emulator.triggers()]
