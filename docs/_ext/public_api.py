"""What the docs say about the public API, read from the code so that it cannot drift.

Pure Python (no Sphinx): the docs extension (``teleflow_docs.py``) renders it, and
``tests/docs/test_docstrings.py`` checks it. It answers three questions:

* which callables are public: every function and class in ``teleflow_py.__all__``, their
  constructors and their public methods (inherited ones from the package too);
* which of their parameters the docstring's ``Args:`` section does not describe;
* what every setting of ``Client`` is: its default, the environment variable that feeds it
  and its description (the ``Args:`` line of ``Client``), and which ``TELEFLOW_*``
  environment variables the package reads at all.
"""

from __future__ import annotations

import ast
import importlib
import inspect
import re
from pathlib import Path
from typing import Any, Callable, Dict, Iterator, List, NamedTuple, Optional, Set, Tuple

PACKAGE = "teleflow_py"
SECTION = re.compile(r"^(Args|Arguments|Parameters|Keyword Args|Keyword Arguments):\s*$")
ANY_SECTION = re.compile(r"^[A-Z][A-Za-z ]*:\s*$")
ARG_LINE = re.compile(r"^\*{0,2}(\w+)\s*(\([^)]*\))?\s*:\s*(.*)$")
ENV_NAME = re.compile(r"\bTELEFLOW_[A-Z0-9_]+\b")


def args_section(docstring: Optional[str]) -> Dict[str, str]:
    """The ``Args:`` entries of a Google-style docstring: parameter name -> description."""
    lines = inspect.cleandoc(docstring or "").splitlines()
    described: Dict[str, str] = {}
    inside, indent, current = False, 0, ""
    for line in lines:
        stripped = line.strip()
        if SECTION.match(line):
            inside, indent, current = True, -1, ""
            continue
        if not inside:
            continue
        if stripped and not line.startswith(" ") and ANY_SECTION.match(line):
            inside = False
            continue
        if not stripped:
            continue
        depth = len(line) - len(line.lstrip())
        if indent < 0:
            indent = depth
        match = ARG_LINE.match(stripped)
        if depth == indent and match:
            current = match.group(1)
            described[current] = match.group(3).strip()
        elif depth > indent and current:
            described[current] = f"{described[current]} {stripped}".strip()
        elif depth < indent:
            inside = False
    return described


def _own(obj: Any) -> bool:
    module = getattr(obj, "__module__", "") or ""
    return module == PACKAGE or module.startswith(PACKAGE + ".")


def _written_in_package(function: Any) -> bool:
    """False for functions generated at run time (dataclass and NamedTuple constructors)."""
    code = getattr(inspect.unwrap(function), "__code__", None)
    return code is not None and code.co_filename.endswith(".py") and _own(function)


API_PAGE = Path(__file__).resolve().parent.parent / "api.rst"
EXTRA = re.compile(r"^\.\. teleflow-api::\s*\n((?:\n|   .*\n)*)", re.M)


def extra_names(page: Path = API_PAGE) -> List[str]:
    """Public names outside ``__all__`` (``teleflow_py.sub.name``): the lines indented under
    the ``.. teleflow-api::`` directive of ``docs/api.rst``."""
    match = EXTRA.search(page.read_text(encoding="utf-8"))
    lines = match.group(1).splitlines() if match else []
    return [line.strip() for line in lines if line.strip() and not line.strip().startswith(":")]


def public_names() -> List[Tuple[str, Any]]:
    """``(name, object)`` for every name in ``teleflow_py.__all__``, in that order, then the
    extra names of :func:`extra_names` (named from the package, ``analytics.inspect_spool``)."""
    package = importlib.import_module(PACKAGE)
    names = [(name, getattr(package, name)) for name in package.__all__]
    for dotted in extra_names():
        module, _, attribute = dotted.rpartition(".")
        names.append(
            (dotted[len(PACKAGE) + 1 :], getattr(importlib.import_module(module), attribute))
        )
    return names


def _methods(cls: type) -> Iterator[Tuple[str, Callable[..., Any]]]:
    seen = set()
    for klass in cls.__mro__:
        if not _own(klass):
            continue
        for name, value in vars(klass).items():
            if name.startswith("_") or name in seen:
                continue
            seen.add(name)
            if isinstance(value, (staticmethod, classmethod)):
                value = value.__func__
            if inspect.isfunction(value) and _written_in_package(value):
                yield name, value


class Callable_(NamedTuple):
    """One public callable: its dotted name, the docstring that must describe its
    parameters, and the parameters."""

    qualname: str
    docstring: Optional[str]
    parameters: List[str]
    source: str


def _parameters(function: Callable[..., Any]) -> List[str]:
    names = []
    for index, parameter in enumerate(inspect.signature(function).parameters.values()):
        if index == 0 and parameter.name in ("self", "cls"):
            continue
        if parameter.name.startswith("_"):
            continue
        names.append(parameter.name)
    return names


