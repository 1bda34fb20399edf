"""Ctrl-C at each point of the exit flush ends it and says on stderr what was not delivered.

Python raises ``KeyboardInterrupt`` wherever the main thread is when it handles the signal,
and handles it only between bytecodes: a SIGINT that lands just before a C-level wait is
handled when the wait returns. Each test stops a child at one point of its exit flush
(``exit_flush_points.py`` says how) against a server that never answers, so only the
interrupt can end the flush early. The tests assert that the child ends (a hung child is
killed by the hang guard and fails the test) and what it reports, never how fast.
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import pytest
from lifecycle_support import API_KEY, finish, start_python

HERE = Path(__file__).resolve().parent
REPORT = "the exit flush was interrupted; 100 events were not delivered"
pytestmark = pytest.mark.sigint


def run_child(url: str, point: str, settings: str = "") -> str:
    """Track 100 events, arm ``point``, end; return the child's stderr once it ended."""
    child = start_python(
        f"""
        import exit_flush_points
        from teleflow_py import Client
        client = Client(api_key={API_KEY!r}, base_url={url!r}{settings})
        for n in range(100):
            client.track("e", user_id="u", properties={{"n": n}})
        exit_flush_points.{point}(client)
        """,
        extra_path=[HERE],
    )
    _, err = finish(child, "the exit flush went on after Ctrl-C")
    return err


def assert_reported(err: str, point: Optional[str]) -> None:
    if point is not None:
        assert f"ctrl-c at {point}\n" in err, err  # the point was reached
    assert REPORT in err, err
    assert "Traceback" not in err, err


# Default settings: the exit budget is 5 s, and the tests do not measure time; what they
# assert is that the interrupt is reported as such, whatever point it lands at.
@pytest.mark.parametrize(
    "point, mark",
    [
        ("at_the_start", "the start"),
        ("before_the_first_wait", "the first wait"),
        ("holding_the_batcher_lock", "holding the batcher lock"),
        ("taking_the_batcher_lock", "taking the batcher lock"),
        # Condition.wait's own gap: the caller's `with` raises RuntimeError in the
        # interrupt's place, and that error still means Ctrl-C.
        ("between_release_and_wait", "between release and wait"),
        ("in_the_wait", "in the wait"),
    ],
)
def test_ctrl_c_at_each_point_of_the_exit_flush_is_reported(
    silent_url: str, point: str, mark: str
) -> None:
    assert_reported(run_child(silent_url, point), mark)


def test_ctrl_c_that_lands_just_before_the_wait_ends_a_long_exit_flush(silent_url: str) -> None:
    # The interrupt trips while the main thread is blocked in a C-level wait, which does
    # not return for it: only a wait cut in slices notices it before shutdown_timeout
    # (600 s; the hang guard kills the child long before that).
    err = run_child(silent_url, "in_the_wait", ", shutdown_timeout=600")
    assert_reported(err, "in the wait")


@pytest.mark.parametrize(
    "point, second", [("during_the_count", "the count"), ("during_the_report", "the report")]
)
def test_a_second_ctrl_c_does_not_cut_the_report_short(
    silent_url: str, point: str, second: str
) -> None:
    err = run_child(silent_url, point)
    assert "ctrl-c at the first wait\n" in err, err
    assert f"ctrl-c at {second}\n" in err, err
    assert_reported(err, None)


def test_a_programs_own_sigint_handler_gets_the_second_ctrl_c_after_the_report(
    silent_url: str,
) -> None:
    # The program's handler ends the exit flush at the first Ctrl-C (it raises
    # KeyboardInterrupt); the second, as the report is written, is held and handed to
    # that handler once the line is out, with the frame it interrupted, rather than
    # cutting the line short. What the handler raises then (sys.exit) is dropped: no
    # "Exception ignored in atexit callback".
    err = run_child(silent_url, "during_the_report_under_its_own_handler")
    assert "ctrl-c at the first wait\n" in err, err
    assert "ctrl-c at the report\n" in err, err
    assert_reported(err, None)
    assert err.count("own handler, frame=True\n") == 2, err
    assert err.rindex("own handler") > err.index(REPORT), err  # after the line
    assert "Exception ignored" not in err and "SystemExit" not in err, err
