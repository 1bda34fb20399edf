"""Sphinx directives that write the docs' tables from the code and the results files.

* ``.. teleflow-settings::`` every keyword of ``Client`` with its default, environment
  variable and the description from ``Client``'s ``Args:`` section;
* ``.. teleflow-environment::`` every ``TELEFLOW_*`` variable the package reads;
* ``.. teleflow-api::`` the API reference: an autodoc entry for each name in ``__all__``;
* ``.. teleflow-error-tree::`` the exception classes as a tree;
* ``.. teleflow-benchmarks::`` the machine, method and numbers of ``benchmarks/results.json``.

A setting without a description, or an environment variable that no setting mentions, is a
warning, and the docs build (``-W``) fails on it.
"""

from __future__ import annotations

import importlib
import inspect
import json
import re
from pathlib import Path
from typing import Any, Dict, List, Set

import public_api
from docutils import nodes
from docutils.statemachine import StringList
from sphinx.application import Sphinx
from sphinx.util import logging
from sphinx.util.docutils import SphinxDirective
from sphinx.util.nodes import nested_parse_with_titles

ROOT = Path(__file__).resolve().parents[2]
RESULTS = ROOT / "benchmarks" / "results.json"
LOG = logging.getLogger(__name__)
AUTODOC = re.compile(r"^\.\. auto(?:class|exception|function|data):: teleflow_py\.(\w+)\s*$", re.M)

#: Order of the API reference: the module an object is defined in -> section title.
SECTIONS = [
    ("teleflow_py.client", "The client"),
    ("teleflow_py.aio", "The async client"),
    ("teleflow_py.results", "Results"),
    ("teleflow_py.response", "Responses"),
    ("teleflow_py.types", "Request bodies"),
    ("teleflow_py.analytics", "Analytics"),
    ("teleflow_py.config", "Settings"),
    ("teleflow_py.errors", "Errors"),
]


def _table(header: List[str], rows: List[List[str]], widths: List[int]) -> List[str]:
    lines = [
        ".. list-table::",
        "   :header-rows: 1",
        f"   :widths: {' '.join(map(str, widths))}",
        "",
    ]
    for row in [header, *rows]:
        lines.append(f"   * - {row[0] or ' '}")
        lines.extend(f"     - {cell or ' '}" for cell in row[1:])
    return lines


class _Generated(SphinxDirective):
    def lines(self) -> List[str]:
        raise NotImplementedError

    def run(self) -> List[nodes.Node]:
        container = nodes.container()
        source = self.get_source_info()[0]
        nested_parse_with_titles(self.state, StringList(self.lines(), source), container)
        return container.children


class SettingsDirective(_Generated):
    def lines(self) -> List[str]:
        rows = []
        for setting in public_api.settings():
            if not setting.description:
                LOG.warning("Client setting %r has no description in Client's Args", setting.name)
            env = ", ".join(f"``{name}``" for name in setting.env)
            rows.append([f"``{setting.name}``", f"``{setting.default}``", env, setting.description])
        return _table(["Keyword", "Default", "Environment", "Meaning"], rows, [18, 10, 18, 54])


class EnvironmentDirective(_Generated):
    def lines(self) -> List[str]:
        feeds: Dict[str, List[str]] = {}
        for setting in public_api.settings():
            for name in setting.env:
                feeds.setdefault(name, []).append(f"``{setting.name}``")
        rows = []
        for name, files in sorted(public_api.environment_variables().items()):
            sets = ", ".join(feeds.get(name, [])) or public_api.PROCESS_VARIABLES.get(name, "")
            if not sets:
                LOG.warning("%s is read in %s but no Client setting describes it", name, files)
            rows.append([f"``{name}``", sets, ", ".join(files)])
        return _table(["Variable", "Sets", "Read in"], rows, [30, 30, 40])


def _defining_module(name: str, obj: Any) -> str:
    module = getattr(obj, "__module__", None)
    if inspect.isclass(obj) or inspect.isfunction(obj):
        return str(module)
    # Data: the submodule whose source assigns the name.
    package = importlib.import_module(public_api.PACKAGE)
    for path in sorted(Path(package.__file__ or "").parent.rglob("*.py")):
        if any(line.startswith(f"{name} = ") for line in path.read_text("utf-8").splitlines()):
            relative = path.relative_to(Path(package.__file__ or "").parent.parent)
            return ".".join(relative.with_suffix("").parts)
    return public_api.PACKAGE


def _section_of(module: str) -> str:
    for prefix, title in SECTIONS:
        if module == prefix or module.startswith(prefix + "."):
            return title
    return "Other names"


