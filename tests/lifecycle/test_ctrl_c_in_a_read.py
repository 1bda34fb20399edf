"""Ctrl-C while the main thread waits for an answer ends the call at once.

Python handles a signal only between bytecodes of the main thread. A SIGINT that lands
after the last check before the socket read blocks trips a flag but does not wake the
read: without slices, the ``KeyboardInterrupt`` came when the read timed out (here 600 s).
The child trips that flag with ``_thread.interrupt_main()`` from another thread once the
main thread is inside the read (``BoundedReader.readinto`` on top of its stack), which is
what such a SIGINT does: no system call is interrupted. The server takes the connection
(through its backlog) and never answers, so only the interrupt can end the call. Nothing
here measures time; a child still running at the hang guard fails the test (as each did
before the reads were cut in slices).
"""

from __future__ import annotations

import textwrap

import pytest
from lifecycle_support import API_KEY, finish, start_python

pytestmark = pytest.mark.sigint

# The child's tools. interrupt_in_the_read(): another thread trips the interrupt once the
# main thread is blocked in the read: its Python frame is the reader's, the same before and
# after the kernel says it sleeps in poll(), which the read of a socket with a timeout does
# (``/proc/self/task/<id>/wchan``, or the system call's number where wchan is hidden).
# no_new_threads(): what Python 3.12 does at interpreter exit, so the analytics
# worker cannot start and the queue sends on the calling thread.
TOOLS = """
import _thread, os, sys, threading, time

POLL_CALLS = {"x86_64": {7, 271}, "aarch64": {73}}.get(os.uname().machine, set())

def in_poll(thread_id):
    task = f"/proc/self/task/{thread_id}/"
    with open(task + "wchan") as wchan:
        if "poll" in wchan.read():
            return True
    with open(task + "syscall") as syscall:
        number = syscall.read().split()[0]
    return number.isdigit() and int(number) in POLL_CALLS

def reading(frame):
    return frame is not None and frame.f_code.co_name in {"readinto", "_recv_into_in_slices"}

def interrupt_in_the_read():
    main = threading.main_thread()
    def interrupt():
        while True:
            before = sys._current_frames().get(main.ident)
            if reading(before) and in_poll(main.native_id):
                if sys._current_frames().get(main.ident) is before:
                    break
            time.sleep(0.001)
        sys.stderr.write("ctrl-c in the read\\n")
        _thread.interrupt_main()
    threading.Thread(target=interrupt, daemon=True).start()

def no_new_threads():
    def refuse(thread):
        raise RuntimeError("can't create new thread at interpreter shutdown")
    threading.Thread.start = refuse
"""


def run_child(code: str, want: str = "stdout") -> str:
    """Run ``code`` in a child; its stdout (or ``want="stderr"``) once it ended with 0."""
    child = start_python(TOOLS + textwrap.dedent(code))
    out, err = finish(child, "the read went on after Ctrl-C")
    assert child.returncode == 0, err
    assert "ctrl-c in the read\n" in err, err  # the interrupt came during the read
    return out if want == "stdout" else err


def test_ctrl_c_as_the_answer_is_awaited_ends_trigger_event(silent_url: str) -> None:
    out = run_child(
        f"""
        from teleflow_py import Client
        client = Client(api_key={API_KEY!r}, base_url={silent_url!r}, timeout=600,
                        deadline=None, max_retries=0, register_atexit=False)
        interrupt_in_the_read()
        try:
            client.trigger_event("welcome", "s-1")
        except KeyboardInterrupt:
            print("interrupted", flush=True)
        """
    )
    assert out.splitlines() == ["interrupted"]


def test_ctrl_c_as_a_flush_on_the_callers_thread_awaits_the_answer_ends_it(
    silent_url: str,
) -> None:
    out = run_child(
        f"""
        from teleflow_py import Client
        client = Client(api_key={API_KEY!r}, base_url={silent_url!r}, timeout=600,
                        register_atexit=False)
        interrupt_in_the_read()
        no_new_threads()
        client.track("e", user_id="u")
        try:
            client.flush(timeout=600)
        except KeyboardInterrupt:
            print("interrupted", flush=True)
        """
    )
    assert out.splitlines() == ["interrupted"]


# The default settings, and a long exit flush whose read only the interrupt can end (with
# the defaults, before slices, the read ended with the flush's 5 s, and only then was the
# Ctrl-C handled).
@pytest.mark.parametrize("settings", ["", ", timeout=600, shutdown_timeout=600"])
def test_ctrl_c_as_the_exit_flush_awaits_the_answer_on_the_main_thread_is_reported(
    silent_url: str, settings: str
) -> None:
    # An event tracked from the program's own exit hook (which runs before the SDK's),
    # when no worker can start, is sent by the exit flush itself, on the main thread.
    err = run_child(
        f"""
        import atexit
        from teleflow_py import Client
        client = Client(api_key={API_KEY!r}, base_url={silent_url!r}{settings})
        interrupt_in_the_read()  # now: Python 3.12 starts no thread once exiting

        @atexit.register
        def last_words():
            no_new_threads()  # as 3.12 refuses them
            client.track("e", user_id="u")
        """,
        want="stderr",
    )
    assert "the exit flush was interrupted; 1 event was not delivered" in err, err
    assert "Traceback" not in err, err