def public_callables() -> List[Callable_]:
    """Every public function, constructor and method reachable from ``__all__``."""
    found: List[Callable_] = []
    public = {id(obj) for _, obj in public_names()}
    for name, obj in public_names():
        if inspect.isfunction(obj) and _own(obj):
            found.append(
                Callable_(f"{PACKAGE}.{name}", obj.__doc__, _parameters(obj), _source(obj))
            )
        elif inspect.isclass(obj) and _own(obj):
            # A constructor written in the package is described by the class docstring
            # (napoleon renders it there); generated ones (dataclasses, TypedDicts) are not
            # called by users.
            # An inherited constructor is described once, on the public class that defines
            # it; one inherited from a private base (the clients' BaseClient) is described
            # by its own docstring, which the reference renders with the class's
            # (``autoclass_content = "both"``).
            init = _constructor(obj, public)
            if init is not None and _written_in_package(init) and _parameters(init):
                found.append(
                    Callable_(
                        f"{PACKAGE}.{name}",
                        _class_doc(obj),
                        _parameters(init),
                        _source(init),
                    )
                )
            for method_name, method in _methods(obj):
                params = _parameters(method)
                if params:
                    found.append(
                        Callable_(
                            f"{PACKAGE}.{name}.{method_name}",
                            method.__doc__,
                            params,
                            _source(method),
                        )
                    )
    return found


def _constructor(cls: type, public: Set[int]) -> Optional[Callable[..., Any]]:
    """``cls``'s ``__init__`` if ``cls`` or a private base of it defines it, else ``None``."""
    for klass in cls.__mro__:
        if "__init__" in vars(klass):
            if klass is cls or (_own(klass) and id(klass) not in public):
                return vars(klass)["__init__"]  # type: ignore[no-any-return]
            return None
    return None


def _class_doc(cls: type) -> str:
    """What the reference renders for a class: its docstring and its constructor's."""
    init = getattr(cls, "__init__", None)
    parts = [inspect.cleandoc(cls.__doc__ or "")]
    if init is not None and _written_in_package(init) and init.__doc__:
        parts.append(inspect.cleandoc(init.__doc__))
    return "\n\n".join(parts)


def _source(obj: Any) -> str:
    path = inspect.getsourcefile(inspect.unwrap(obj)) or "?"
    root = Path(importlib.import_module(PACKAGE).__file__ or "").resolve().parent.parent
    try:
        return str(Path(path).resolve().relative_to(root))
    except ValueError:
        return path


def undescribed() -> Dict[str, List[str]]:
    """``qualname -> parameters missing from its Args section`` for every offender."""
    missing: Dict[str, List[str]] = {}
    for item in public_callables():
        described = args_section(item.docstring)
        lacking = [name for name in item.parameters if name not in described]
        if lacking:
            missing[item.qualname] = lacking
    return missing


# -- settings --------------------------------------------------------------------------------


class Setting(NamedTuple):
    """One keyword of ``Client``: its default as shown, its environment variables, its text."""

    name: str
    default: str
    env: List[str]
    description: str


def _env_constants() -> Dict[str, str]:
    """``setting name -> environment variable`` from ``config.<NAME>_ENV`` constants."""
    config = importlib.import_module(f"{PACKAGE}.config")
    return {
        name[: -len("_ENV")].lower(): value
        for name, value in vars(config).items()
        if name.endswith("_ENV") and isinstance(value, str)
    }


def _shown(default: Any) -> str:
    if default is inspect.Parameter.empty:
        return "(required)"
    if isinstance(default, float) and default.is_integer():
        return f"{default:g}"
    return repr(default)


def settings() -> List[Setting]:
    """Every parameter of ``Client``, in signature order."""
    client = importlib.import_module(PACKAGE).Client
    described = args_section(_class_doc(client))
    env_constants = _env_constants()
    rows = []
    for parameter in inspect.signature(client.__init__).parameters.values():
        if parameter.name == "self":
            continue
        text = described.get(parameter.name, "")
        env = sorted(
            set(ENV_NAME.findall(text)) | set(filter(None, [env_constants.get(parameter.name)]))
        )
        rows.append(Setting(parameter.name, _shown(parameter.default), env, text))
    return rows


#: Variables that configure the process rather than a Client setting, and what they set.
PROCESS_VARIABLES = {"TELEFLOW_LOG": "the SDK's log output (:doc:`observability`)"}


def environment_variables() -> Dict[str, List[str]]:
    """``TELEFLOW_*`` names written in the package's code -> the files that read them."""
    root = Path(importlib.import_module(PACKAGE).__file__ or "").resolve().parent
    found: Dict[str, List[str]] = {}
    for path in sorted(root.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.Constant)
                and isinstance(node.value, str)
                and ENV_NAME.fullmatch(node.value)
            ):
                files = found.setdefault(node.value, [])
                relative = str(path.relative_to(root.parent))
                if relative not in files:
                    files.append(relative)
    return found
