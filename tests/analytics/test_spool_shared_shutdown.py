"""shutdown() of one of several clients sharing a spool, and the exit of a process with three.

Any worker of the clients sharing a spool takes the next batch from it, whichever client
tracked the events. The promise (docs/analytics.rst, "Several clients and processes on one
path"):

* a shutdown asks every worker of the spool to flush and waits for each (within its
  ``shutdown_timeout``), as ``flush()`` does, then stops only its own worker;
* what is still pending then is left to the clients that stay open: said at INFO, never
  warned about as lost, and their workers send it;
* the last client of the spool to shut down (at exit: the last the exit hook finishes)
  reports what is really left, once.

The server holds the answers to one client's requests (by a header only that client
sends), so a batch stays in flight on that client's worker as long as the test wants.
"""

from __future__ import annotations

import logging
import os
import re
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path
from typing import Any, Callable, Dict, List

import pytest
from child_signals import SIGINT_DEFAULT
from loopback import API_KEY, HANG_GUARD, LoopbackServer, unused_port_url

from teleflow_py import Client, ClientConfig
from teleflow_py.analytics import inspect_spool

REPO = Path(__file__).resolve().parents[2]
DEFAULTS: Dict[str, Any] = {
    "flush_interval": ClientConfig.flush_interval,
    "shutdown_timeout": ClientConfig.shutdown_timeout,
}
# flush_at events make a client's worker send a batch by itself, with no flush asked.
BATCH = ClientConfig.flush_at
LOSS = "not delivered"


def _named(name: str) -> Dict[str, Any]:
    """Settings that mark a client's requests, so the server can hold only its answers."""
    return {"default_headers": {"X-Client": name}}


def _from(name: str) -> Callable[[Dict[str, Any]], bool]:
    return lambda request: bool(request["headers"].get("x-client") == name)


def _track(client: Client, name: str, count: int) -> None:
    for n in range(count):
        assert client.track(name, user_id="u", properties={"n": n})


def _losses(caplog: pytest.LogCaptureFixture) -> List[str]:
    return [
        r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING and LOSS in r.msg
    ]


def _shut_down_in_a_thread(
    client: Client, until: Callable[[], bool] = lambda: True
) -> Callable[[], Dict[str, Any]]:
    """Start ``client.shutdown()`` on a thread and return once ``until()`` holds (and a
    moment more); the returned call waits for the shutdown's outcome."""
    seen: Dict[str, Any] = {}

    def shut_down() -> None:
        seen["result"] = client.shutdown()
        seen["returned at"] = time.monotonic()
        seen["deadline"] = client._batcher._deadline

    thread = threading.Thread(target=shut_down)
    thread.start()
    end = time.monotonic() + HANG_GUARD
    while not until():
        assert time.monotonic() < end, "the shutdown never got there"
        time.sleep(0.01)

    def outcome() -> Dict[str, Any]:
        thread.join(HANG_GUARD)
        assert not thread.is_alive(), "shutdown() hung"
        return seen

    # Not asserted: time for a shutdown that does not wait to return before the release.
    thread.join(0.5)
    return outcome


def _answered_once(server: LoopbackServer, count: int) -> None:
    deliveries = server.deliveries()
    assert len(deliveries) == count and set(deliveries.values()) == {1}


def test_a_shutdown_waits_for_the_batch_another_clients_worker_holds(
    server: LoopbackServer,
    make_client: Callable[..., Client],
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="teleflow_py.analytics")
    spool = str(tmp_path / "spool.db")
    release = server.hold_answers(only=_from("other"))
    other = make_client(spool_path=spool, **_named("other"), **DEFAULTS)
    closing = make_client(spool_path=spool, **_named("closing"), **DEFAULTS)
    _track(other, "Other", BATCH)
    server.wait_for_requests(1)  # the other worker sent the batch; its answer is held
    _track(closing, "Closing", 10)
    try:
        # Once its own worker has sent its 10 events and stopped: where shutdown used to
        # return and report the other worker's batch as "not delivered ... stay in the spool".
        outcome = _shut_down_in_a_thread(closing, until=lambda: closing._batcher._worker_done)
    finally:
        release.set()
    seen = outcome()
    assert _losses(caplog) == []
    # It waited for the batch, unless its shutdown_timeout ran out first (a stalled machine).
    assert seen["result"].pending == 0 or seen["returned at"] >= seen["deadline"]
    assert other.shutdown().ok
    assert _losses(caplog) == []
    _answered_once(server, BATCH + 10)
    assert inspect_spool(spool)["pending_events"] == 0


