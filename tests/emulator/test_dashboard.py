"""The dashboard in a real headless Chromium: rows, cancelled marks, counters, escaping."""

from __future__ import annotations

import json
import os
import shutil
import struct
import subprocess
import tempfile
from html.parser import HTMLParser
from pathlib import Path
from typing import Optional

import pytest

from teleflow_py.emulator import Emulator

from ._support import Api, analytics_event, trigger_body

HOSTILE = '<img src=x onerror="document.title=1">'
_VOID = {"meta", "link", "br", "img", "input", "hr", "source", "wbr", "col", "area", "base"}


def find_chromium() -> Optional[str]:
    """TELEFLOW_CHROMIUM, then chromium, then chromium-browser on PATH."""
    configured = os.environ.get("TELEFLOW_CHROMIUM")
    if configured:
        return configured
    return shutil.which("chromium") or shutil.which("chromium-browser")


class Node:
    def __init__(self, tag: str, attrs: dict[str, str]) -> None:
        self.tag, self.attrs = tag, attrs
        self.children: list[Node] = []
        self.text_parts: list[str] = []

    @property
    def text(self) -> str:
        return "".join(self.text_parts) + "".join(child.text for child in self.children)

    def walk(self) -> list[Node]:
        found = [self]
        for child in self.children:
            found.extend(child.walk())
        return found

    def by_id(self, element_id: str) -> Node:
        [node] = [n for n in self.walk() if n.attrs.get("id") == element_id]
        return node

    def rows(self, table_id: str) -> list[Node]:
        [body] = [n for n in self.by_id(table_id).children if n.tag == "tbody"]
        return [n for n in body.children if n.tag == "tr"]


