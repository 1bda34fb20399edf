"""The log records of a full run: where they come from, at what level, and never the key.

A handler on the root logger (as an application has) sees every record of a run at DEBUG:
sync and async Events calls with retries, a call that fails for good, a bulk trigger, a
cancel, analytics delivered and refused. The key is looked for in everything a handler can
print: the message, the traceback, the stack and every extra field.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Iterator, List

import pytest

from teleflow_py import AsyncClient, AuthenticationError, Client
from teleflow_py._core.attempts import RetryNote
from teleflow_py._logging import TREE
from teleflow_py.emulator import Emulator

API_KEY = "sk_test_0123456789abcdef"
TRIGGER = "/v1/events/trigger"
BATCH = "/v1/events/batch"


class Keep(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: List[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture
def kept() -> Iterator[Keep]:
    handler = Keep()
    root, library = logging.getLogger(), logging.getLogger("teleflow_py")
    level = library.level
    root.addHandler(handler)
    library.setLevel(logging.DEBUG)
    try:
        yield handler
    finally:
        root.removeHandler(handler)
        library.setLevel(level)


def full_run(emulator: Emulator) -> None:
    url, busy = emulator.url, {"Retry-After": "0"}
    with Client(api_key=API_KEY, base_url=url, register_atexit=False) as client:
        emulator.fail_next(1, 503, headers=busy, path=TRIGGER)
        client.trigger_event("welcome", "s-1")  # retried once
        emulator.fail_next(1, 401, path=TRIGGER)
        with pytest.raises(AuthenticationError):
            client.trigger_event("welcome", "s-2")  # fails for good
        client.trigger_bulk_event([{"name": "welcome", "to": f"s-{i}"} for i in range(150)])
        client.cancel_triggered_event("tx-1")
        emulator.fail_next(1, 500, path=BATCH)
        client.track("signed_up", user_id="u-1", properties={"note": API_KEY})
        client.flush()

    async def run_async() -> None:
        async with AsyncClient(api_key=API_KEY, base_url=url, register_atexit=False) as aio:
            emulator.fail_next(1, 503, headers=busy, path=TRIGGER)
            await aio.trigger_event("welcome", "s-3")  # retried once
            aio.track("signed_up", user_id="u-2")

    asyncio.run(run_async())


def test_no_record_of_a_full_run_holds_the_key_and_each_failure_speaks_once(
    kept: Keep,
) -> None:
    with Emulator() as emulator:
        full_run(emulator)
    records = kept.records
    assert len(records) > 20
    formatter = logging.Formatter("%(name)s %(levelname)s %(message)s")
    for record in records:
        shown = [formatter.format(record), record.exc_text or "", record.stack_info or ""]
        shown += [repr(value) for value in vars(record).values()]
        assert API_KEY not in "\n".join(shown), record.getMessage()
        assert record.name in TREE, record.name
    # Retries are DEBUG lines that carry the note the CLI reads; the failed call is one
    # WARNING; nothing else about the Events calls is louder than DEBUG.
    retries = [r for r in records if isinstance(getattr(r, "teleflow_retry", None), RetryNote)]
    assert len(retries) >= 3 and all(r.levelno == logging.DEBUG for r in retries)
    loud = [r for r in records if r.name == "teleflow_py.events" and r.levelno > logging.DEBUG]
    assert len(loud) == 1 and loud[0].levelno == logging.WARNING
    assert "failed for good after 1 attempt(s)" in loud[0].getMessage()
    assert {r.name for r in retries} == {"teleflow_py.events", "teleflow_py.analytics"}
