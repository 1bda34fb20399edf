"""Every command shown on docs/cli.rst runs against the emulator, and prints what it shows."""

from __future__ import annotations

import json
import shlex
import shutil
from pathlib import Path
from typing import List, Tuple

import pytest

from teleflow_py.emulator import Emulator

from .conftest import run_in_process

ROOT = Path(__file__).resolve().parents[2]
PAGE = ROOT / "docs" / "cli.rst"
# Shown but not run here: they need a terminal of their own, a failing server or a big file.
NOT_RUN = ("export ", "teleflow demo --serve", "teleflow bulk big.jsonl")


def _examples() -> List[Tuple[str, List[str]]]:
    """``(command, expected output lines)`` of every ``$`` line in a console block."""
    examples: List[Tuple[str, List[str]]] = []
    in_console = False
    for line in PAGE.read_text(encoding="utf-8").splitlines():
        if line.startswith(".. code-block::"):
            in_console = line.split("::")[1].strip() == "console"
            continue
        if line and not line.startswith(" "):
            in_console = False
        if not in_console or not line.strip():
            continue
        text = line.strip()
        if text.startswith("$ "):
            examples.append((text[2:], []))
        elif examples:
            examples[-1][1].append(text)
    return examples


def test_the_page_shows_every_command() -> None:
    shown = {command.split()[1] for command, _ in _examples() if command.startswith("teleflow")}
    assert shown >= {"trigger", "broadcast", "cancel", "bulk", "track", "demo"}


def test_every_example_on_the_page_runs(
    emulator: Emulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    shutil.copy(ROOT / "docs" / "examples" / "campaign.jsonl", tmp_path / "campaign.jsonl")
    monkeypatch.chdir(tmp_path)
    emulator.set_workflow("release-notes", delayed=True)  # so the cancel shown finds it
    ran_any = 0
    for command, expected in _examples():
        if command.startswith(NOT_RUN):
            continue
        args = shlex.split(command)
        assert args[0] == "teleflow", command
        ran = run_in_process(args[1:], base_url=emulator.url)
        ran_any += 1
        assert ran.code == 0, f"{command}\n{ran.err}"
        for shown, printed in zip(expected, ran.out.splitlines()):
            if shown.startswith("{"):
                expected_json = json.loads(shown)
                printed_json = json.loads(printed)
                assert set(printed_json) == set(expected_json), command
                for name, value in expected_json.items():
                    assert value == "..." or printed_json[name] == value, (command, name)
            elif "..." in shown:
                assert printed.startswith(shown.split("...")[0]), (command, printed)
            else:
                assert printed == shown, command
    assert ran_any >= 10


def _shown_error(prefix: str) -> str:
    [line] = [
        line.strip()
        for line in PAGE.read_text(encoding="utf-8").splitlines()
        if line.strip().startswith(prefix)
    ]
    return line


def test_the_error_lines_shown_are_what_the_command_prints() -> None:
    # The page's key is the suite's (it ends in "cdef"); this emulator knows another one,
    # and only the workflow "welcome".
    with Emulator(api_keys=["sk_test_another_key_0000"]) as emulator:
        refused = run_in_process(["trigger", "welcome", "--to", "ada"], base_url=emulator.url)
    assert refused.code == 1
    assert refused.err_lines == [_shown_error("teleflow: error: HTTP 401")]
    with Emulator(known_workflows=["welcome"]) as emulator:
        unknown = run_in_process(["trigger", "welcom", "--to", "ada"], base_url=emulator.url)
    assert unknown.code == 1
    assert unknown.err_lines == [_shown_error("teleflow: error: HTTP 422")]
