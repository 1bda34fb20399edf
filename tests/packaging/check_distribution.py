"""Build the distribution as a release would and check it as a user meets it (``tox -e package``).

1. ``python -m build`` on a copy of the checkout without its build leftovers: an sdist,
   then a wheel built from that sdist (so a file missing from the sdist fails here), both
   into a temporary directory.
2. ``twine check --strict``: the metadata and the README render as PyPI shows them.
3. The archives hold what they must: the licence, the README, ``py.typed``, the emulator's
   dashboard files; the sdist also the changelog, docs and tests; both carry the version
   of ``teleflow_py/_version.py``, the one place it is written.
4. The wheel, not this checkout, installed with the ``async`` extra in a new virtualenv,
   run from a folder outside the checkout: ``teleflow --version``, ``teleflow demo``,
   ``import teleflow_py.aio`` with whatever the extra brings, the pytest plugin registered.
5. The wheel without the extra: ``import teleflow_py.aio`` names the extra to install.

Usage: ``python tests/packaging/check_distribution.py`` (needs ``build`` and ``twine``);
everything happens in a temporary directory, removed afterwards. Exits non-zero, saying
what failed, on the first failure.
"""

from __future__ import annotations

import ast
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from pathlib import Path
from typing import Dict, Optional, Sequence

ROOT = Path(__file__).resolve().parents[2]
VENV_BIN = "Scripts" if os.name == "nt" else "bin"
# What a checkout gathers and a release must not depend on: setuptools puts every file an
# old *.egg-info/SOURCES.txt lists into the sdist, which would hide a file MANIFEST.in lost.
LEFTOVERS = shutil.ignore_patterns(
    ".git",
    ".tox",
    ".venv",
    "*.egg-info",
    "build",
    "dist",
    "_build",
    "__pycache__",
    ".*cache",
    ".hypothesis",
)


def version() -> str:
    """The version as ``teleflow_py/_version.py`` writes it (read without importing)."""
    tree = ast.parse((ROOT / "teleflow_py" / "_version.py").read_text(encoding="utf-8"))
    for node in tree.body:
        if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", "") == "__version__":
            return str(ast.literal_eval(node.value))
    raise SystemExit("teleflow_py/_version.py does not set __version__")


