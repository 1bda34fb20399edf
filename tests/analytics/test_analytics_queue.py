"""The in-memory queue and batches: sizes, order, keys kept and derived."""

from __future__ import annotations

import itertools
import json

import pytest

from teleflow_py.analytics.batch import ALIAS_PATH, BODY_OVERHEAD, Batch
from teleflow_py.analytics.queue import MemoryQueue


def event(number: int, padding: int = 0) -> bytes:
    return json.dumps({"n": number, "pad": "x" * padding}).encode()


def new_queue(max_size: int = 100) -> MemoryQueue:
    counter = itertools.count()
    return MemoryQueue(max_size, 32 * 1024 * 1024, lambda: f"key-{next(counter)}")


def numbers(batch: Batch) -> list:
    return [json.loads(part)["n"] for part in batch.parts]


def test_take_forms_batches_of_at_most_max_events_in_order() -> None:
    queue = new_queue()
    for number in range(5):
        assert queue.put(event(number))
    first = queue.take(2, 10_000)
    second = queue.take(2, 10_000)
    third = queue.take(2, 10_000)
    assert first is not None and second is not None and third is not None
    assert [numbers(first), numbers(second), numbers(third)] == [[0, 1], [2, 3], [4]]
    assert len({first.key, second.key, third.key}) == 3
    assert queue.take(2, 10_000) is None


def test_take_respects_the_byte_cap() -> None:
    queue = new_queue()
    parts = [event(number, padding=100) for number in range(4)]
    for part in parts:
        queue.put(part)
    cap = BODY_OVERHEAD + len(parts[0]) + 1 + len(parts[1])
    batch = queue.take(10, cap)
    assert batch is not None and numbers(batch) == [0, 1]
    assert len(batch.body()) <= cap
    assert json.loads(batch.body()) == {"events": [json.loads(p) for p in parts[:2]]}


def test_an_alias_travels_alone_and_in_order() -> None:
    queue = new_queue()
    queue.put(event(0))
    alias = Batch("alias-key", [b'{"user_id":"u","anonymous_id":"a"}'], ALIAS_PATH)
    queue.put(alias)
    queue.put(event(1))
    taken = [queue.take(10, 10_000) for _ in range(3)]
    assert taken[1] is alias
    assert [numbers(taken[0]), numbers(taken[2])] == [[0], [1]]  # type: ignore[arg-type]


def test_a_batch_given_back_comes_out_first_with_its_key() -> None:
    queue = new_queue()
    for number in range(4):
        queue.put(event(number))
    batch = queue.take(2, 10_000)
    assert batch is not None
    queue.give_back(batch)
    assert len(queue) == 4
    again = queue.take(3, 10_000)
    assert again is batch
    rest = queue.take(3, 10_000)
    assert rest is not None and numbers(rest) == [2, 3]


def test_a_full_queue_refuses_and_counts_given_back_batches() -> None:
    queue = new_queue(max_size=3)
    assert [queue.put(event(n)) for n in range(4)] == [True, True, True, False]
    batch = queue.take(3, 10_000)
    assert batch is not None and len(queue) == 0
    queue.give_back(batch)
    assert len(queue) == 3
    assert not queue.put(event(9))


def test_split_halves_have_keys_derived_the_same_way_every_time() -> None:
    batch = Batch("parent", [event(n) for n in range(5)])
    left, right = batch.split()
    again_left, again_right = Batch("parent", list(batch.parts)).split()
    assert (numbers(left), numbers(right)) == ([0, 1], [2, 3, 4])
    assert (left.key, right.key) == (again_left.key, again_right.key)
    assert len({left.key, right.key, "parent"}) == 3
    assert Batch("other", list(batch.parts)).split()[0].key != left.key


def test_a_batch_of_one_cannot_be_split() -> None:
    with pytest.raises(ValueError):
        Batch("k", [event(0)]).split()


def test_give_back_of_split_halves_keeps_order() -> None:
    queue = new_queue()
    for number in range(4):
        queue.put(event(number))
    batch = queue.take(4, 10_000)
    assert batch is not None
    queue.give_back(*batch.split())
    first, second = queue.take(4, 10_000), queue.take(4, 10_000)
    assert first is not None and second is not None
    assert (numbers(first), numbers(second)) == ([0, 1], [2, 3])