class DomBuilder(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.root = Node("#document", {})
        self.stack = [self.root]

    def handle_starttag(self, tag: str, attrs: list[tuple[str, Optional[str]]]) -> None:
        node = Node(tag, {name: value or "" for name, value in attrs})
        self.stack[-1].children.append(node)
        if tag not in _VOID:
            self.stack.append(node)

    def handle_endtag(self, tag: str) -> None:
        for depth in range(len(self.stack) - 1, 0, -1):
            if self.stack[depth].tag == tag:
                del self.stack[depth:]
                return

    def handle_data(self, data: str) -> None:
        self.stack[-1].text_parts.append(data)


def render(url: str, chromium: str, profile: Optional[str] = None) -> Node:
    with tempfile.TemporaryDirectory() as fresh:
        profile = profile or fresh
        result = subprocess.run(
            [
                chromium,
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                f"--user-data-dir={profile}",
                "--virtual-time-budget=5000",
                "--dump-dom",
                url,
            ],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
    assert result.returncode == 0, result.stderr[-3000:]
    builder = DomBuilder()
    builder.feed(result.stdout)
    return builder.root


@pytest.fixture
def chromium() -> str:
    found = find_chromium()
    if not found:
        pytest.skip(
            "no Chromium: set TELEFLOW_CHROMIUM or install chromium (apt-get install chromium)"
        )
    return found


def test_dashboard_shows_what_the_emulator_received(chromium: str) -> None:
    with Emulator(workflows={"welcome": {"delayed": True}}) as emu:
        api = Api(emu.url)
        first = api.post("/v1/events/trigger", trigger_body(to=["user-1", {"subscriberId": "s-2"}]))
        api.post(
            "/v1/events/trigger",
            trigger_body(name=HOSTILE, to={"type": "Topic", "topicKey": "news"}),
        )
        api.delete(f"/v1/events/trigger/{first.json()['data']['transactionId']}")
        api.post("/v1/events/trigger/broadcast", {"name": "announcement", "payload": {}})
        emu.fail_next(1, 503, path="/v1/events/batch")
        batch = {
            "events": [
                analytics_event("m1", user_id="ada"),
                analytics_event("m2", event="Paid", user_id="bob"),
            ]
        }
        for _ in range(3):  # 503, then processed, then replayed
            api.post("/v1/events/batch", batch, **{"X-Idempotency-Key": "batch-1"})

        dom = render(emu.url + "/", chromium)

    assert dom.by_id("status").text == "live"
    rows = dom.rows("triggers")
    cells = [[td.text for td in row.children if td.tag == "td"] for row in rows]
    assert [row[:3] for row in cells] == [
        ["broadcast", "announcement", "all subscribers"],
        ["trigger", HOSTILE, "topic:news"],
        ["trigger", "welcome", "user-1, s-2"],
    ]
    assert cells[2][3] == first.json()["data"]["transactionId"]
    assert ["cancelled" in row.attrs["class"].split() for row in rows] == [False, False, True]
    assert cells[2][4] == "cancelled" and cells[0][4] == "processed"
    # The hostile workflow name is text, never markup.
    assert not [node for node in dom.walk() if node.tag == "img"]

    events = [[td.text for td in row.children if td.tag == "td"][:2] for row in dom.rows("events")]
    assert events == [["Paid", "bob"], ["Signed Up", "ada"]]

    counters = {
        name: dom.by_id(f"counter-{name}").text
        for name in (
            "triggers",
            "broadcasts",
            "cancellations",
            "events",
            "retries",
            "replays",
            "faults",
        )
    }
    assert counters == {
        "triggers": "2",
        "broadcasts": "1",
        "cancellations": "1",
        "events": "2",
        "retries": "2",
        "replays": "1",
        "faults": "1",
    }
    [fault_row] = dom.rows("faults")
    assert [td.text for td in fault_row.children] == ["fail", "/v1/events/batch", "503"]


def make_a_retried_trigger(emu: Emulator) -> str:
    """A trigger whose first attempt met a 503, then processed, then replayed; its id."""
    api = Api(emu.url)
    api.session.headers["Authorization"] = "ApiKey sk_live_dashboard_secret"
    body = trigger_body(payload={"coupon": "WELCOME-42", "plan": "pro"})
    emu.fail_next(1, 503, path="/v1/events/trigger")
    answers = [
        api.post("/v1/events/trigger", body, **{"Idempotency-Key": "signup-7"}) for _ in range(3)
    ]
    assert [a.status_code for a in answers] == [503, 201, 201]
    api.post("/v1/events/trigger", trigger_body(name="other"))
    return str(answers[1].json()["data"]["transactionId"])


def test_a_selected_trigger_shows_payload_headers_key_retries_and_replays(chromium: str) -> None:
    with Emulator() as emu:
        tid = make_a_retried_trigger(emu)
        dom = render(f"{emu.url}/#trigger={tid}", chromium)

    payload = json.loads(dom.by_id("details-payload").text)
    assert payload == {"coupon": "WELCOME-42", "plan": "pro"}
    fields = {
        node.attrs["data-field"]: node.text
        for node in dom.by_id("details-meta").walk()
        if node.tag == "dd"
    }
    assert fields["idempotency key"] == "signup-7"
    assert fields["transaction id"] == tid
    assert fields["retries"] == "2" and fields["replays"] == "1"
    headers = json.loads(dom.by_id("details-headers").text)
    assert headers["authorization"] == "ApiKey ***"
    assert "sk_live_dashboard_secret" not in dom.text
    attempts = [[td.text for td in row.children][1:] for row in dom.rows("details-attempts")]
    assert attempts == [["201", "replay"], ["201", ""], ["503", "fault: fail"]]
    [chosen] = [row for row in dom.rows("triggers") if "selected" in row.attrs["class"].split()]
    assert chosen.attrs["data-transaction-id"] == tid


def test_filters_and_tabs_keep_tables_short(chromium: str) -> None:
    with Emulator() as emu:
        make_a_retried_trigger(emu)
        dom = render(f"{emu.url}/#request=1", chromium)
    # The requests tab is open (the hash selected a request), the others are hidden.
    assert "hidden" not in dom.by_id("view-requests").attrs
    assert "hidden" in dom.by_id("view-triggers").attrs
    assert len(dom.rows("requests")) == 4
    assert dom.by_id("details-payload").text


def png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR"
    return struct.unpack(">II", data[16:24])


def test_screenshot_of_a_selected_trigger(chromium: str, tmp_path: Path) -> None:
    shot = tmp_path / "dashboard.png"
    with Emulator() as emu:
        tid = make_a_retried_trigger(emu)
        with tempfile.TemporaryDirectory() as profile:
            result = subprocess.run(
                [
                    chromium,
                    "--headless",
                    "--no-sandbox",
                    "--disable-gpu",
                    "--hide-scrollbars",
                    f"--user-data-dir={profile}",
                    "--virtual-time-budget=5000",
                    "--window-size=1400,1300",
                    f"--screenshot={shot}",
                    f"{emu.url}/#trigger={tid}",
                ],
                capture_output=True,
                text=True,
                timeout=120,
                check=False,
            )
    assert result.returncode == 0, result.stderr[-3000:]
    data = shot.read_bytes()
    assert png_size(data) == (1400, 1300)
    # Keep a copy to look at (TELEFLOW_SCREENSHOT_DIR), e.g. when reviewing the dashboard.
    keep = os.environ.get("TELEFLOW_SCREENSHOT_DIR")
    if keep:
        Path(keep, "dashboard-selected-trigger.png").write_bytes(data)


def test_the_chart_keeps_its_history_across_reloads(chromium: str, tmp_path: Path) -> None:
    profile = str(tmp_path / "profile")
    with Emulator() as emu:
        first = int(render(emu.url + "/", chromium, profile).by_id("chart").attrs["data-points"])
        again = int(render(emu.url + "/", chromium, profile).by_id("chart").attrs["data-points"])
        fresh = int(render(emu.url + "/", chromium).by_id("chart").attrs["data-points"])
    assert first >= 2
    assert again > first  # the reloaded page starts from the kept history
    # A new browser profile starts empty: it has only what one load gathers, not the kept
    # history on top (one load's count varies by a point with the machine's load).
    assert fresh < again


def test_filters_and_faults_are_separate_labelled_boxes_and_counters_start_at_zero(
    chromium: str,
) -> None:
    with Emulator() as emu:
        dom = render(emu.url + "/", chromium)  # the page polled a few times: no API request
    legends = {
        box: [node.text for node in dom.by_id(box).children if node.tag == "legend"]
        for box in ("filters-box", "faults-box")
    }
    assert legends == {
        "filters-box": ["Filter the lists"],
        "faults-box": ["Inject a fault into the next API requests"],
    }
    assert [n.attrs["id"] for n in dom.by_id("filters-box").walk() if n.tag == "form"] == [
        "filters"
    ]
    assert [n.attrs["id"] for n in dom.by_id("faults-box").walk() if n.tag == "form"] == [
        "fault-form"
    ]
    values = {
        node.attrs["id"]: node.text
        for node in dom.walk()
        if node.attrs.get("id", "").startswith("counter-") and "value" in node.attrs["class"]
    }
    assert values and set(values.values()) == {"0"}, values  # nothing counts the page itself


def test_dropped_rows_are_counted_and_an_evicted_link_says_so(chromium: str) -> None:
    with Emulator(max_stored_rows=2) as emu:
        api = Api(emu.url)
        answers = [api.post("/v1/events/trigger", trigger_body()) for _ in range(3)]
        first = answers[0].json()["data"]["transactionId"]
        evicted = render(f"{emu.url}/#trigger={first}", chromium)
        dropped = emu.stats()
    with Emulator() as fresh:  # nothing dropped: an unknown id was never there
        unknown = render(f"{fresh.url}/#trigger=no-such-id", chromium)
    total = sum(value for name, value in dropped.items() if name.endswith("_dropped"))
    assert total >= 1
    assert evicted.by_id("counter-dropped").text == str(total)
    message = evicted.by_id("details-empty").text
    assert first in message and "no longer stored" in message and "max_stored_rows" in message
    assert "hidden" in evicted.by_id("details-body").attrs
    assert "not stored: never received" in unknown.by_id("details-empty").text
