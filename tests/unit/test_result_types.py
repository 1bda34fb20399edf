"""Response and TriggerResult: their written-out constructors keep the dataclass's fields,
defaults and freeze."""

from __future__ import annotations

import dataclasses
import inspect

import pytest

from teleflow_py.response import Response
from teleflow_py.results import TriggerResult

REQUIRED = {Response: (201, {}, None, "http://x/v1"), TriggerResult: (True, "processed", "t")}


@pytest.mark.parametrize("cls", [Response, TriggerResult])
def test_the_constructor_takes_exactly_the_fields_in_order_with_their_defaults(
    cls: type,
) -> None:
    parameters = list(inspect.signature(cls.__init__).parameters.values())[1:]
    fields = dataclasses.fields(cls)
    assert [p.name for p in parameters] == [f.name for f in fields]
    built = cls(*REQUIRED[cls])
    for field in fields:
        if field.default is not dataclasses.MISSING:
            assert getattr(built, field.name) == field.default
        elif field.default_factory is not dataclasses.MISSING:
            assert getattr(built, field.name) == field.default_factory()


def test_a_response_is_frozen_comparable_and_replaceable() -> None:
    response = Response(
        201, {"X-Request-Id": "r-1"}, {"data": 1}, "http://x/v1", "POST", {"A": "b"}, "{}", 2, 3.0
    )
    with pytest.raises(dataclasses.FrozenInstanceError):
        response.status = 500  # type: ignore[misc]
    assert response == Response(
        201, {"X-Request-Id": "r-1"}, {"data": 1}, "http://x/v1", "POST", {"A": "b"}, "{}", 2, 3.0
    )
    assert dataclasses.replace(response, status=200).status == 200
    assert response.request_id == "r-1"
    assert (response.retry_count, response.time_spent_in_ms) == (2, 3.0)
    # Each response has its own request headers when none were given.
    assert (
        Response(1, {}, None, "u").request_headers is not Response(1, {}, None, "u").request_headers
    )


def test_a_trigger_result_is_frozen_and_compares_without_its_response() -> None:
    answer = Response(201, {}, None, "u")
    result = TriggerResult(True, "processed", "t", ["x"], answer)
    with pytest.raises(dataclasses.FrozenInstanceError):
        result.status = "error"  # type: ignore[misc]
    assert result == TriggerResult(True, "processed", "t", ["x"], None)
    assert result.response is answer and result.confirmed and result.ok
    assert "response" not in repr(result)
    assert TriggerResult(True, "a", None).error is not TriggerResult(True, "a", None).error
