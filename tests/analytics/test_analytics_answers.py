"""A 2xx that is not the batch endpoint's JSON accepts nothing.

The endpoint answers ``{"accepted", "rejected", "errors"}`` (the emulator's
``teleflow_py/emulator/api.py`` ``batch`` and the alias answer ``{"alias": ...}``);
anything else in a 2xx comes from something in between (a captive portal, a proxy, a
wrong base_url) and must keep the events.
"""

from __future__ import annotations

import logging
from typing import Callable

import pytest
from loopback import ALIAS, LoopbackServer, fast_retry

from teleflow_py import Client, UnexpectedResponseError

NOT_ACCEPTANCES = [
    (200, b"<html><body>Log in to the Wi-Fi</body></html>", "text/html"),
    (200, b"", ""),
    (204, b"", ""),
    (200, b'{"ok": false}', "application/json"),
    (201, b'{"data": {"status": "queued"}}', "application/json"),
]


@pytest.mark.parametrize(("status", "body", "content_type"), NOT_ACCEPTANCES)
def test_a_2xx_without_the_batch_answer_keeps_the_events(
    server: LoopbackServer,
    make_client: Callable[..., Client],
    caplog: pytest.LogCaptureFixture,
    status: int,
    body: bytes,
    content_type: str,
) -> None:
    # Three attempts (a try and two retries) see the portal; the events wait, then go.
    server.answer_next(3, status, body, content_type)
    client = make_client(flush_at=100, batch_max_retries=2)
    for n in range(5):
        client.track("Kept", user_id="u", properties={"n": n})
    with caplog.at_level(logging.WARNING, logger="teleflow_py"):
        first = client.flush(timeout=30)
    assert not first.ok
    assert first.accepted == 0 and first.pending == 5
    assert isinstance(first.errors[-1], UnexpectedResponseError)
    lines = [r.getMessage() for r in caplog.records if "batch endpoint" in r.getMessage()]
    assert len(lines) == 1
    assert f"{server.url}/v1/events/batch answered {status}" in lines[0]
    assert client.analytics_stats.accepted == 0

    second = client.flush(timeout=30)
    assert second.ok and second.accepted == 5
    assert [e["properties"]["n"] for e in server.delivered_events()] == list(range(5))
    keys = {r["headers"]["x-idempotency-key"] for r in server.requests()}
    assert len(keys) == 1  # the same batch every time


def test_an_alias_answered_with_a_login_page_is_kept(
    server: LoopbackServer, make_client: Callable[..., Client]
) -> None:
    server.answer_next(1, 200, b"<html>login</html>", path=ALIAS)
    client = make_client(batch_max_retries=1)
    client.alias(user_id="u", anonymous_id="a")
    assert client.flush(timeout=30).ok
    assert [r["status"] for r in server.requests(ALIAS)] == [200, 200]
    assert client.analytics_stats.accepted == 1


def test_the_documented_answer_wrapped_in_data_is_still_an_acceptance(
    server: LoopbackServer, make_client: Callable[..., Client]
) -> None:
    server.wrap_in_data = True
    server.fail_next(1, 503, headers=fast_retry())
    client = make_client()
    client.track("e", user_id="u")
    assert client.flush(timeout=30).accepted == 1
