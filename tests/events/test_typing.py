"""mypy --strict catches mistakes in user code that calls the Events API (issue 8).

``typing_cases/good.py`` must type-check; every line of ``typing_cases/bad.py`` marked
``# error`` must be reported, and no other line.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

api = pytest.importorskip("mypy.api")

CASES = Path(__file__).parent / "typing_cases"


@pytest.mark.timeout(300)
def test_user_code_type_checks_as_promised(tmp_path: Path) -> None:
    stdout, stderr, _ = api.run(
        [
            "--strict",
            "--no-error-summary",
            "--cache-dir",
            str(tmp_path / "cache"),
            str(CASES / "good.py"),
            str(CASES / "bad.py"),
        ]
    )
    assert not stderr, stderr
    errors = [line for line in stdout.splitlines() if ": error:" in line]
    assert not [line for line in errors if "good.py" in line], stdout
    reported = {int(m.group(1)) for m in re.finditer(r"bad\.py:(\d+): error:", stdout)}
    lines = (CASES / "bad.py").read_text().splitlines()
    expected = {number for number, line in enumerate(lines, 1) if line.endswith("# error")}
    assert reported == expected, stdout
