"""Both clients behind one face: :class:`Calls` (see ``conftest.py`` for the fixtures)."""

from __future__ import annotations

import asyncio
from typing import Any, Callable

from teleflow_py import AsyncClient, Client

API_KEY = "sk_test_0123456789abcdef"


class Calls:
    """The Events API of one client, called the same way whichever client it is."""

    def __init__(self, kind: str, **options: Any) -> None:
        self.kind = kind
        self.loop = asyncio.new_event_loop() if kind == "async" else None
        factory = AsyncClient if kind == "async" else Client
        self.client: Any = factory(api_key=API_KEY, **options)

    def __getattr__(self, name: str) -> Callable[..., Any]:
        method = getattr(self.client, name)
        loop = self.loop
        if loop is None:
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
