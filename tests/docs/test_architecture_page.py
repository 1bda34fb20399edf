"""docs/architecture.rst's module map names every module of the package, and only those.

A new top-level module (or folder) of ``teleflow_py`` needs its line in the map, so a
reader finds a thing by its name; a line for a module that is gone fails too.
"""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PAGE = ROOT / "docs" / "architecture.rst"
PACKAGE = ROOT / "teleflow_py"


def named_in_the_page() -> set:
    text = PAGE.read_text(encoding="utf-8")
    return set(re.findall(r"``((?:[\w]+/)*[\w]+(?:\.py|/))``", text))


def test_every_top_level_module_and_folder_is_in_the_module_map() -> None:
    named = named_in_the_page()
    present = {p.name for p in PACKAGE.glob("*.py")} | {
        p.name + "/" for p in PACKAGE.iterdir() if (p / "__init__.py").exists()
    }
    missing = sorted(present - named)
    assert not missing, f"add these to the module map of docs/architecture.rst: {missing}"


def test_every_module_the_page_names_exists() -> None:
    # Named from the package, from the core (its section names them bare), or the root.
    places = (PACKAGE, PACKAGE / "_core", ROOT)
    gone = sorted(
        name for name in named_in_the_page() if not any((p / name).exists() for p in places)
    )
    assert not gone, f"docs/architecture.rst names modules that do not exist: {gone}"
