"""SIGTERM, as containers and process managers send it, with and without the opt-in."""

from __future__ import annotations

import signal
import threading
from typing import List

from lifecycle_support import (
    API_KEY,
    HANG_GUARD,
    delivered,
    program,
    signal_and_wait,
    start_python,
    wait_for_a_batch,
    wait_until_ready,
)

from teleflow_py import Client
from teleflow_py.emulator import Emulator
from teleflow_py.integrations.signals import flush_on_sigterm

KILLED_BY_SIGTERM = -signal.SIGTERM
BATCH = "/v1/events/batch"
WAIT_FOREVER = """
while True:
    time.sleep(1)
"""


def script(url: str, setup: str = "", settings: str = "", wait: str = WAIT_FOREVER) -> str:
    """Queue 150 events after ``setup``, say ``ready``, then ``wait`` to be stopped."""
    return "\n".join(
        [
            "import signal, sys, time",
            "from teleflow_py import Client",
            "from teleflow_py.integrations.signals import flush_on_sigterm",
            f"client = Client(api_key={API_KEY!r}, base_url={url!r}{settings})",
            program(setup),
            "for n in range(150):",
            "    client.track('e', user_id='u', properties={'n': n})",
            "print('ready', flush=True)",
            program(wait),
        ]
    )


def test_without_the_opt_in_sigterm_kills_at_once_and_nothing_is_installed(
    emulator: Emulator,
) -> None:
    # The SDK installs no handler of its own, so Python's default action ends the process
    # before anything is sent: this is why the opt-in exists.
    setup = "assert signal.getsignal(signal.SIGTERM) == signal.SIG_DFL"
    # No batch is due before the signal: only a flush at the end could send anything.
    child = start_python(script(emulator.url, setup, ", flush_interval=600, flush_at=1000"))
    code, _, err = signal_and_wait(child)
    assert code == KILLED_BY_SIGTERM, err
    assert delivered(emulator) == {}


def test_the_opt_in_delivers_then_dies_of_sigterm(emulator: Emulator) -> None:
    child = start_python(script(emulator.url, "flush_on_sigterm(client)"))
    code, _, err = signal_and_wait(child)
    assert code == KILLED_BY_SIGTERM, err
    assert delivered(emulator) == {"u": list(range(150))}
    assert err == ""


def test_the_opt_in_flushes_before_the_previous_python_handler_runs(
    emulator: Emulator,
) -> None:
    setup = """
    def previous(signum, frame):
        print("pending when the previous handler ran:", client.analytics_stats.pending)
        sys.exit(3)
    signal.signal(signal.SIGTERM, previous)
    flush_on_sigterm(client)
    """
    child = start_python(script(emulator.url, setup, ", flush_interval=600, flush_at=1000"))
    code, out, err = signal_and_wait(child)
    assert code == 3, err
    assert "pending when the previous handler ran: 0" in out
    assert delivered(emulator) == {"u": list(range(150))}


def test_an_ignored_sigterm_stays_ignored_after_the_flush(emulator: Emulator) -> None:
    setup = "signal.signal(signal.SIGTERM, signal.SIG_IGN); flush_on_sigterm(client)"
    # Nothing else sends within the test: no batch is due before the signal.
    wait = """
    while client.analytics_stats.accepted < 150:
        time.sleep(0.01)
    client.track("e", user_id="u", properties={"n": 150})
    """
    child = start_python(script(emulator.url, setup, ", flush_interval=600, flush_at=1000", wait))
    code, _, err = signal_and_wait(child)
    assert code == 0, err
    assert delivered(emulator) == {"u": list(range(151))}


def test_with_the_server_down_the_opt_in_reports_the_loss_and_still_dies_of_sigterm(
    emulator: Emulator,
) -> None:
    emulator.go_down()
    child = start_python(script(emulator.url, "flush_on_sigterm(client)", ", shutdown_timeout=1"))
    code, _, err = signal_and_wait(child)
    assert code == KILLED_BY_SIGTERM, err
    assert "150 events were not delivered at shutdown" in err


def test_installing_from_another_thread_is_refused_clearly(emulator: Emulator) -> None:
    errors: List[BaseException] = []
    before = signal.getsignal(signal.SIGTERM)
    with Client(api_key=API_KEY, base_url=emulator.url, register_atexit=False) as client:

        def install() -> None:
            try:
                flush_on_sigterm(client)
            except RuntimeError as error:
                errors.append(error)

        thread = threading.Thread(target=install)
        thread.start()
        thread.join()
    assert len(errors) == 1
    assert "main thread" in str(errors[0])
    assert signal.getsignal(signal.SIGTERM) is before


def test_sigterm_during_the_exit_flush_lets_it_finish(emulator: Emulator) -> None:
    # The script ends; its exit flush waits for a slow answer when SIGTERM arrives. The
    # signal is sent once the SDK's own DEBUG line says the exit flush has started and its
    # batch (the first: none is due before) has reached the server, which answers it 5 s
    # later, well within the 60 s shutdown_timeout. (Sent as soon as a batch arrived, the
    # signal could land before the exit flush began on a loaded machine: the handler then
    # flushes and the process dies of SIGTERM. And a 1 s answer could come before it.)
    emulator.delay_next(1, 5.0, path=BATCH)
    settings = ", flush_interval=600, flush_at=1000, shutdown_timeout=60"
    child = start_python(
        script(emulator.url, "flush_on_sigterm(client)", settings, wait=""),
        extra_env={"TELEFLOW_LOG": "debug"},
    )
    wait_until_ready(child)
    assert child.stderr is not None
    seen = []
    for line in child.stderr:
        seen.append(line)
        if "the exit flush started: 150 events to deliver" in line:
            break
    else:
        raise AssertionError("the exit flush never started:\n" + "".join(seen))
    wait_for_a_batch(emulator)
    child.send_signal(signal.SIGTERM)
    _, rest = child.communicate(timeout=HANG_GUARD)
    assert child.returncode == 0, "".join(seen) + rest
    assert delivered(emulator) == {"u": list(range(150))}
