"""The asynchronous client, :class:`AsyncClient` (``pip install teleflow-py[async]``).

``import teleflow_py`` never imports this package (nor httpx): ``teleflow_py.AsyncClient``
loads it on first use.
"""

from __future__ import annotations

try:
    import httpx  # noqa: F401
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise ImportError(
        "teleflow_py.AsyncClient needs httpx: pip install 'teleflow-py[async]'"
    ) from exc

from .client import AsyncClient

__all__ = ["AsyncClient"]
