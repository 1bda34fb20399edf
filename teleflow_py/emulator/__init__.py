"""A local emulator of the Teleflow API, for tests, demos and a live dashboard.

Standard library only, and nothing from the client side of ``teleflow_py``, so it can stand
in for the real service::

    from teleflow_py.emulator import Emulator

    with Emulator() as emu:
        ...  # point a client at emu.url
        assert emu.triggers(name="welcome")
"""

from __future__ import annotations

from .emulator import Emulator
from .settings import Workflow

__all__ = ["Emulator", "Workflow"]