def test_what_another_worker_holds_at_the_timeout_is_left_to_it_not_reported_lost(
    server: LoopbackServer,
    make_client: Callable[..., Client],
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="teleflow_py.analytics")
    spool = str(tmp_path / "spool.db")
    release = server.hold_answers()
    # The closing client's events wait (its worker sends 1000 at once or after a minute);
    # one event on the other client makes that client's worker take them all.
    closing = make_client(spool_path=spool, flush_at=1000)
    other = make_client(spool_path=spool, flush_at=1)
    _track(closing, "Closing", BATCH)
    _track(other, "Other", 1)
    server.wait_for_requests(1)
    assert len(server.requests()[0]["body"]["events"]) == BATCH + 1
    try:
        result = closing.shutdown(timeout=0)
    finally:
        release.set()
    assert result.pending == BATCH + 1
    # Not delivered yet, not lost: the result says the other client sends them.
    assert result.left_to_others == BATCH + 1 and not result.ok
    assert _losses(caplog) == []
    assert f"{BATCH + 1} pending events are left to another client" in caplog.text
    assert other.flush().pending == 0
    _answered_once(server, BATCH + 1)
    assert other.shutdown().ok
    assert _losses(caplog) == []


def test_the_last_client_to_shut_down_waits_for_a_batch_an_earlier_ones_worker_holds(
    server: LoopbackServer,
    make_client: Callable[..., Client],
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="teleflow_py.analytics")
    spool = str(tmp_path / "spool.db")
    release = server.hold_answers()
    first = make_client(spool_path=spool, **DEFAULTS)
    last = make_client(spool_path=spool, **DEFAULTS)
    _track(first, "First", BATCH)
    server.wait_for_requests(1)
    try:
        # Its worker keeps the batch in flight past this shutdown's end; the client still
        # open takes over.
        assert first.shutdown(timeout=0).pending == BATCH
        outcome = _shut_down_in_a_thread(last)
    finally:
        release.set()
    seen = outcome()
    assert _losses(caplog) == []
    assert seen["result"].pending == 0 or seen["returned at"] >= seen["deadline"]
    _answered_once(server, BATCH)
    assert inspect_spool(spool)["pending_events"] == 0


def test_what_no_client_can_deliver_is_reported_once_by_the_last_to_shut_down(
    make_client: Callable[..., Client], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="teleflow_py.analytics")
    spool = str(tmp_path / "spool.db")
    down = unused_port_url()
    clients = [make_client(spool_path=spool, base_url=down) for _ in range(3)]
    for n, client in enumerate(clients):
        _track(client, f"E{n}", 10)
    for client in clients[:2]:
        handed_over = client.shutdown(timeout=0)
        assert (handed_over.pending, handed_over.left_to_others) == (30, 30)
        assert _losses(caplog) == []
    last = clients[2].shutdown(timeout=0.5)
    assert (last.pending, last.left_to_others) == (30, 0)  # nobody left to send them
    assert _losses(caplog) == [_losses(caplog)[0]]
    assert _losses(caplog)[0].startswith("teleflow_py analytics: 30 events were not delivered")
    assert "30 stay in the spool" in _losses(caplog)[0]
    assert inspect_spool(spool)["pending_events"] == 30


# -- the exit of a process with three clients on one spool --------------------------------


