"""Every example in the docs runs, against the emulator, in a fresh interpreter."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from teleflow_py.emulator import Emulator

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = sorted((ROOT / "docs" / "examples").glob("*.py"))


def test_the_docs_have_examples() -> None:
    assert len(EXAMPLES) >= 3


@pytest.mark.parametrize("example", EXAMPLES, ids=[path.stem for path in EXAMPLES])
def test_example_runs_against_the_emulator(example: Path, emulator: Emulator) -> None:
    env = dict(os.environ, TELEFLOW_BASE_URL=emulator.url, PYTHONPATH=str(ROOT))
    env.pop("TELEFLOW_API_KEY", None)
    done = subprocess.run(
        [sys.executable, str(example)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    if "Emulator(" not in example.read_text():
        # The example talks to the API named by TELEFLOW_BASE_URL: this emulator.
        assert emulator.requests(), f"{example.name} sent nothing"


def test_the_testing_page_example_passes_with_the_installed_plugin(tmp_path: Path) -> None:
    # docs/testing.rst shows this file as a user's test module: run it as one, with pytest and
    # the plugin the installed package registers (no conftest of ours around it).
    example = ROOT / "docs" / "examples" / "testing" / "test_signup.py"
    env = dict(os.environ)
    env.pop("TELEFLOW_API_KEY", None)
    env.pop("TELEFLOW_BASE_URL", None)
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(example)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "2 passed" in done.stdout
