"""Shared fixtures: a running emulator on loopback and a client pointed at it."""

from __future__ import annotations

from typing import Iterator

import pytest

from teleflow_py import Client
from teleflow_py._core import dedup
from teleflow_py.emulator import Emulator

API_KEY = "sk_test_0123456789abcdef"


@pytest.fixture(autouse=True)
def _forget_what_servers_taught() -> Iterator[None]:
    """Each test starts with no server known to deduplicate or not.

    What a client learns is kept per base URL for the process; an emulator of a later test
    can get the port of an earlier one, and must not inherit what that one taught.
    """
    yield
    with dedup._servers_lock:
        dedup._servers.clear()


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
