"""How each Events call reads an accepted (2xx) answer.

A trigger or broadcast gives one :class:`~teleflow_py.results.TriggerResult`, a bulk
request one per event, a cancel a boolean. An answer that does not describe the trigger
(no ``data``, a body of another endpoint) still means the server took the request: its
triggers are reported unconfirmed, never as processed and never as lost. Pure.
"""

from __future__ import annotations

import logging
from typing import Any, List, NoReturn

from .._bodies import Chunk
from ..errors import APIError, UnexpectedResponseError
from ..response import Response
from ..results import TriggerResult

logger = logging.getLogger("teleflow_py.events")


def describes_a_trigger(data: Any) -> bool:
    """Whether ``data`` is a trigger's result: a dict with one of its fields at least.

    The fields (novu ``libs/shared/src/dto/events``, ``TriggerEventResponseDto``):
    ``acknowledged``, ``status``, ``transactionId`` (and ``error``).

    ``{"accepted": "x"}`` (another endpoint's answer, a proxy's JSON) is not one.
    """
    return isinstance(data, dict) and (
        "acknowledged" in data or "status" in data or "transactionId" in data
    )


def trigger_result(response: Response, kind: str, name: str) -> TriggerResult:
    """The result of an accepted (2xx) ``kind`` (trigger or broadcast) of workflow ``name``.

    Never raises. An answer that does not describe the trigger still means it was
    accepted: the result is marked unconfirmed (see :class:`TriggerResult`) rather than
    raised as a failure. A result other than ``processed`` is logged at warning level.
    """
    body = response.body
    data = body.get("data", body) if isinstance(body, dict) else None
    if not describes_a_trigger(data):
        problem = "an empty answer" if body is None else "an answer without a trigger result"
        logger.warning(
            "%s %r was accepted (HTTP %d) with %s: reported unconfirmed",
            kind,
            name,
            response.status,
            problem,
        )
        return TriggerResult.unconfirmed(response, problem)
    result = TriggerResult.from_data(data, response)
    if not result.ok:
        logger.warning(
            "%s %r was not processed: status=%r acknowledged=%s transactionId=%s error=%s",
            kind,
            name,
            result.status,
            result.acknowledged,
            result.transaction_id,
            "; ".join(result.error) or "-",
        )
    return result


def chunk_results(response: Response, chunk: Chunk) -> List[TriggerResult]:
    """One result per event of an accepted (2xx) chunk, in order; never raises.

    The API answers ``{"data": [result, ...]}``, one per event, in order
    (novu ``apps/api/src/app/events/events.controller.ts``, ``trigger/bulk``). Anything
    else still means the server took the request: every event gets an unconfirmed result
    and one warning is logged.
    """
    body = response.body
    data = body.get("data", body) if isinstance(body, dict) else body
    size = len(chunk.events)
    problem = ""
    if body is None:
        problem = "an empty answer"
    elif not isinstance(data, list) or not all(describes_a_trigger(item) for item in data):
        problem = "an answer without a 'data' list of results"
    elif len(data) < size:
        problem = f"{len(data)} results for {size} events"
    if problem:
        logger.warning(
            "bulk request %d (events %d-%d) was accepted (HTTP %d) with %s: its %d events "
            "are reported unconfirmed (sent; do not send them again as if lost)",
            chunk.number + 1,
            chunk.first,
            chunk.first + size - 1,
            response.status,
            problem,
            size,
        )
        return [TriggerResult.unconfirmed(response, problem) for _ in chunk.events]
    results = [TriggerResult.from_data(item, response) for item in data[:size]]
    for offset, result in enumerate(results):
        if not result.ok:
            logger.warning(
                "bulk event %d (%r) was not processed: status=%r error=%s",
                chunk.first + offset,
                chunk.events[offset]["name"],
                result.status,
                "; ".join(result.error) or "-",
            )
    return results


def cancel_result(response: Response, transaction_id: str) -> bool:
    """Whether an accepted cancel cancelled something (an empty answer: no, with a warning).

    Raises:
        UnexpectedResponseError: the answer's ``data`` is not a boolean.
    """
    if response.body is None:
        logger.warning("cancel %r: empty answer, taken as not cancelled", transaction_id)
        return False
    data = _unwrap(response, "a JSON object with a boolean 'data'")
    if not isinstance(data, bool):
        raise_for_body_shape(response, "a boolean 'data'")
    return bool(data)


def _unwrap(response: Response, expected: str) -> Any:
    """The ``data`` of an answer; the body itself when the server did not wrap it."""
    body = response.body
    if isinstance(body, dict):
        return body.get("data", body)
    raise_for_body_shape(response, expected)


def raise_for_body_shape(response: Response, expected: str) -> NoReturn:
    """Raise :class:`~teleflow_py.errors.UnexpectedResponseError` for a malformed 2xx.

    Raises:
        UnexpectedResponseError: always; its message says what was ``expected``.
    """
    error: APIError = UnexpectedResponseError(
        response.status,
        response.body,
        response.headers,
        response=response,
        retry_count=response.retry_count,
    )
    error.args = (f"HTTP {response.status}: expected {expected}, got {_shape(response.body)}",)
    raise error


def _shape(body: Any) -> str:
    if body is None:
        return "an empty body"
    if isinstance(body, str):
        return "a non-JSON body"
    return f"JSON {type(body).__name__}"
