"""The API key stays out of what error reporters record (issue 8).

Sentry's ``capture_locals`` (and ``traceback.TracebackException(capture_locals=True)``)
record every local variable of every frame of a failing call, containers item by item,
other objects by ``repr``. Here every such value of a failing send is checked, on both
routes, along with pickling and ``dataclasses.asdict`` of the settings.
"""

from __future__ import annotations

import copy as copy_module
import dataclasses
import pickle
import traceback
from pathlib import Path
from types import TracebackType
from typing import Any, Iterator, List, Optional, Set

import pytest
import requests
from rawserver import RawServer

import teleflow_py
from teleflow_py import Client, TeleflowError
from teleflow_py.emulator import Emulator

pytestmark = pytest.mark.timeout(60)
PACKAGE = str(Path(teleflow_py.__file__).parent)


def _values(value: Any, seen: Set[int], depth: int = 0) -> Iterator[str]:
    """What a reporter would write for ``value``: containers item by item, else repr."""
    if id(value) in seen or depth > 6:
        return
    seen.add(id(value))
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _values(key, seen, depth + 1)
            yield from _values(item, seen, depth + 1)
    elif isinstance(value, (list, tuple, set, frozenset)):
        for item in value:
            yield from _values(item, seen, depth + 1)
    else:
        try:
            yield repr(value)
        except Exception as exc:  # a repr that raises is recorded as its error
            yield repr(exc)


def _frames(error: BaseException, ours_only: bool) -> Iterator[Any]:
    chain: List[BaseException] = []
    current: Optional[BaseException] = error
    while current is not None and current not in chain:
        chain.append(current)
        current = current.__cause__ or current.__context__
    for exc in chain:
        tb: Optional[TracebackType] = exc.__traceback__
        while tb is not None:
            filename = tb.tb_frame.f_code.co_filename
            if filename != __file__ and (not ours_only or PACKAGE in filename):
                yield tb.tb_frame
            tb = tb.tb_next


def _assert_key_not_recorded(error: BaseException, api_key: str, ours_only: bool) -> int:
    recorded = 0
    for frame in _frames(error, ours_only):
        for name, value in frame.f_locals.items():
            for text in _values(value, set()):
                recorded += 1
                assert api_key not in text, (frame.f_code.co_name, name)
    captured: Optional[traceback.TracebackException] = traceback.TracebackException.from_exception(
        error, capture_locals=True
    )
    while captured is not None:
        for summary in captured.stack:
            if summary.filename != __file__ and (not ours_only or PACKAGE in summary.filename):
                assert api_key not in repr(summary.locals), summary.name
        captured = captured.__cause__ or captured.__context__
    return recorded


@pytest.mark.parametrize("route", ["direct", "session"])
@pytest.mark.parametrize("behaviour", ["hang_up", "refused", "silent"])
def test_a_failing_send_records_no_key_in_any_frame(
    api_key: str, emulator: Emulator, route: str, behaviour: str
) -> None:
    session = requests.Session() if route == "session" else None
    if behaviour == "silent":
        server: Any = RawServer("silent")
        url = server.url
    else:
        server = None
        url = emulator.url
        if behaviour == "refused":
            emulator.go_down()
        else:
            emulator.drop_next(5)
    try:
        with Client(
            api_key=api_key, base_url=url, session=session, max_retries=0, deadline=1.0
        ) as client:
            with pytest.raises(TeleflowError) as caught:
                client.trigger_event("welcome", "s-1", payload={"k": "v"})
    finally:
        if server is not None:
            server.close()
    # On the SDK's own connections no frame at all holds the key. Through requests, its
    # and urllib3's frames build the request (http.client's _send_output holds the head
    # while it connects and writes): only the SDK's own frames are ours to keep clean.
    ours_only = route == "session"
    assert _assert_key_not_recorded(caught.value, api_key, ours_only) > 10


def test_the_settings_cannot_be_pickled_or_dumped_with_the_key(api_key: str) -> None:
    with Client(api_key=api_key, base_url="http://127.0.0.1:9") as client:
        config = client.config
        with pytest.raises(TypeError, match="cannot be pickled"):
            pickle.dumps(config)
        dumped = dataclasses.asdict(config)
        assert api_key not in repr(dumped) and api_key not in str(dumped)
        assert api_key not in repr(config.credential) and api_key not in str(config.credential)
        assert config.api_key == api_key  # still there for code that needs it
        assert copy_module.deepcopy(config) is config  # frozen: copying is not pickling
        copy = client.with_options(deadline=3)
        assert api_key not in repr(dataclasses.asdict(copy.config))