def _start_child(code: str) -> subprocess.Popen[str]:
    env = dict(os.environ, PYTHONPATH=str(REPO))
    return subprocess.Popen(
        [sys.executable, "-c", SIGINT_DEFAULT + textwrap.dedent(code)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )


def _three_clients(url: str, spool: str, settings: str = "") -> str:
    """A child with three clients on one spool (default settings unless ``settings``).

    It prints the clients' names in the order the exit hook will finish them (the order
    of its set, fixed while no client is added), reads the name of a client and tracks
    100 events on it (its worker sends them), then, told to go on, 100 on each of the
    others; it says "tracked" each time and exits when told to.
    """
    return f"""
        import logging, sys
        from teleflow_py import Client
        from teleflow_py.analytics import lifecycle
        logging.basicConfig(format="%(levelname)s %(message)s")
        logging.getLogger("teleflow_py.analytics").setLevel(logging.DEBUG)
        clients = {{
            name: Client(
                api_key={API_KEY!r}, base_url={url!r}, spool_path={spool!r},
                default_headers={{"X-Client": name}}{settings}
            )
            for name in "abc"
        }}
        names = {{id(client._batcher): name for name, client in clients.items()}}
        print(" ".join(names[id(b)] for b in list(lifecycle._live)), flush=True)
        first = sys.stdin.readline().strip()
        for names in ([first], [name for name in "abc" if name != first]):
            for name in names:
                for n in range(100):
                    assert clients[name].track(name, user_id="u", properties={{"n": n}})
            print("tracked", flush=True)
            sys.stdin.readline()
    """


def _say(child: subprocess.Popen[str], line: str) -> None:
    assert child.stdin is not None
    child.stdin.write(line + "\n")
    child.stdin.flush()


def _read_until(stream: Any, marker: str) -> List[str]:
    lines: List[str] = []
    while True:
        line = stream.readline()
        assert line, f"the child ended before {marker!r}: {''.join(lines)}"
        lines.append(line)
        if marker in line:
            return lines


def test_the_exit_of_three_clients_on_one_spool_waits_for_every_worker_and_reports_no_loss(
    server: LoopbackServer, tmp_path: Path
) -> None:
    spool = str(tmp_path / "spool.db")
    child = _start_child(_three_clients(server.url, spool))
    try:
        assert child.stdout is not None and child.stderr is not None
        order = child.stdout.readline().split()
        assert sorted(order) == ["a", "b", "c"]
        # The client the exit hook finishes last holds a batch in flight through the exit:
        # the others' workers end at once, and each of them used to report its batch lost.
        held = order[-1]
        release = server.hold_answers(only=_from(held))
        _say(child, held)
        assert child.stdout.readline().strip() == "tracked"
        end = time.monotonic() + HANG_GUARD
        while not any(_from(held)(request) for request in server.requests()):
            assert time.monotonic() < end, "the held client's worker sent nothing"
            time.sleep(0.01)
        _say(child, "go on")
        assert child.stdout.readline().strip() == "tracked"
        _say(child, "exit")
        started = _read_until(child.stderr, "the exit flush started")
        # Not asserted: time for the first shutdowns the exit hook finishes to end.
        time.sleep(0.5)
        release.set()
        _, rest = child.communicate(timeout=HANG_GUARD)
    finally:
        if child.poll() is None:
            child.kill()
            child.communicate()
    err = "".join(started) + rest
    assert child.returncode == 0, err
    assert LOSS not in err and "left to" not in err
    # The shared spool's pending events counted once, not once per client.
    counted = re.search(r"the exit flush started: (\d+) events", err)
    assert counted is not None and 0 < int(counted.group(1)) <= 300
    _answered_once(server, 300)
    assert inspect_spool(spool)["pending_events"] == 0


def test_the_exit_of_three_clients_reports_what_stays_in_their_spool_once(tmp_path: Path) -> None:
    spool = str(tmp_path / "spool.db")
    child = _start_child(_three_clients(unused_port_url(), spool, ", shutdown_timeout=1"))
    try:
        assert child.stdout is not None
        child.stdout.readline()
        for line in ("a", "go on"):
            _say(child, line)
            assert child.stdout.readline().strip() == "tracked"
        _say(child, "exit")
        _, err = child.communicate(timeout=HANG_GUARD)
    finally:
        if child.poll() is None:
            child.kill()
            child.communicate()
    assert child.returncode == 0, err
    losses = [line for line in err.splitlines() if LOSS in line]
    assert len(losses) == 1, err
    assert "300 events were not delivered" in losses[0] and "300 stay in the spool" in losses[0]
    assert inspect_spool(spool)["pending_events"] == 300
