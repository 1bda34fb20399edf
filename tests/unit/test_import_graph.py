"""The package's import graph: no circle (type-only imports included) and one-way layers.

Built from the source with ``ast``: every ``import`` and ``from ... import`` anywhere in a
module (under ``if TYPE_CHECKING:``, inside functions) is an edge, as a type checker and a
reader see them. ``from package import name`` is an edge to ``package.name`` when that is a
module, else to the package. The layers are those of docs/architecture.rst: the sans-I/O
core (``_core``) and the value modules it speaks in sit at the bottom and import no I/O
library; the emulator stands alone.
"""

from __future__ import annotations

import ast
import functools
import importlib
from pathlib import Path
from typing import Dict, Iterator, List, Set, Tuple

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "teleflow_py"

#: What the core may reach besides itself: the values its answers and errors are made of.
VALUES = {
    "teleflow_py._bodies",
    "teleflow_py._credential",
    "teleflow_py._hints",
    "teleflow_py._validation",
    "teleflow_py._version",
    "teleflow_py.config",
    "teleflow_py.errors",
    "teleflow_py.response",
    "teleflow_py.results",
    "teleflow_py.types",
}
#: Libraries that do I/O (or run an event loop, or start processes): never in the core.
IO_LIBRARIES = {
    "requests", "urllib3", "aiohttp", "httpx", "asyncio", "select", "selectors", "sqlite3",
    "subprocess", "multiprocessing", "concurrent", "urllib.request.urlopen",
}  # fmt: skip


@functools.cache
def modules() -> Dict[str, Path]:
    found = {}
    for path in PACKAGE.rglob("*.py"):
        parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        found[".".join(parts)] = path
    return found


def imports(name: str, path: Path, known: Set[str]) -> Iterator[Tuple[str, ast.AST]]:
    """``(imported module, node)`` for every import in ``path``, package-relative resolved.

    ``from base import x`` imports ``base.x`` when that is a module of the package, else
    ``base`` (``x`` is a name in it).
    """
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, node
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package
                for _ in range(node.level - 1):
                    anchor = anchor.rpartition(".")[0]
                base = f"{anchor}.{node.module}" if node.module else anchor
            for alias in node.names:
                sub = f"{base}.{alias.name}"
                yield (sub if sub in known else base), node


@functools.cache
def graph() -> Dict[str, Set[str]]:
    known = modules()
    edges: Dict[str, Set[str]] = {name: set() for name in known}
    for name, path in known.items():
        for target, _ in imports(name, path, set(known)):
            if target in known and target != name:
                edges[name].add(target)
    return edges


def cycles(edges: Dict[str, Set[str]]) -> List[List[str]]:
    """The strongly connected components with more than one module (Tarjan)."""
    index: Dict[str, int] = {}
    low: Dict[str, int] = {}
    stack: List[str] = []
    found: List[List[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for target in edges[node]:
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(edges):
        if node not in index:
            visit(node)
    return found


def reachable(edges: Dict[str, Set[str]], start: Set[str]) -> Set[str]:
    seen: Set[str] = set()
    todo = list(start)
    while todo:
        node = todo.pop()
        if node not in seen:
            seen.add(node)
            todo.extend(edges[node])
    return seen


def test_the_graph_sees_type_only_and_function_level_imports() -> None:
    # A walk that missed them would pass the circle test without checking them.
    edges = graph()
    assert "teleflow_py.errors" in edges["teleflow_py._core.hooks"]  # under TYPE_CHECKING
    assert "teleflow_py.client" in edges["teleflow_py"]
    assert len(edges) > 90


def test_a_socket_call_in_the_core_is_caught(tmp_path: Path) -> None:
    module = tmp_path / "m.py"
    module.write_text("import socket\nsocket.gethostname()\nexcept_ = socket.timeout\n")
    assert not _only_exception_classes(module, "socket")
    module.write_text("import http.client\nkinds = (http.client.HTTPException,)\n")
    assert _only_exception_classes(module, "http.client")


def test_a_circle_is_found() -> None:
    edges = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert cycles(edges) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_no_import_circle_type_only_ones_included() -> None:
    assert cycles(graph()) == []


def test_the_core_reaches_only_itself_and_the_value_modules() -> None:
    edges = graph()
    core = {name for name in edges if name.startswith("teleflow_py._core")}
    outside = reachable(edges, core) - core
    assert outside <= VALUES, sorted(outside - VALUES)


@functools.cache
def bottom_layer() -> Dict[str, Path]:
    known = modules()
    edges = graph()
    core = {name for name in known if name.startswith("teleflow_py._core")}
    return {name: known[name] for name in reachable(edges, core)}


@pytest.mark.parametrize("name", sorted(bottom_layer()))
def test_the_core_and_its_values_import_no_io_library(name: str) -> None:
    path = bottom_layer()[name]
    for target, _ in imports(name, path, set(modules())):
        top = target.split(".")[0]
        assert top not in IO_LIBRARIES and target not in IO_LIBRARIES, (name, target)
        if top == "teleflow_py":
            continue
        assert top not in ("socket", "http") or _only_exception_classes(path, target), (
            f"{name} uses {target} for more than its exception classes"
        )
        if top == "threading":
            # Locks guard state the drivers' threads share (a bulk call's shared pause,
            # its outcomes, the pacer, the live-key set); the core starts no thread.
            assert _attributes(path, "threading") <= {"Lock", "RLock"}, name


def _attributes(path: Path, module: str) -> Set[str]:
    """The attributes read of ``module`` (``module.x``) in ``path``."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return {
        node.attr
        for node in ast.walk(tree)
        if isinstance(node, ast.Attribute)
        and isinstance(node.value, ast.Name)
        and node.value.id == module.split(".")[0]
    } | {
        node.attr
        for node in ast.walk(tree)
        if isinstance(node, ast.Attribute)
        and isinstance(node.value, ast.Attribute)
        and ast.unparse(node.value) == module
    }


def _only_exception_classes(path: Path, target: str) -> bool:
    module_name = target if target in ("socket", "http.client") else target.rpartition(".")[0]
    module = importlib.import_module(module_name)
    used = _attributes(path, module_name)
    if module_name == "http.client":
        used = {a for a in used if a != "client"}
    if module_name == "socket":
        used -= {"client"}
    return all(
        isinstance(getattr(module, attr, None), type)
        and issubclass(getattr(module, attr), BaseException)
        for attr in used
    )


def test_the_emulator_imports_nothing_from_the_client_side() -> None:
    edges = graph()
    emulator = {name for name in edges if name.startswith("teleflow_py.emulator")}
    outside = reachable(edges, emulator) - emulator
    assert outside == set(), sorted(outside)
