"""A Celery prefork child: it ends with os._exit right after ``worker_process_shutdown``.

Celery is not installed for the tests; ``fake_celery`` stands in for ``celery.signals``
with Celery's calling convention, and the child is forked and ended as billiard does.
"""

from __future__ import annotations

import os
from collections import Counter
from pathlib import Path

import pytest
from lifecycle_support import API_KEY, counts, run_python

from teleflow_py.emulator import Emulator

FAKE_CELERY = Path(__file__).parent / "fake_celery"
PREFORK_CHILD = """
import os
from celery.signals import worker_process_shutdown
from teleflow_py import Client
from teleflow_py.integrations.celery import flush_in_worker_processes

# No batch is due by itself (a 5 s flush_interval could pass in a stalled child and send
# what "without" expects lost): only a flush at the child's end sends anything.
client = Client(api_key={key!r}, base_url={url!r}, flush_interval=600, flush_at=1000)
{setup}
children = []
for child in range(3):
    pid = os.fork()
    if pid == 0:
        for n in range(50):
            client.track("task", user_id=f"child-{{child}}", properties={{"n": n}})
        # What billiard does when a pool child ends.
        worker_process_shutdown.send(sender=None, pid=os.getpid(), exitcode=0)
        os._exit(0)
    children.append(pid)
for pid in children:
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
"""


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
@pytest.mark.parametrize("connected", [True, False], ids=["integration", "without"])
def test_a_prefork_child_delivers_with_the_integration(emulator: Emulator, connected: bool) -> None:
    setup = "flush_in_worker_processes(client)" if connected else ""
    code = PREFORK_CHILD.format(key=API_KEY, url=emulator.url, setup=setup)
    result = run_python(code, extra_path=[FAKE_CELERY])
    assert result.returncode == 0, result.stderr
    if connected:
        assert counts(emulator) == Counter({f"child-{i}": 50 for i in range(3)})
    else:
        # Without it, the os._exit loses what the child had queued.
        assert sum(counts(emulator).values()) < 150


def test_the_integration_imports_celery_only_when_called() -> None:
    result = run_python(
        """
        import sys
        import teleflow_py.integrations.celery
        import teleflow_py.integrations.serverless
        import teleflow_py.integrations.signals
        print(sorted({"celery", "gevent", "multiprocessing"} & set(sys.modules)))
        """
    )
    assert result.stdout.split() == ["[]"], result.stderr
