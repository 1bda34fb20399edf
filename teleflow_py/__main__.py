"""``python -m teleflow_py``: the same as the ``teleflow`` command."""

from .cli import main

raise SystemExit(main())
