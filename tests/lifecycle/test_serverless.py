"""Serverless handlers and job runners: each invocation's events leave before it returns."""

from __future__ import annotations

import os
from collections import Counter

import pytest
from lifecycle_support import API_KEY, counts, run_python

from teleflow_py.emulator import Emulator

INVOCATIONS = 40


def test_each_invocation_delivers_its_events_and_no_thread_is_left_behind(
    emulator: Emulator,
) -> None:
    # The platform may freeze or end the process right after a return, without atexit:
    # os._exit at the end stands for that, so only the per-invocation flush can deliver.
    result = run_python(
        f"""
        import os, threading
        from teleflow_py import Client
        from teleflow_py.integrations.serverless import flush_after

        client = Client(api_key={API_KEY!r}, base_url={emulator.url!r})

        @flush_after(client)
        def handler(event, context):
            for n in range(3):
                client.track("invoked", user_id=event["user"], properties={{"n": n}})
            return "ok"

        threads = set()
        for i in range({INVOCATIONS}):
            assert handler({{"user": f"user-{{i}}"}}, None) == "ok"
            assert client.analytics_stats.pending == 0
            threads.add(threading.active_count())
        print(sorted(threads))
        os._exit(0)
        """
    )
    assert result.returncode == 0, result.stderr
    # One worker thread beside the main one, from the first invocation to the last.
    assert result.stdout.split() == ["[2]"]
    assert counts(emulator) == Counter({f"user-{i}": 3 for i in range(INVOCATIONS)})


def test_a_failing_invocation_still_delivers_and_raises(emulator: Emulator) -> None:
    result = run_python(
        f"""
        import os
        from teleflow_py import Client
        from teleflow_py.integrations.serverless import flush_after

        client = Client(api_key={API_KEY!r}, base_url={emulator.url!r})
        try:
            with flush_after(client):
                client.track("invoked", user_id="u", properties={{"n": 0}})
                raise LookupError("the handler failed")
        except LookupError as error:
            print(error)
        os._exit(0)
        """
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "the handler failed"
    assert counts(emulator) == Counter({"u": 1})


def test_an_invocation_facing_an_outage_says_what_stays_queued(emulator: Emulator) -> None:
    emulator.go_down()
    result = run_python(
        f"""
        from teleflow_py import Client
        from teleflow_py.integrations.serverless import flush_after

        client = Client(api_key={API_KEY!r}, base_url={emulator.url!r}, shutdown_timeout=1,
                        register_atexit=False)
        with flush_after(client):
            client.track("invoked", user_id="u", properties={{"n": 0}})
        """
    )
    assert result.returncode == 0, result.stderr
    assert "1 event was not delivered within 1.0 s at the end of the invocation" in result.stderr


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_an_rq_style_work_horse_delivers_its_job_events(emulator: Emulator) -> None:
    # RQ runs each job in a forked work horse that ends with os._exit.
    result = run_python(
        f"""
        import os
        from teleflow_py import Client
        from teleflow_py.integrations.serverless import flush_after

        client = Client(api_key={API_KEY!r}, base_url={emulator.url!r})

        @flush_after(client)
        def job(n):
            client.track("job", user_id="horse", properties={{"n": n}})

        for n in range(5):
            pid = os.fork()
            if pid == 0:
                job(n)
                os._exit(0)
            _, status = os.waitpid(pid, 0)
            assert os.waitstatus_to_exitcode(status) == 0
        """
    )
    assert result.returncode == 0, result.stderr
    assert counts(emulator) == Counter({"horse": 5})
