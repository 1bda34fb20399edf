"""Ctrl-C while close() or flush() waits: the exit flush still delivers, or says what not.

A KeyboardInterrupt inside close() used to leave the client marked closed, so the exit
hook skipped it and the queue was lost without a word.
"""

from __future__ import annotations

import signal
import socket

import pytest
from lifecycle_support import API_KEY, HANG_GUARD, delivered, start_python, wait_for_a_batch

from teleflow_py.emulator import Emulator

BATCH = "/v1/events/batch"
pytestmark = pytest.mark.sigint


@pytest.mark.parametrize("call", ["client.close()", "client.flush()"])
def test_ctrl_c_while_waiting_still_delivers_everything_at_exit(
    emulator: Emulator, call: str
) -> None:
    # The first batch is held by the server until the interrupt has surfaced (its
    # traceback is printed before the exit hooks run), so the call is still waiting for it
    # when the interrupt arrives; then the exit flush gets its answer. (Held for 2 s, the
    # answer could come first on a loaded machine, and the call return uninterrupted.)
    emulator.delay_next(1, 120.0, path=BATCH)
    child = start_python(
        f"""
        from teleflow_py import Client
        client = Client(api_key={API_KEY!r}, base_url={emulator.url!r}, shutdown_timeout=60)
        for n in range(100):
            client.track("e", user_id="u", properties={{"n": n}})
        {call}
        print("not interrupted")
        """
    )
    try:
        wait_for_a_batch(emulator)
        child.send_signal(signal.SIGINT)
        assert child.stderr is not None
        seen = []
        for line in child.stderr:
            seen.append(line)
            if line.startswith("KeyboardInterrupt"):
                break
        emulator.clear_faults()
        out, rest = child.communicate(timeout=HANG_GUARD)
    finally:
        emulator.clear_faults()
        if child.poll() is None:
            child.kill()
            child.wait()
    err = "".join(seen) + rest
    assert "KeyboardInterrupt" in err
    assert "not interrupted" not in out
    assert delivered(emulator) == {"u": list(range(100))}
    assert "not delivered" not in err


def test_ctrl_c_during_close_reports_what_the_exit_flush_could_not_deliver() -> None:
    # A server that accepts connections and never answers: nothing can be delivered.
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    listener.settimeout(HANG_GUARD)
    try:
        url = f"http://127.0.0.1:{listener.getsockname()[1]}"
        child = start_python(
            f"""
            from teleflow_py import Client
            client = Client(api_key={API_KEY!r}, base_url={url!r}, shutdown_timeout=1)
            for n in range(100):
                client.track("e", user_id="u", properties={{"n": n}})
            client.close()
            """
        )
        connection, _ = listener.accept()
        child.send_signal(signal.SIGINT)
        _, err = child.communicate(timeout=HANG_GUARD)
        connection.close()
    finally:
        listener.close()
    assert "KeyboardInterrupt" in err
    assert "100 events were not delivered at shutdown" in err


def test_ctrl_c_during_the_exit_flush_ends_it_and_reports_the_loss() -> None:
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    listener.settimeout(HANG_GUARD)
    try:
        url = f"http://127.0.0.1:{listener.getsockname()[1]}"
        # A long exit budget: only the interrupt can end this exit in time (a SIGINT that
        # landed just before the flush's wait once left it waiting all of it, on a loaded
        # machine: test_exit_flush_interrupt.py puts it there on purpose). The SDK's own
        # DEBUG line says when the exit flush has started, so the interrupt arrives during
        # it (a mark printed by another atexit hook could be followed by the interrupt
        # before the SDK's hook begins, on a loaded machine).
        child = start_python(
            f"""
            from teleflow_py import Client
            client = Client(api_key={API_KEY!r}, base_url={url!r}, shutdown_timeout=600)
            for n in range(100):
                client.track("e", user_id="u", properties={{"n": n}})
            """,
            extra_env={"TELEFLOW_LOG": "debug"},
        )
        connection, _ = listener.accept()
        assert child.stderr is not None
        seen = []
        for line in child.stderr:
            seen.append(line)
            if "the exit flush started: 100 events to deliver" in line:
                break
        else:
            raise AssertionError("the exit flush never started:\n" + "".join(seen))
        child.send_signal(signal.SIGINT)
        try:
            _, rest = child.communicate(timeout=HANG_GUARD)
        finally:
            if child.poll() is None:
                child.kill()
                child.wait()
        err = "".join(seen) + rest
        connection.close()
    finally:
        listener.close()
    assert "the exit flush was interrupted; 100 events were not delivered" in err
    assert "Traceback" not in err
