"""The asynchronous client, :class:`AsyncClient` (``pip install teleflow-py[async]``).

It sends over aiohttp. ``import teleflow_py`` never imports this package (nor aiohttp):
``teleflow_py.AsyncClient`` loads it on first use.
"""

from __future__ import annotations

try:
    import aiohttp  # noqa: F401
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise ImportError(
        "teleflow_py.AsyncClient needs aiohttp: pip install 'teleflow-py[async]'"
    ) from exc

from .client import AsyncClient

__all__ = ["AsyncClient"]
