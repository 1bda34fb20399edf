"""A second SIGTERM cuts ``flush_on_sigterm``'s flush short: the loss is said on stderr."""

from __future__ import annotations

import contextlib
import signal
import subprocess
from pathlib import Path
from typing import Any, Dict, List, Tuple

from lifecycle_support import (
    API_KEY,
    HANG_GUARD,
    program,
    start_python,
    wait_for_a_batch,
    wait_until_ready,
)

from teleflow_py.emulator import Emulator

BATCH = "/v1/events/batch"


def _script(url: str, settings: str = "") -> str:
    return program(
        f"""
        import time
        from teleflow_py import Client
        from teleflow_py.integrations.signals import flush_on_sigterm
        client = Client(api_key={API_KEY!r}, base_url={url!r}{settings})
        flush_on_sigterm(client)
        for n in range(150):
            client.track("e", user_id="u", properties={{"n": n}})
        print("ready", flush=True)
        while True:
            time.sleep(1)
        """
    )


def _terminate_twice(
    emulator: Emulator, settings: str = ""
) -> Tuple[int, str, List[Dict[str, Any]]]:
    """Return the child's exit code, its stderr, and the events the server had processed
    when the child ended (read before the held batches are let go: a released batch is
    processed then, by the server's thread, whenever it gets there)."""
    # The first signal starts the flush, whose batch the server holds; the second one
    # arrives while it waits.
    emulator.delay_next(10, 60.0, path=BATCH)
    child = start_python(_script(emulator.url, settings))
    try:
        wait_until_ready(child)
        child.send_signal(signal.SIGTERM)
        wait_for_a_batch(emulator)
        # Two signals that arrive before the child runs its handler count as one (the
        # kernel and Python keep a flag, not a count), which a loaded machine makes likely:
        # repeat the second until the child ends. The flush waits on a batch the server
        # holds for 60 s, so every repeat lands while it runs.
        while child.poll() is None:
            child.send_signal(signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                child.wait(timeout=0.5)
        _, err = child.communicate(timeout=HANG_GUARD)
        processed = emulator.events()
    finally:
        emulator.clear_faults()
        if child.poll() is None:
            child.kill()
            child.wait()
    return child.returncode, err, processed


def test_a_second_sigterm_reports_the_events_lost_then_ends_the_process(
    emulator: Emulator,
) -> None:
    # Default settings.
    code, err, processed = _terminate_twice(emulator)
    assert code == -signal.SIGTERM, err
    assert (
        "teleflow_py: a second SIGTERM cut the analytics flush short: 150 events not "
        "delivered; they are lost"
    ) in err
    assert processed == []


def test_with_a_spool_the_second_sigterm_says_the_events_stay_in_it(
    emulator: Emulator, tmp_path: Path
) -> None:
    spool = f"{tmp_path}/spool.db"
    code, err, _ = _terminate_twice(emulator, f", spool_path={spool!r}")
    assert code == -signal.SIGTERM, err
    assert "150 events not delivered; they stay in the spool" in err
    assert spool in err
