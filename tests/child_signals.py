"""Children that a test interrupts with SIGINT receive it, whatever the test run inherited.

A shell without job control (``cmd &`` in a script, ``nohup``) starts its jobs with SIGINT
ignored, and an ignored signal stays ignored across fork and exec: a child started from
such a test run would never see the Ctrl-C its test sends, and the test would wait for its
hang guard. So such a child sets SIGINT itself, first thing, to what Python installs in a
terminal (``KeyboardInterrupt``). This is done in the child's own code rather than in a
``preexec_fn``, which would run Python between fork and exec in a test process that has
threads (and run every ``os.register_at_fork`` hook on the way).

A test that sends SIGINT starts its child with :data:`SIGINT_DEFAULT` first in its code (or
with :func:`teleflow_command`), and is marked ``@pytest.mark.sigint``:
``tests/lifecycle/test_ignored_sigint.py`` runs the marked tests again with SIGINT ignored.
"""

from __future__ import annotations

import sys
from typing import List

#: Python source that gives SIGINT the handler Python installs in a terminal.
SIGINT_DEFAULT = "import signal; signal.signal(signal.SIGINT, signal.default_int_handler)\n"
#: Python source that ignores SIGINT, as a process started by ``nohup`` or ``cmd &`` does.
SIGINT_IGNORED = "import signal; signal.signal(signal.SIGINT, signal.SIG_IGN)\n"

_RUN_TELEFLOW = (
    "import runpy; runpy.run_module('teleflow_py', run_name='__main__', alter_sys=True)\n"
)


def teleflow_command(*args: str, sigint: str = SIGINT_DEFAULT) -> List[str]:
    """The command line of ``python -m teleflow_py ARGS`` with SIGINT set first by ``sigint``."""
    return [sys.executable, "-c", sigint + _RUN_TELEFLOW, *args]
