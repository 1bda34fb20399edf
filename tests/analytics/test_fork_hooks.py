"""teleflow_py._fork: the package's one ``os.register_at_fork``, in a real forked child."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")


def test_hooks_run_in_order_weakly_held_and_a_failing_one_stops_nothing() -> None:
    code = textwrap.dedent(
        """
        import os, sys
        from teleflow_py import _fork

        calls = []

        class Holder:
            def hook(self):
                calls.append("gone")

        def boom():
            raise RuntimeError("a failing hook")

        _fork.on_fork(before=lambda: calls.append("before-1"),
                      after_in_parent=lambda: calls.append("parent-1"),
                      after_in_child=lambda: calls.append("child-1"))
        held = [lambda: calls.append("before-2"), boom]
        _fork.on_fork(before=held[0], after_in_child=held[1])
        holder = Holder()
        _fork.on_fork(before=holder.hook, after_in_child=holder.hook)
        del holder  # held weakly: never called again
        pid = os.fork()
        if pid == 0:
            print("child", calls, flush=True)
            os._exit(0)
        os.waitpid(pid, 0)
        print("parent", calls, flush=True)
        """
    )
    run = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env=dict(os.environ, PYTHONPATH=str(REPO)),
        timeout=60,
    )
    assert run.returncode == 0, run.stderr
    lines = dict(line.split(" ", 1) for line in run.stdout.splitlines())
    # Before: newest first; after: oldest first; the failing hook logged, the rest ran.
    assert lines["child"] == "['before-2', 'before-1', 'child-1']"
    assert lines["parent"] == "['before-2', 'before-1', 'parent-1']"
    assert "RuntimeError: a failing hook" in run.stderr
