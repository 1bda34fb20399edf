"""Exit, fork and uWSGI behaviour, each in a subprocess of its own."""

from __future__ import annotations

import gc
import os
import socket
import subprocess
import sys
import textwrap
import weakref
from pathlib import Path
from typing import Callable, Optional

import pytest
from loopback import API_KEY, LoopbackServer, unused_port_url

from teleflow_py import Client

REPO = Path(__file__).resolve().parents[2]
# A guard against a hung interpreter only; the tests assert what happened, not how fast.
SUBPROCESS_GUARD = 90


def run_python(
    code: str, extra_path: Optional[Path] = None, timeout: float = 0
) -> subprocess.CompletedProcess[str]:
    path = [str(REPO)] + ([str(extra_path)] if extra_path else [])
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(path))
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=timeout or SUBPROCESS_GUARD,
        env=env,
        check=False,
    )


def test_exit_with_the_server_down_is_bounded_and_reports_the_loss() -> None:
    result = run_python(
        f"""
        from teleflow_py import Client
        client = Client(api_key={API_KEY!r}, base_url={unused_port_url()!r}, shutdown_timeout=2)
        accepted = [client.track("e", user_id="u", properties={{"n": n}}) for n in range(1000)]
        assert all(accepted)
        """
    )
    assert result.returncode == 0, result.stderr
    assert "1000 events were not delivered" in result.stderr


def test_exit_with_a_server_that_never_answers_is_bounded_by_shutdown_timeout() -> None:
    # A black hole: connections are accepted, requests never answered. Only the shutdown
    # deadline can end the exit; the read timeout is far beyond the subprocess hang guard.
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(64)
    try:
        url = f"http://127.0.0.1:{listener.getsockname()[1]}"
        result = run_python(
            f"""
            from teleflow_py import Client
            client = Client(api_key={API_KEY!r}, base_url={url!r}, shutdown_timeout=2,
                            timeout=600)
            accepted = [client.track("e", user_id="u", properties={{"n": n}}) for n in range(1000)]
            assert all(accepted)
            """,
            timeout=60,
        )
    finally:
        listener.close()
    assert result.returncode == 0, result.stderr
    assert "1000 events were not delivered" in result.stderr


def test_exit_delivers_what_is_queued(server: LoopbackServer) -> None:
    result = run_python(
        f"""
        from teleflow_py import Client
        client = Client(api_key={API_KEY!r}, base_url={server.url!r}, flush_at=1000,
                        flush_interval=60)
        for n in range(30):
            client.track("e", user_id="u", properties={{"n": n}})
        client.alias(user_id="u", anonymous_id="a")
        """
    )
    assert result.returncode == 0, result.stderr
    assert [e["properties"]["n"] for e in server.delivered_events()] == list(range(30))
    assert len(server.requests("/v1/identify/alias")) == 1
    assert "not delivered" not in result.stderr


def test_no_exit_flush_when_asked_not_to(server: LoopbackServer) -> None:
    result = run_python(
        f"""
        from teleflow_py import Client
        client = Client(api_key={API_KEY!r}, base_url={server.url!r}, flush_at=1000,
                        flush_interval=60, register_atexit=False)
        client.track("e", user_id="u")
        """
    )
    assert result.returncode == 0, result.stderr
    assert server.requests() == []


# Without the SDK's at-fork hooks (as when a C extension forks), only the process-id check
# can notice the fork; threading and logging keep their own hooks, as they do there.
NO_SDK_FORK_HOOKS = "import logging, random, threading; os.register_at_fork = lambda **h: None"


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
@pytest.mark.parametrize("setup", ["pass", NO_SDK_FORK_HOOKS], ids=["fork-hooks", "pid-check"])
def test_a_forked_child_sends_its_own_events_once_and_none_of_the_parents(
    server: LoopbackServer, setup: str
) -> None:
    result = run_python(
        f"""
        import os
        {setup}
        from teleflow_py import Client
        client = Client(api_key={API_KEY!r}, base_url={server.url!r}, flush_at=1000,
                        flush_interval=60, register_atexit=False)
        for n in range(5):
            client.track("e", user_id="parent", properties={{"n": n}})
        pid = os.fork()
        if pid == 0:
            for n in range(3):
                client.track("e", user_id="child", properties={{"n": n}})
            result = client.shutdown(timeout=20)
            os._exit(0 if (result.accepted, result.pending) == (3, 0) else 3)
        _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == 0, status
        result = client.shutdown(timeout=20)
        assert (result.accepted, result.pending) == (5, 0), result
        """
    )
    assert result.returncode == 0, result.stderr
    events = server.delivered_events()
    by_user = {
        u: [e["properties"]["n"] for e in events if e["user_id"] == u] for u in ("parent", "child")
    }
    assert by_user == {"parent": [0, 1, 2, 3, 4], "child": [0, 1, 2]}
    assert len({e["message_id"] for e in events}) == 8
    for request in server.answered():
        assert len({e["user_id"] for e in request["body"]["events"]}) == 1


@pytest.mark.parametrize(("threads", "warned"), [(False, True), (True, False)])
def test_uwsgi_without_threads_warns_once(tmp_path: Path, threads: bool, warned: bool) -> None:
    (tmp_path / "uwsgi.py").write_text(f"opt = {{b'enable-threads': {threads!r}}}\n")
    result = run_python(
        f"""
        from teleflow_py import Client
        for _ in range(2):
            client = Client(api_key={API_KEY!r}, base_url={unused_port_url()!r},
                            register_atexit=False)
            client.track("e", user_id="u")
        """,
        extra_path=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    assert result.stderr.count("enable-threads") == (1 if warned else 0)


def test_an_unused_client_can_be_collected() -> None:
    client = Client(api_key=API_KEY, base_url=unused_port_url())
    ref = weakref.ref(client)
    del client
    gc.collect()
    assert ref() is None


def test_close_delivers_queued_events(
    make_client: Callable[..., Client], server: LoopbackServer
) -> None:
    client = make_client(flush_at=1000)
    client.track("e", user_id="u")
    client.close()
    assert len(server.delivered_events()) == 1
    assert client.track("e", user_id="u") is False
