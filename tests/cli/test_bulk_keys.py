"""The bulk file reader: chunks fixed relative to line 1, keys from the lines alone."""

from __future__ import annotations

import io
import json
from typing import List

import pytest

from teleflow_py.cli.jsonl import ALL_LINES, BadLine, Chunk, LineRange, read_chunks


def _file(count: int, newline: str = "\n") -> bytes:
    lines = [json.dumps({"name": "w", "to": f"u{i}"}) for i in range(1, count + 1)]
    return (newline.join(lines) + newline).encode("utf-8")


def _chunks(data: bytes, lines: LineRange = ALL_LINES, prefix: str = "p") -> List[Chunk]:
    return list(read_chunks(io.BytesIO(data), lines, prefix))


def test_chunks_are_100_lines_from_line_1_and_keys_name_their_range() -> None:
    chunks = _chunks(_file(250))
    assert [(c.first_line, c.last_line, len(c.events)) for c in chunks] == [
        (1, 100, 100),
        (101, 200, 100),
        (201, 250, 50),
    ]
    assert chunks[0].key.startswith("p-1-100-")
    assert chunks[2].key.startswith("p-201-250-")
    assert chunks[1].lines == list(range(101, 201))
    assert len({c.key for c in chunks}) == 3


def test_the_same_lines_give_the_same_keys_whatever_the_line_endings() -> None:
    unix = [c.key for c in _chunks(_file(150))]
    windows = [c.key for c in _chunks(_file(150, "\r\n"))]
    no_final_newline = [c.key for c in _chunks(_file(150).rstrip(b"\n"))]
    assert unix == windows == no_final_newline


def test_a_changed_line_changes_only_its_chunks_key() -> None:
    original = _file(300)
    changed = original.replace(b'"u150"', b'"someone-else"')
    before = [c.key for c in _chunks(original)]
    after = [c.key for c in _chunks(changed)]
    assert before[0] == after[0] and before[2] == after[2]
    assert before[1] != after[1]


def test_a_prefix_changes_every_key() -> None:
    data = _file(120)
    assert not {c.key for c in _chunks(data, prefix="a")} & {
        c.key for c in _chunks(data, prefix="b")
    }


def test_slices_keep_the_boundaries_and_the_keys_of_the_whole_file() -> None:
    data = _file(1000)
    whole = {c.key: c.first_line for c in _chunks(data)}
    first_half = _chunks(data, LineRange(1, 500))
    second_half = _chunks(data, LineRange(501, None))
    assert {c.key for c in first_half + second_half} == set(whole)
    # A slice that starts inside a chunk makes a partial first chunk, then aligns again.
    odd = _chunks(data, LineRange(150, 420))
    assert [(c.first_line, c.last_line) for c in odd] == [
        (150, 200),
        (201, 300),
        (301, 400),
        (401, 420),
    ]
    assert [c.key for c in odd[1:3]] == [k for k, first in whole.items() if first in (201, 301)]


def test_blank_lines_count_but_carry_no_event() -> None:
    data = b'{"name": "w", "to": "a"}\n\n   \n{"name": "w", "to": "b"}\n'
    (chunk,) = _chunks(data)
    assert chunk.lines == [1, 4]
    assert (chunk.first_line, chunk.last_line) == (1, 4)


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        (b"{not json", "line 102: not valid JSON: Expecting property name"),
        (b"[1, 2]", "line 102: must be a JSON object (a trigger), not list"),
        (b'{"to": "a"}', "line 102: has no 'name'"),
        (b'{"name": "w"}', "line 102: to: is required"),
        (b'{"name": "w", "to": "a", "bogus": 1}', "line 102: event: unknown fields ['bogus']"),
        (b'{"name": "w", "to": "a", "payload": [1]}', "line 102: payload:"),
        (b"\xff\xfe", "line 102: not UTF-8 text"),
    ],
)
def test_a_bad_line_is_reported_with_its_number_before_its_chunk_is_yielded(
    line: bytes, reason: str
) -> None:
    rows = _file(150).splitlines(keepends=True)
    rows[101] = line + b"\n"
    reader = read_chunks(io.BytesIO(b"".join(rows)), ALL_LINES, "p")
    assert next(reader).last_line == 100
    with pytest.raises(BadLine) as caught:
        next(reader)
    assert str(caught.value).startswith(reason), str(caught.value)
    assert caught.value.line == 102
    assert caught.value.chunk_first_line == 101


@pytest.mark.parametrize(
    ("text", "expected"),
    [("1:10", LineRange(1, 10)), ("5:", LineRange(5, None)), (":7", LineRange(1, 7))],
)
def test_line_ranges_parse(text: str, expected: LineRange) -> None:
    assert LineRange.parse(text) == expected


@pytest.mark.parametrize("text", ["10", "0:5", "5:4", "a:b", "-1:"])
def test_bad_line_ranges_are_refused(text: str) -> None:
    with pytest.raises(ValueError):
        LineRange.parse(text)
