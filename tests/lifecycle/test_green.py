"""gevent and eventlet: the batcher keeps delivering in a monkey-patched process, whether
it was patched before the client was made or after (before its first event).

A client made before patching holds real locks; its worker, started after, is a greenlet,
and a greenlet waiting on a real lock blocks every other one: it used to lose everything
without a word. The worker now gets primitives of its own kind when it starts.
"""

from __future__ import annotations

from collections import Counter

import pytest
from lifecycle_support import API_KEY, counts, run_python

from teleflow_py.emulator import Emulator

PATCHES = {
    "gevent": "from gevent import monkey; monkey.patch_all()",
    "eventlet": "import eventlet; eventlet.monkey_patch()",
}
# Three green threads tracking 50 events each, yielding between events as a server does.
WORK = {
    "gevent": """
import gevent
def work(k):
    for n in range(k * 50, k * 50 + 50):
        client.track("e", user_id="u", properties={"n": n})
        gevent.sleep(0)
gevent.joinall([gevent.spawn(work, k) for k in range(3)])
""",
    "eventlet": """
import eventlet
def work(k):
    for n in range(k * 50, k * 50 + 50):
        client.track("e", user_id="u", properties={"n": n})
        eventlet.sleep(0)
pool = eventlet.GreenPool()
for k in range(3):
    pool.spawn(work, k)
pool.waitall()
""",
}
ENDINGS = {
    "exit": "",
    "flush": "print(client.flush(timeout=30).pending)",
}


@pytest.mark.parametrize("ending", sorted(ENDINGS))
@pytest.mark.parametrize("order", ["patched-first", "client-first"])
@pytest.mark.parametrize("library", sorted(PATCHES))
def test_a_patched_process_delivers_everything(
    emulator: Emulator, library: str, order: str, ending: str
) -> None:
    pytest.importorskip(library)
    patch = "import warnings; warnings.simplefilter('ignore'); " + PATCHES[library]
    make = f"from teleflow_py import Client\nclient = Client(api_key={API_KEY!r}, base_url={emulator.url!r})"
    steps = [patch, make] if order == "patched-first" else [make, patch]
    result = run_python("\n".join([*steps, WORK[library], ENDINGS[ending]]))
    assert result.returncode == 0, result.stderr
    if ending == "flush":
        assert result.stdout.split() == ["0"]
    assert counts(emulator) == Counter({"u": 150})
    assert "not delivered" not in result.stderr
