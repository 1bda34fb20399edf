"""Bad input gets a ValidationError naming the argument, the same way everywhere (issue 8).

Before: a lone surrogate raised UnicodeEncodeError, a payload nested thousands deep
RecursionError, a timestamp past year 9999 in UTC OverflowError; framing headers in
``default_headers`` went out on the wire.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Callable, Dict, Iterator

import pytest

from teleflow_py import Client, ValidationError
from teleflow_py.emulator import Emulator

SURROGATE = "bad\ud800text"
LATE = dt.datetime.max.replace(tzinfo=dt.timezone(dt.timedelta(hours=-5)))
EARLY = dt.datetime.min.replace(tzinfo=dt.timezone(dt.timedelta(hours=5)))


# Deeper than CPython's JSON encoder goes on every supported version (3.13's C encoder is
# bounded by the C stack and encodes 5,000 levels; 50,000 fail everywhere).
TOO_DEEP = 50_000


def nested(depth: int) -> Dict[str, Any]:
    root: Dict[str, Any] = {}
    node = root
    for _ in range(depth):
        node["a"] = {}
        node = node["a"]
    return root


@pytest.fixture
def offline() -> Iterator[Client]:
    # Nothing must be sent: a client pointed at a closed port proves it.
    with Client(
        api_key="sk_test_0123456789abcdef", base_url="http://127.0.0.1:9", register_atexit=False
    ) as api:
        yield api


ANALYTICS_CASES = [
    ("event", lambda c: c.track(SURROGATE, user_id="u")),
    ("user_id", lambda c: c.track("e", user_id=SURROGATE)),
    ("anonymous_id", lambda c: c.track("e", anonymous_id=SURROGATE)),
    ("properties", lambda c: c.track("e", user_id="u", properties={"k": SURROGATE})),
    ("properties", lambda c: c.track("e", user_id="u", properties={SURROGATE: 1})),
    ("context", lambda c: c.track("e", user_id="u", context={"k": [SURROGATE]})),
    ("properties", lambda c: c.track("e", user_id="u", properties=nested(TOO_DEEP))),
    ("timestamp", lambda c: c.track("e", user_id="u", timestamp=LATE)),
    ("timestamp", lambda c: c.track("e", user_id="u", timestamp=EARLY)),
    ("timestamp", lambda c: c.track("e", user_id="u", timestamp="9999-12-31T23:59:59-05:00")),
    ("user_id", lambda c: c.identify(user_id=SURROGATE)),
    ("traits", lambda c: c.identify(user_id="u", traits={"k": SURROGATE})),
    ("traits", lambda c: c.identify(user_id="u", traits=nested(TOO_DEEP))),
    ("anonymous_id", lambda c: c.alias(user_id="u", anonymous_id=SURROGATE)),
]


@pytest.mark.parametrize(("argument", "call"), ANALYTICS_CASES)
def test_bad_analytics_input_names_the_argument_and_queues_nothing(
    offline: Client, argument: str, call: Callable[[Client], Any]
) -> None:
    with pytest.raises(ValidationError) as caught:
        call(offline)
    assert caught.value.argument == argument
    assert offline.analytics_stats.pending == 0


EVENTS_CASES = [
    ("name", lambda c: c.trigger_event(SURROGATE, "s-1")),
    ("to", lambda c: c.trigger_event("w", SURROGATE)),
    ("payload", lambda c: c.trigger_event("w", "s-1", payload={"k": SURROGATE})),
    ("payload", lambda c: c.trigger_event("w", "s-1", payload=nested(TOO_DEEP))),
    ("payload", lambda c: c.broadcast_event("w", nested(TOO_DEEP))),
    (
        "events[250].payload",
        lambda c: c.trigger_bulk_event(
            [{"name": "w", "to": "s", "payload": {"i": i}} for i in range(250)]
            + [{"name": "w", "to": "s", "payload": nested(TOO_DEEP)}]
        ),
    ),
    (
        "events[137].payload",
        lambda c: c.trigger_bulk_event(
            [
                {"name": "w", "to": "s", "payload": {"k": SURROGATE if i == 137 else "x"}}
                for i in range(300)
            ]
        ),
    ),
]


@pytest.mark.parametrize(("argument", "call"), EVENTS_CASES)
def test_bad_events_input_names_the_argument_in_the_callers_terms(
    offline: Client, argument: str, call: Callable[[Client], Any]
) -> None:
    with pytest.raises(ValidationError) as caught:
        call(offline)
    assert caught.value.argument == argument


def test_bad_bulk_input_sends_nothing(client: Client, emulator: Emulator) -> None:
    events = [{"name": "w", "to": "s"} for _ in range(150)]
    events.append({"name": "w", "to": "s", "payload": {"k": SURROGATE}})
    with pytest.raises(ValidationError, match=r"events\[150\]\.payload"):
        client.trigger_bulk_event(events)
    assert emulator.requests() == []


@pytest.mark.parametrize(
    "headers",
    [
        {"Content-Length": "0"},
        {"transfer-encoding": "chunked"},
        {"Host": "evil.example"},
        {"Connection": "close"},
        {"Bad Name": "x"},
        {"X-Colon:": "x"},
        {"": "x"},
        {"X-Ünïcode": "x"},
        {"X-Line": "a\r\nInjected: 1"},
        {"Authorization": "ApiKey other"},
    ],
)
def test_default_headers_refuse_framing_and_invalid_names(
    api_key: str, headers: Dict[str, str]
) -> None:
    with pytest.raises(ValidationError) as caught:
        Client(api_key=api_key, base_url="http://127.0.0.1:9", default_headers=headers)
    assert caught.value.argument == "default_headers"


def test_valid_default_headers_go_out(api_key: str, emulator: Emulator) -> None:
    with Client(
        api_key=api_key, base_url=emulator.url, default_headers={"X-Team": "growth"}
    ) as client:
        client.trigger_event("w", "s-1")
    assert emulator.requests()[0]["headers"]["x-team"] == "growth"
