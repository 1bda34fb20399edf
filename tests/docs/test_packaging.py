"""The package's metadata says what is true: its run-time dependencies are the ones it
imports, the Python versions it claims are the ones tox tests, and the licence is shipped."""

from __future__ import annotations

import ast
import configparser
import re
from pathlib import Path
from typing import Set

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "teleflow_py"
# Distribution name -> the module it provides, for what setup.cfg may declare.
MODULES = {
    "requests": "requests",
    "urllib3": "urllib3",
    "typing-extensions": "typing_extensions",
    "certifi": "certifi",  # the CA bundle both clients verify with (it comes with requests)
}


def _setup_cfg() -> configparser.ConfigParser:
    config = configparser.ConfigParser()
    config.read(ROOT / "setup.cfg", encoding="utf-8")
    return config


def _lines(value: str) -> list[str]:
    return [line.strip() for line in value.splitlines() if line.strip()]


def _imported_modules() -> Set[str]:
    modules: Set[str] = set()
    for path in PACKAGE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                modules.update(alias.name.split(".")[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                modules.add(node.module.split(".")[0])
    return modules


def test_run_time_dependencies_are_exactly_the_ones_imported() -> None:
    declared = {
        re.split(r"[<>=!~;\[ ]", requirement)[0].lower()
        for requirement in _lines(_setup_cfg()["options"]["install_requires"])
    }
    imported = _imported_modules()
    assert declared <= set(MODULES), f"unknown run-time dependency in {declared}"
    for distribution, module in MODULES.items():
        # urllib3 arrives with requests; it is declared only if the package imports it itself.
        assert (distribution in declared) == (module in imported), distribution


def test_claimed_python_versions_are_the_ones_tox_runs() -> None:
    metadata = _setup_cfg()["metadata"]
    claimed = sorted(
        (int(major), int(minor))
        for major, minor in re.findall(
            r"Programming Language :: Python :: (\d+)\.(\d+)", metadata["classifiers"]
        )
    )
    tox = configparser.ConfigParser()
    tox.read(ROOT / "tox.ini", encoding="utf-8")
    envs = {env.strip() for env in tox["tox"]["envlist"].split(",")}
    tested = sorted((3, int(env[3:])) for env in envs if re.fullmatch(r"py3\d+", env))
    assert claimed == tested
    assert tox["tox"]["skip_missing_interpreters"] == "true"
    lowest = "{}.{}".format(*claimed[0])
    assert _setup_cfg()["options"]["python_requires"] == f">={lowest}"
    assert f"type-py{lowest.replace('.', '')}" in envs, "the lowest version is type-checked"


def test_the_licence_file_matches_the_metadata() -> None:
    text = (ROOT / "LICENSE").read_text(encoding="utf-8")
    assert text.startswith("MIT License")
    assert "Teleflow contributors" in text
    metadata = _setup_cfg()["metadata"]
    assert metadata["license"] == "MIT"
    assert metadata["license_files"] == "LICENSE"
    assert metadata["author"] == "Teleflow contributors"
