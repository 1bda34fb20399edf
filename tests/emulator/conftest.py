"""Fixtures for the emulator tests: a running emulator and an authenticated HTTP session."""

from __future__ import annotations

from typing import Iterator

import pytest

from teleflow_py.emulator import Emulator

# The users' fixture, available here whether or not the package (and its entry point) is installed.
from teleflow_py.pytest_plugin import teleflow_emulator  # noqa: F401

from ._support import Api


@pytest.fixture
def emu(emulator: Emulator) -> Emulator:
    """The shared ``emulator`` fixture (tests/conftest.py) under a short name."""
    return emulator


@pytest.fixture
def api(emu: Emulator) -> Iterator[Api]:
    client = Api(emu.url)
    yield client
    client.session.close()
