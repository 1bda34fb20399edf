"""Shared fixtures: a running emulator on loopback and a client pointed at it."""

from __future__ import annotations

from typing import Iterator

import pytest

from teleflow_py import Client
from teleflow_py.emulator import Emulator

API_KEY = "sk_test_0123456789abcdef"


@pytest.fixture
def api_key() -> str:
    """A key that looks real, so tests can check it never leaks."""
    return API_KEY


@pytest.fixture
def emulator() -> Iterator[Emulator]:
    with Emulator() as emu:
        yield emu


@pytest.fixture
def client(emulator: Emulator) -> Iterator[Client]:
    with Client(api_key=API_KEY, base_url=emulator.url, max_retries=3) as api:
        yield api
