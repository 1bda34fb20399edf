"""What became of each request of one bulk trigger, and the result or resumable error.

Shared by both clients' ``trigger_bulk_event`` (the sync one records from worker threads,
the async one from tasks). Pure: it reads answers and builds results, it sends nothing.
"""

from __future__ import annotations

import threading
from typing import Any, Callable, Dict, List, NamedTuple, Optional, Tuple

from .._bodies import Chunk, check_concurrency, plan_chunks
from .._validation import check_idempotency_key
from ..errors import BulkTriggerError, TeleflowError
from ..response import Response
from ..results import BulkTriggerResult, TriggerResult
from .answers import chunk_results
from .deadline import SharedPause


class BulkPlan(NamedTuple):
    """One bulk call checked and cut into requests, before anything is sent."""

    #: How many requests may be in flight at once.
    workers: int
    #: The requests, in input order, each with its derived idempotency key.
    chunks: List[Chunk]
    #: A 429's wait, shared by every request of the call.
    pause: SharedPause
    #: The call's idempotency key (given, or minted), from which each request's derives.
    key: str

    @classmethod
    def of(cls, events: Any, idempotency_key: Optional[str], concurrency: Any) -> BulkPlan:
        """Check ``concurrency`` and every event, and cut the events into requests.

        Raises:
            ValidationError: bad input, naming ``concurrency`` or ``events[<index>]``.
        """
        workers = check_concurrency(concurrency)
        key = check_idempotency_key(idempotency_key)
        return cls(workers, plan_chunks(events, key), SharedPause(), key)

    def single(self, response: Response) -> BulkTriggerResult:
        """The result of a call sent as one request, accepted with ``response``."""
        return BulkTriggerResult(chunk_results(response, self.chunks[0]), [response])


class BulkOutcomes:
    """What became of each request of one bulk call (thread-safe)."""

    def __init__(self, count: int) -> None:
        self._lock = threading.Lock()
        self._responses: List[Optional[Response]] = [None] * count
        self._results: List[List[TriggerResult]] = [[] for _ in range(count)]
        self._errors: Dict[int, Exception] = {}

    @property
    def failed(self) -> bool:
        """Whether a request failed for good (no new request starts after that)."""
        return bool(self._errors)

    def run(self, chunk: Chunk, send: Callable[[], Response]) -> bool:
        """Send ``chunk`` unless a request already failed; ``False`` once one has."""
        if self.failed:
            return False
        try:
            response = send()
        except Exception as exc:  # recorded, raised on the caller's thread by result()
            self.record_error(chunk, exc)
            return False
        self.record(chunk, response)
        return True

    def record(self, chunk: Chunk, response: Response) -> None:
        """``chunk`` was accepted with ``response`` (the async client calls this directly).

        Its results are read here, on the worker, while the other requests wait on the
        network.
        """
        results = chunk_results(response, chunk)
        with self._lock:
            self._responses[chunk.number] = response
            self._results[chunk.number] = results

    def record_error(self, chunk: Chunk, error: Exception) -> None:
        """``chunk`` failed for good with ``error``; no new request should start."""
        with self._lock:
            self._errors[chunk.number] = error

    def result(self, chunks: List[Chunk]) -> BulkTriggerResult:
        """The results in input order, or the resumable report of what was not sent.

        Raises:
            BulkTriggerError: a request failed for good.
        """
        results: List[TriggerResult] = []
        accepted: List[Tuple[int, TriggerResult]] = []
        responses: List[Response] = []
        unsent: List[Chunk] = []
        for chunk, response in zip(chunks, self._responses):
            if response is None:
                unsent.append(chunk)
                continue
            chunk_result = self._results[chunk.number]
            responses.append(response)
            results.extend(chunk_result)
            accepted.extend(enumerate(chunk_result, start=chunk.first))
        if not self._errors:
            return BulkTriggerResult(results, responses)
        error = self._errors[min(self._errors)]
        if not isinstance(error, TeleflowError):
            raise error
        raise BulkTriggerError(
            error,
            results,
            [(chunk.key, chunk.events) for chunk in unsent],
            accepted=accepted,
            unsent_indices=[
                chunk.first + offset for chunk in unsent for offset in range(len(chunk.events))
            ],
        ) from error
