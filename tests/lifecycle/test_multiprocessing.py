"""multiprocessing children (fork and forkserver) end with os._exit, which skips atexit.

The SDK flushes in each child as multiprocessing finishes it, so nothing is lost with the
default settings and no code of the user's.
"""

from __future__ import annotations

import multiprocessing
from collections import Counter
from pathlib import Path

import pytest
from lifecycle_support import API_KEY, counts, program, run_python, run_script

from teleflow_py.emulator import Emulator

pytestmark = pytest.mark.skipif(
    "fork" not in multiprocessing.get_all_start_methods(), reason="needs the fork start method"
)


def test_process_children_deliver_what_they_tracked(emulator: Emulator) -> None:
    result = run_python(
        f"""
        import multiprocessing
        from teleflow_py import Client
        client = Client(api_key={API_KEY!r}, base_url={emulator.url!r})

        def work(name):
            for n in range(50):
                client.track("e", user_id=name, properties={{"n": n}})

        if __name__ == "__main__":
            context = multiprocessing.get_context("fork")
            children = [context.Process(target=work, args=(f"child-{{i}}",)) for i in range(3)]
            for child in children:
                child.start()
            for child in children:
                child.join()
                assert child.exitcode == 0
            work("parent")
        """
    )
    assert result.returncode == 0, result.stderr
    assert counts(emulator) == Counter({"child-0": 50, "child-1": 50, "child-2": 50, "parent": 50})


@pytest.mark.parametrize("method", ["fork", "forkserver", "spawn"])
def test_a_client_made_in_the_child_delivers_too(
    emulator: Emulator, tmp_path: Path, method: str
) -> None:
    if method not in multiprocessing.get_all_start_methods():
        pytest.skip(f"no {method} start method here")
    script = tmp_path / "child_app.py"
    script.write_text(
        program(
            f"""
            import multiprocessing
            from teleflow_py import Client

            def work():
                client = Client(api_key={API_KEY!r}, base_url={emulator.url!r})
                for n in range(50):
                    client.track("e", user_id="child", properties={{"n": n}})

            if __name__ == "__main__":
                child = multiprocessing.get_context({method!r}).Process(target=work)
                child.start()
                child.join()
                assert child.exitcode == 0
            """
        )
    )
    result = run_script(script)
    assert result.returncode == 0, result.stderr
    assert counts(emulator) == Counter({"child": 50})


def test_pool_workers_deliver_what_their_tasks_tracked(emulator: Emulator) -> None:
    result = run_python(
        f"""
        import multiprocessing, os
        from teleflow_py import Client
        client = Client(api_key={API_KEY!r}, base_url={emulator.url!r})
        # The first two chunks wait for each other, so two workers run them: on a busy
        # machine one worker could otherwise take every chunk before the others start.
        both_started = multiprocessing.get_context("fork").Barrier(2, timeout=60)

        def task(n):
            if n in (0, 5):
                both_started.wait()
            client.track("e", user_id="task", properties={{"n": n}})
            return os.getpid()

        if __name__ == "__main__":
            pool = multiprocessing.get_context("fork").Pool(3)
            workers = set(pool.map(task, range(150), chunksize=5))
            pool.close()
            pool.join()
            print(len(workers))
        """
    )
    assert result.returncode == 0, result.stderr
    assert counts(emulator) == Counter({"task": 150})
    # The tasks really ran in more than one child.
    assert int(result.stdout) > 1


def test_a_terminated_pool_delivers_with_flush_on_sigterm(emulator: Emulator) -> None:
    # Pool.__exit__ terminates its workers with SIGTERM; the handler installed in the
    # parent is inherited by the children and flushes each one's queue. The workers are
    # busy in their tasks when terminated (each task runs until then, so each of the three
    # runs on a worker of its own): an idle worker waits for the pool's inqueue lock, which
    # terminate() keeps, and a SIGTERM landing as it goes back to sleep on it is never
    # handled in Python (CPython issue 82408, any Python-level SIGTERM handler): that pool
    # hangs in terminate(), with or without the SDK's handler.
    result = run_python(
        f"""
        import multiprocessing, time
        from teleflow_py import Client
        from teleflow_py.integrations.signals import flush_on_sigterm
        client = Client(api_key={API_KEY!r}, base_url={emulator.url!r})
        flush_on_sigterm(client)
        context = multiprocessing.get_context("fork")
        tracked = context.Semaphore(0)

        def task(name):
            for n in range(50):
                client.track("e", user_id=name, properties={{"n": n}})
            tracked.release()
            while True:  # until terminated; short sleeps, each a chance to run the handler
                time.sleep(0.05)

        if __name__ == "__main__":
            with context.Pool(3) as pool:
                pool.map_async(task, ["task-0", "task-1", "task-2"], chunksize=1)
                for _ in range(3):
                    assert tracked.acquire(timeout=60)
        """
    )
    assert result.returncode == 0, result.stderr
    assert counts(emulator) == Counter({"task-0": 50, "task-1": 50, "task-2": 50})