def run(command: Sequence[str], cwd: Path, env: Optional[Dict[str, str]] = None) -> str:
    """Run ``command``; on failure print its output and stop. Returns its stdout."""
    print("+", " ".join(command), flush=True)
    done = subprocess.run(
        list(command), cwd=cwd, env=env, capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        raise SystemExit(
            f"failed ({done.returncode}): {' '.join(command)}\n{done.stdout}\n{done.stderr}"
        )
    return done.stdout


def expect(condition: bool, message: str) -> None:
    if not condition:
        raise SystemExit(f"package check failed: {message}")


def check_archives(dist: Path, release: str) -> Path:
    """Check both archives' names and contents; return the wheel's path."""
    sdists = list(dist.glob("*.tar.gz"))
    wheels = list(dist.glob("*.whl"))
    expect(len(sdists) == 1 and len(wheels) == 1, f"one sdist and one wheel: {os.listdir(dist)}")
    expect(sdists[0].name == f"teleflow_py-{release}.tar.gz", f"sdist name {sdists[0].name}")
    expect(
        wheels[0].name == f"teleflow_py-{release}-py3-none-any.whl", f"wheel name {wheels[0].name}"
    )
    with tarfile.open(sdists[0]) as sdist:
        top = f"teleflow_py-{release}/"
        in_sdist = {name[len(top) :] for name in sdist.getnames() if name.startswith(top)}
    with zipfile.ZipFile(wheels[0]) as wheel:
        in_wheel = set(wheel.namelist())
        metadata = wheel.read(f"teleflow_py-{release}.dist-info/METADATA").decode("utf-8")
    package = {
        "teleflow_py/py.typed",
        "teleflow_py/_version.py",
        "teleflow_py/emulator/static/index.html",
        "teleflow_py/emulator/static/dashboard.js",
        "teleflow_py/emulator/static/dashboard.css",
    }
    sdist_only = {"LICENSE", "README.md", "CHANGELOG.md", "tox.ini", "docs/index.rst"}
    sdist_only |= {"tests/conftest.py", "tests/data/events-openapi.json"}
    missing = (package | sdist_only) - in_sdist
    expect(not missing, f"missing from the sdist: {sorted(missing)}")
    missing = (package | {f"teleflow_py-{release}.dist-info/licenses/LICENSE"}) - in_wheel
    expect(not missing, f"missing from the wheel: {sorted(missing)}")
    strays = sorted(name for name in in_wheel if not name.startswith("teleflow_py"))
    expect(not strays, f"the wheel installs more than teleflow_py: {strays}")
    expect(f"\nVersion: {release}\n" in metadata, "the wheel's metadata has another version")
    expect("Provides-Extra: async" in metadata, "the wheel has no async extra")
    return wheels[0]


def new_venv(path: Path, requirement: str, cwd: Path) -> Path:
    """A new virtualenv at ``path`` with ``requirement`` installed; returns its bin folder."""
    run([sys.executable, "-m", "venv", str(path)], cwd)
    bin_dir = path / VENV_BIN
    run([str(bin_dir / "python"), "-m", "pip", "install", "-q", requirement], cwd)
    return bin_dir


def check_installed(work: Path, wheel: Path, release: str) -> None:
    # Run from a folder of its own: nothing may come from the checkout.
    away = work / "elsewhere"
    away.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "TELEFLOW_API_KEY")}
    env.pop("TELEFLOW_BASE_URL", None)
    bin_dir = new_venv(work / "with-async", f"{wheel}[async]", away)
    python = str(bin_dir / "python")
    said = run([str(bin_dir / "teleflow"), "--version"], away, env).strip()
    expect(said == f"teleflow-py {release}", f"teleflow --version said {said!r}")
    # Exit 0 means every check the demo makes held (run() stops on any other code).
    demo = run([str(bin_dir / "teleflow"), "demo"], away, env)
    expect(demo.strip() != "", "teleflow demo printed nothing")
    where = run(
        [python, "-c", "import teleflow_py.aio, teleflow_py; print(teleflow_py.__file__)"],
        away,
        env,
    ).strip()
    expect(Path(where).resolve().is_relative_to(work.resolve()), f"imported from {where}")
    plugins = run(
        [
            python,
            "-c",
            "from importlib.metadata import entry_points; found = entry_points(); "
            "group = found.select(group='pytest11') if hasattr(found, 'select') "
            "else found.get('pytest11', ()); print(sorted(p.name for p in group))",
        ],
        away,
        env,
    )
    expect("'teleflow'" in plugins, f"the pytest plugin is not registered: {plugins}")
    bin_dir = new_venv(work / "without-async", str(wheel), away)
    done = subprocess.run(
        [str(bin_dir / "python"), "-c", "import teleflow_py.aio"],
        cwd=away,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    expect(done.returncode != 0, "teleflow_py.aio imported without the async extra")
    expect("teleflow-py[async]" in done.stderr, f"the ImportError names no extra:\n{done.stderr}")


def main() -> int:
    release = version()
    with tempfile.TemporaryDirectory(prefix="teleflow-package-") as temporary:
        work = Path(temporary)
        dist = work / "dist"
        source = work / "source"
        shutil.copytree(ROOT, source, ignore=LEFTOVERS)
        run([sys.executable, "-m", "build", "--outdir", str(dist), str(source)], work)
        run([sys.executable, "-m", "twine", "check", "--strict", *map(str, dist.iterdir())], work)
        wheel = check_archives(dist, release)
        check_installed(work, wheel, release)
    print(f"teleflow-py {release}: sdist and wheel built, checked and installed; all good")
    return 0


if __name__ == "__main__":
    sys.exit(main())
