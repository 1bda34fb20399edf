"""The emulator stands in for the real service: standard library only, no client imports."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

import teleflow_py.emulator

PACKAGE = Path(teleflow_py.emulator.__file__).parent
# The plugin may import pytest, and the SDK lazily inside the fixture (never at module level).
PLUGIN_EXTRAS = {"pytest", "teleflow_py"}


def imports(tree: ast.AST) -> list[tuple[str, bool]]:
    """(top-level module, imported at module level) for each absolute import."""
    found = []
    top_level = {id(node) for node in getattr(tree, "body", [])}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(alias.name.split(".")[0], id(node) in top_level) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.append((node.module.split(".")[0], id(node) in top_level))
    return found


@pytest.mark.skipif(sys.version_info < (3, 10), reason="sys.stdlib_module_names is 3.10+")
@pytest.mark.parametrize("module", sorted(PACKAGE.glob("*.py")), ids=lambda path: path.name)
def test_only_standard_library_imports(module: Path) -> None:
    tree = ast.parse(module.read_text())
    for name, at_top in imports(tree):
        if name in sys.stdlib_module_names:
            continue
        assert module.name == "pytest_plugin.py", f"{module.name} imports {name}"
        assert name in PLUGIN_EXTRAS, name
        if name == "teleflow_py":
            # The only module-level use is under TYPE_CHECKING (an `if` block, not top level).
            assert not at_top, "teleflow_py must be imported lazily"


def test_static_assets_load_nothing_from_outside() -> None:
    for asset in (PACKAGE / "static").iterdir():
        text = asset.read_text()
        assert "http://" not in text and "https://" not in text, asset.name
        assert "innerHTML" not in text, asset.name
