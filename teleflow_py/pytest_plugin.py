"""pytest plugin (entry point ``teleflow``): the ``teleflow_emulator`` fixture.

The fixture yields a running :class:`~teleflow_py.emulator.Emulator` for one test, with a
``client`` attribute: a ``teleflow_py.Client`` pointed at it, created on first use and
closed after the test. Emulator options come from the ``teleflow_emulator`` marker::

    @pytest.mark.teleflow_emulator(known_workflows=["welcome"])
    def test_signup(teleflow_emulator):
        teleflow_emulator.client.trigger_event("welcome", to="user-1")
        assert teleflow_emulator.triggers(name="welcome")[0]["to"] == "user-1"

It lives beside the client and the emulator, not inside the emulator: it uses both, and the
emulator imports nothing from the client side. Loading it imports only the emulator (standard
library); the SDK is imported when a test first touches ``.client``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Iterator, Optional

import pytest

from .emulator import Emulator

if TYPE_CHECKING:
    from teleflow_py import Client

MARKER = "teleflow_emulator"


class EmulatorFixture(Emulator):
    """An :class:`Emulator` with a lazily created SDK client pointed at it."""

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self._client: Optional[Client] = None

    @property
    def client(self) -> Client:
        """A ``teleflow_py.Client(api_key="test")`` for this emulator (created on first use)."""
        if self._client is None:
            # Imported here: loading the plugin must stay cheap for projects that never use it.
            from teleflow_py import Client

            self._client = Client(api_key="test", base_url=self.url, register_atexit=False)
        return self._client

    def close_client(self) -> None:
        """Close the client if one was created (flushes what it still holds)."""
        client, self._client = self._client, None
        if client is not None:
            client.close()


def pytest_configure(config: pytest.Config) -> None:
    """Register the marker so ``--strict-markers`` accepts it."""
    config.addinivalue_line(
        "markers",
        f"{MARKER}(**options): keyword arguments for the Emulator of the teleflow_emulator "
        "fixture (known_workflows, workflows, server_version, idempotency, rate_limiting, "
        "rate_limit_tier, event_quota, api_keys, ...)",
    )


@pytest.fixture
def teleflow_emulator(request: pytest.FixtureRequest) -> Iterator[EmulatorFixture]:
    """A running Teleflow emulator for this test, with ``.client``; stopped afterwards."""
    marker = request.node.get_closest_marker(MARKER)
    emulator = EmulatorFixture(**(marker.kwargs if marker is not None else {}))
    emulator.start()
    try:
        yield emulator
    finally:
        try:
            emulator.close_client()
        finally:
            emulator.stop()
