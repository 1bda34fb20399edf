"""Interpreter exit: queued events are delivered within shutdown_timeout, on every Python.

Python 3.12 refuses to start a thread while the interpreter exits, so an event first
tracked (or a flush first asked for) in an ``atexit`` handler finds no worker: it is then
sent on the exiting thread. ``REFUSE_THREADS`` makes any interpreter behave that way, so
the path is tested everywhere, and tox runs these tests on 3.9 and 3.13 too.
"""

from __future__ import annotations

import pytest
from lifecycle_support import API_KEY, delivered, program, run_python

from teleflow_py.emulator import Emulator

# What Python 3.12 does inside atexit handlers, for interpreters that still allow it.
REFUSAL = """
import threading

def refuse_threads():
    def refuse(self):
        raise RuntimeError("can't create new thread at interpreter shutdown")
    threading.Thread.start = refuse
"""
REFUSE_THREADS = "refuse_threads()"
ALLOW_THREADS = "pass"


def test_exit_with_default_settings_delivers_everything(emulator: Emulator) -> None:
    result = run_python(
        f"""
        from teleflow_py import Client
        client = Client(api_key={API_KEY!r}, base_url={emulator.url!r})
        for n in range(150):
            client.track("e", user_id="u", properties={{"n": n}})
        """
    )
    assert result.returncode == 0, result.stderr
    assert delivered(emulator) == {"u": list(range(150))}
    assert result.stderr == ""


@pytest.mark.parametrize("threads", [ALLOW_THREADS, REFUSE_THREADS], ids=["python", "no-threads"])
def test_events_tracked_in_an_atexit_handler_are_delivered(
    emulator: Emulator, threads: str
) -> None:
    # The handler is registered after teleflow_py's, so it runs first (atexit is LIFO).
    result = run_python(
        REFUSAL
        + program(
            f"""
        import atexit
        from teleflow_py import Client
        client = Client(api_key={API_KEY!r}, base_url={emulator.url!r})

        def last_words():
            {threads}
            for n in range(30):
                assert client.track("e", user_id="u", properties={{"n": n}})

        atexit.register(last_words)
        """
        )
    )
    assert result.returncode == 0, result.stderr
    assert delivered(emulator) == {"u": list(range(30))}
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("threads", [ALLOW_THREADS, REFUSE_THREADS], ids=["python", "no-threads"])
def test_flush_in_an_atexit_handler_sends_on_the_exiting_thread(
    emulator: Emulator, threads: str
) -> None:
    # Without the SDK's own exit hook, the flush is the only thing that sends.
    result = run_python(
        REFUSAL
        + program(
            f"""
        import atexit
        from teleflow_py import Client
        client = Client(api_key={API_KEY!r}, base_url={emulator.url!r}, register_atexit=False)

        def last_words():
            {threads}
            for n in range(30):
                client.track("e", user_id="u", properties={{"n": n}})
            result = client.flush(timeout=30)
            print(result.accepted, result.pending)

        atexit.register(last_words)
        """
        )
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["30", "0"]
    assert delivered(emulator) == {"u": list(range(30))}


def test_an_event_tracked_after_the_exit_flush_is_reported_not_raised(
    emulator: Emulator,
) -> None:
    # Registered before teleflow_py is imported, this handler runs after the SDK's.
    result = run_python(
        f"""
        import atexit

        def too_late():
            print(client.track("late", user_id="u", properties={{"n": 1}}))

        atexit.register(too_late)
        from teleflow_py import Client
        client = Client(api_key={API_KEY!r}, base_url={emulator.url!r})
        client.track("e", user_id="u", properties={{"n": 0}})
        """
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["False"]
    assert "sent after shutdown() and not queued" in result.stderr
    assert "Traceback" not in result.stderr
    assert delivered(emulator) == {"u": [0]}
