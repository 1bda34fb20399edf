"""HTTP details as the fork's Express/NestJS stack answers them (NxPKG/teleflow 2066d4c74), and
no request that leaves a handler without an answer."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote

import requests
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from teleflow_py.emulator import Emulator

from ._support import AUTH, raw_exchange, status_of

TRIGGER = "/v1/events/trigger"


def raw(port: int, method: str, path: str, extra: str = "") -> bytes:
    request = f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n{extra}Connection: close\r\n\r\n"
    return raw_exchange(port, request.encode())


def test_trace_is_expresss_404(emu: Emulator) -> None:
    # NestJS's not-found handler: NotFoundException(`Cannot ${method} ${url}`).
    answer = raw(emu.port, "TRACE", TRIGGER)
    _, _, body = answer.partition(b"\r\n\r\n")
    assert status_of(answer) == 404
    assert (
        body
        == b'{"message":"Cannot TRACE /v1/events/trigger","error":"Not Found","statusCode":404}'
    )


def test_head_has_the_headers_of_the_answer_and_no_body(emu: Emulator) -> None:
    # Express's res.send sets Content-Length, then ends a HEAD response without the body.
    answer = raw(emu.port, "HEAD", TRIGGER)
    head, _, body = answer.partition(b"\r\n\r\n")
    expected = b'{"message":"Cannot HEAD /v1/events/trigger","error":"Not Found","statusCode":404}'
    assert status_of(answer) == 404
    assert body == b""
    assert f"Content-Length: {len(expected)}".encode() in head
    # A control route answers HEAD as its GET, without the body.
    page = requests.head(emu.url + "/emulator/stats", timeout=30)
    assert page.status_code == 200 and page.content == b""


def test_connect_is_closed_without_an_answer_as_node_does(emu: Emulator) -> None:
    # Node's http server destroys the socket of a CONNECT nobody listens for
    # (lib/_http_server.js, "Got CONNECT method, but have no handler"); Express never sees it.
    assert raw(emu.port, "CONNECT", TRIGGER) == b""
    assert emu.requests() == []


def test_a_form_encoded_trigger_reaches_the_handler(emu: Emulator) -> None:
    # apps/api/src/bootstrap.ts: bodyParser.urlencoded({extended: true}) parses with qs.
    form = (
        "name=welcome&to[subscriberId]=ada&payload[order][id]=7&payload[tags][]=a&payload[tags][]=b"
    )
    answer = requests.post(
        emu.url + TRIGGER,
        data=form,
        headers={**AUTH, "Content-Type": "application/x-www-form-urlencoded"},
        timeout=30,
    )
    assert answer.status_code == 201, answer.text
    [trigger] = emu.triggers()
    assert trigger["to"] == {"subscriberId": "ada"}
    assert trigger["payload"] == {"order": {"id": "7"}, "tags": ["a", "b"]}


def test_a_form_without_a_name_fails_validation_like_json(emu: Emulator) -> None:
    answer = requests.post(
        emu.url + TRIGGER,
        data={"to": "ada"},  # requests form-encodes a dict
        headers=AUTH,
        timeout=30,
    )
    assert answer.status_code == 400
    assert "name should not be null or undefined" in answer.json()["message"]


def test_a_huge_limit_is_a_400_not_a_dropped_connection(emu: Emulator) -> None:
    answer = requests.get(emu.url + "/emulator/requests?limit=" + "9" * 5000, timeout=30)
    assert answer.status_code == 400
    assert answer.json()["message"] == "limit must be an integer from 1 to 100000"
    huge_length = raw(emu.port, "POST", TRIGGER, "Content-Length: " + "9" * 5000 + "\r\n")
    assert status_of(huge_length) == 413


CONTROL_GETS = [
    "triggers",
    "broadcasts",
    "notifications",
    "bulk",
    "events",
    "requests",
    "faults",
    "stats",
    "settings",
    "replays",
]
_text = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=40)
_json: Any = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | _text,
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(
            _text | st.sampled_from(["kind", "count", "status", "name"]), children, max_size=4
        )
    ),
    max_leaves=12,
)


@settings(
    max_examples=150,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=list(HealthCheck),
)
@given(
    route=st.sampled_from(CONTROL_GETS),
    query=st.lists(
        st.tuples(
            _text | st.just("limit"), _text | st.text("0123456789", min_size=1, max_size=6000)
        ),
        max_size=4,
    ),
    post_route=st.sampled_from(["faults", "workflows", "reset"]),
    body=_json,
)
def test_every_control_request_gets_an_answer(
    emu: Emulator, route: str, query: list[tuple[str, str]], post_route: str, body: Any
) -> None:
    url = emu.url + "/emulator/"
    text = "&".join(f"{quote(k)}={quote(v)}" for k, v in query)
    got = requests.get(f"{url}{route}?{text}", timeout=30)
    assert got.status_code in (200, 400), got.text
    posted = requests.post(
        url + post_route,
        data=json.dumps(body, allow_nan=True),
        headers={"Content-Type": "application/json"},
        timeout=30,
    )
    assert posted.status_code in (200, 201, 400), posted.text
    assert isinstance(posted.json(), dict)


@settings(
    max_examples=150,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=list(HealthCheck),
)
@given(
    path=st.sampled_from(
        [TRIGGER, TRIGGER + "/bulk", TRIGGER + "/broadcast", "/v1/events/batch", "/v1/x"]
    ),
    content_type=st.sampled_from(
        ["application/json", "application/x-www-form-urlencoded", "text/plain", ""]
    ),
    body=st.one_of(
        _json.map(lambda value: json.dumps(value).encode()),
        st.lists(
            st.tuples(st.text("ab[]0123=&%+", max_size=12), st.text("xy[]=&%+", max_size=8)),
            max_size=6,
        ).map(lambda pairs: "&".join(f"{k}={v}" for k, v in pairs).encode()),
        st.binary(max_size=64),
    ),
)
def test_every_api_request_gets_an_answer(
    emu: Emulator, path: str, content_type: str, body: bytes
) -> None:
    headers = {**AUTH, "Content-Type": content_type} if content_type else dict(AUTH)
    answer = requests.post(emu.url + path, data=body, headers=headers, timeout=30)
    assert answer.status_code < 500, answer.text
    assert isinstance(answer.json(), (dict, list))
