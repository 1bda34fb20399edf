"""Every public parameter is described: the API reference (autodoc + napoleon) renders each
``Args:`` line, so a parameter missing there is a parameter the reader cannot learn about.

Public means reachable from ``teleflow_py.__all__``: its functions, its classes'
constructors and their public methods (``docs/_ext/public_api.py`` walks them; the docs
build uses the same walk for the reference and the configuration table).
"""

from __future__ import annotations

import importlib.util
import re
import sys
from pathlib import Path
from typing import Dict

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "docs" / "_ext"))

import public_api  # noqa: E402


def test_every_public_parameter_has_an_args_line() -> None:
    missing = public_api.undescribed()
    assert not missing, f"parameters missing from the Args section: {missing}"


def test_the_walk_finds_the_public_api() -> None:
    # A walk that found nothing would pass the test above without checking anything.
    names = {item.qualname for item in public_api.public_callables()}
    assert {"teleflow_py.Client", "teleflow_py.Client.trigger_event"} <= names
    assert "teleflow_py.Client.track" in names
    assert not any(".MessageQueue" in name or "._" in name for name in names)


@pytest.mark.parametrize(
    ("docstring", "expected"),
    [
        (
            "Do it.\n\nArgs:\n    a: one\n    b (int): two\n        more\n\nRaises:\n    X: y",
            {"a": "one", "b": "two more"},
        ),
        ("Args:\n    **settings: the rest\n", {"settings": "the rest"}),
        ("Nothing here.\n\nReturns:\n    a: not an arg\n", {}),
        (None, {}),
    ],
)
def test_args_sections_are_read_as_napoleon_does(docstring: str, expected: Dict[str, str]) -> None:
    assert public_api.args_section(docstring) == expected


def test_every_client_setting_is_in_the_configuration_table() -> None:
    rows = public_api.settings()
    assert [row.name for row in rows][:2] == ["api_key", "base_url"]
    assert all(row.description for row in rows), [row.name for row in rows if not row.description]
    by_name = {row.name: row for row in rows}
    assert by_name["api_key"].env == ["TELEFLOW_API_KEY"]
    assert by_name["max_retries"].default == "5"
    # Every TELEFLOW_* variable the package reads feeds a documented setting (or the process).
    documented = {name for row in rows for name in row.env} | set(public_api.PROCESS_VARIABLES)
    assert set(public_api.environment_variables()) <= documented


def test_the_docs_reference_public_names_only() -> None:
    directive = re.compile(r"^\.\. auto\w+:: (teleflow_py[\w.]*)", re.M)
    public = {name for name, _ in public_api.public_names()}
    for page in (ROOT / "docs").glob("*.rst"):
        for target in directive.findall(page.read_text(encoding="utf-8")):
            parts = target.split(".")
            assert not any(part.startswith("_") for part in parts[1:]), (page.name, target)
            if len(parts) == 2 and parts[1] not in public:
                # Not an exported name: then a public module (its page draws the module).
                assert importlib.util.find_spec(target) is not None, (page.name, target)


def test_public_names_outside_all_are_read_from_the_api_page() -> None:
    extra = public_api.extra_names()
    names = [name for name, _ in public_api.public_names()]
    assert all(f"teleflow_py.{name}" not in extra for name in names[: -len(extra) or None])
    for dotted in extra:
        assert dotted.startswith("teleflow_py.") and "._" not in dotted, dotted
        assert dotted[len("teleflow_py.") :] in names


def test_extra_public_names_are_the_lines_under_the_directive(tmp_path: Path) -> None:
    page = tmp_path / "api.rst"
    page.write_text(
        "API\n===\n\n.. teleflow-api::\n\n   teleflow_py.emulator.Emulator\n\n"
        "   teleflow_py.config.mask_key\n\nAfter\n-----\n\n   teleflow_py.not_this\n",
        encoding="utf-8",
    )
    assert public_api.extra_names(page) == [
        "teleflow_py.emulator.Emulator",
        "teleflow_py.config.mask_key",
    ]