def _documented_elsewhere(docs: Path) -> Set[str]:
    """Public names that a page documents with an autodoc directive of its own."""
    found: Set[str] = set()
    for page in docs.glob("*.rst"):
        found.update(AUTODOC.findall(page.read_text(encoding="utf-8")))
    return found


class ApiDirective(_Generated):
    """One autodoc entry per public name, grouped by the module that defines it.

    A name that a feature page documents too is listed here with ``:no-index:``, so that
    links go to the feature page and Sphinx sees no duplicate. The directive's content lists
    public names outside ``__all__`` (``teleflow_py.sub.name``, one a line).
    """

    has_content = True

    def lines(self) -> List[str]:
        grouped: Dict[str, List[str]] = {}
        elsewhere = _documented_elsewhere(Path(self.env.srcdir))
        for name, obj in public_api.public_names():
            module = _defining_module(name, obj)
            entry: List[str]
            if inspect.isclass(obj) and issubclass(obj, BaseException):
                entry = [
                    f".. autoexception:: teleflow_py.{name}",
                    "   :members:",
                    "   :show-inheritance:",
                ]
            elif inspect.isclass(obj):
                entry = [f".. autoclass:: teleflow_py.{name}", "   :members:"]
                if obj.__name__ in ("Client", "AsyncClient"):
                    # Their calls come from mixins (events, analytics).
                    entry.append("   :inherited-members:")
            elif inspect.isfunction(obj):
                entry = [f".. autofunction:: teleflow_py.{name}"]
            else:
                entry = [f".. autodata:: {module}.{name}"]
            if name in elsewhere:
                entry.append("   :no-index:")
            grouped.setdefault(_section_of(module), []).extend([*entry, ""])
        lines: List[str] = []
        order = [title for _, title in SECTIONS] + ["Other names"]
        for title in order:
            if title in grouped:
                lines.extend([title, "-" * len(title), "", *grouped[title]])
        return lines


class ErrorTreeDirective(_Generated):
    def lines(self) -> List[str]:
        public = {obj for _, obj in public_api.public_names() if inspect.isclass(obj)}
        package = importlib.import_module(public_api.PACKAGE)
        lines: List[str] = []

        def walk(cls: type, depth: int) -> None:
            summary = (inspect.getdoc(cls) or "").split("\n\n")[0].replace("\n", " ")
            lines.append(f"{'  ' * depth}* :class:`~teleflow_py.{cls.__name__}`: {summary}")
            lines.append("")
            for sub in sorted(cls.__subclasses__(), key=lambda c: c.__name__):
                if sub in public:
                    walk(sub, depth + 1)

        walk(package.TeleflowError, 0)
        return lines


def _number(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "**no**"
    if isinstance(value, float):
        return f"{value:,.0f}" if abs(value) >= 100 else f"{value:.3g}"
    return str(value)


class BenchmarksDirective(_Generated):
    def lines(self) -> List[str]:
        results = json.loads(RESULTS.read_text(encoding="utf-8"))
        machine = results["machine"]
        peers = ", ".join(
            f"{name} {version}" for name, version in results["peers"].items() if version
        )
        lines = [
            f"Measured {results['when']} with ``{results['command']}`` on {machine['cpu']} "
            f"({machine['cpus']} CPUs), {machine['platform']}, {machine['python']}. "
            f"Peers installed: {peers or 'none'}.",
            "",
        ]
        for skipped in results.get("not_run", []):
            lines += [f"*Not run:* ``{skipped['script']}`` ({skipped['reason']}).", ""]
        for document in results["benchmarks"]:
            title = f"``{document['script']}``"
            lines += [title, "~" * len(title), ""]
            info = ", ".join(f"{key} {value}" for key, value in document.get("info", {}).items())
            if info:
                lines += [f"Run with {info}; took {document['seconds']} s.", ""]
            rows = [
                [
                    item["name"],
                    item["sdk"],
                    f"{_number(item['value'])} {item['unit']}",
                    item.get("target") or "",
                    _number(item.get("ok")),
                ]
                for item in document["metrics"]
            ]
            lines += _table(
                ["Measurement", "Library", "Value", "Target", "Met"], rows, [40, 20, 15, 15, 10]
            )
            lines.append("")
        return lines


def setup(app: Sphinx) -> Dict[str, Any]:
    app.add_directive("teleflow-settings", SettingsDirective)
    app.add_directive("teleflow-environment", EnvironmentDirective)
    app.add_directive("teleflow-api", ApiDirective)
    app.add_directive("teleflow-error-tree", ErrorTreeDirective)
    app.add_directive("teleflow-benchmarks", BenchmarksDirective)
    return {"parallel_read_safe": True, "version": "1"}
