"""Both clients behind one face: :class:`Calls` (see ``conftest.py`` for the fixtures)."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import Any, Callable

from teleflow_py import AsyncClient, Client

# The misbehaving raw-socket server of the sync client's deadline tests, reused as is.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "events"))

API_KEY = "sk_test_0123456789abcdef"


class Calls:
    """The Events API of one client, called the same way whichever client it is."""

    def __init__(self, kind: str, **options: Any) -> None:
        self.kind = kind
        self.loop = asyncio.new_event_loop() if kind == "async" else None
        factory = AsyncClient if kind == "async" else Client
        self.client: Any = factory(**{"api_key": API_KEY, **options})

    def with_options(self, **options: Any) -> Calls:
        """The client's ``with_options`` copy, called the same way (on the same loop)."""
        copy = object.__new__(Calls)
        copy.kind, copy.loop = self.kind, self.loop
        copy.client = self.client.with_options(**options)
        return copy

    def __getattr__(self, name: str) -> Callable[..., Any]:
        method = getattr(self.client, name)
        loop = self.loop
        if loop is None or not asyncio.iscoroutinefunction(method):
            return method  # type: ignore[no-any-return]

        def run(*args: Any, **kwargs: Any) -> Any:
            return loop.run_until_complete(method(*args, **kwargs))

        return run

    def close(self) -> None:
        if self.loop is None:
            self.client.close()
        else:
            self.loop.run_until_complete(self.client.close())
            self.loop.close()
