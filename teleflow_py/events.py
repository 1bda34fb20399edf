"""The Events API: trigger, bulk trigger, broadcast, cancel. Answered at once, never queued."""

from __future__ import annotations

import logging
import threading
from functools import partial
from typing import Any, Callable, Dict, Iterable, List, Mapping, Optional, Tuple, Union
from urllib.parse import quote

from ._bodies import (
    MAX_BULK_EVENTS,
    Chunk,
    broadcast_body,
    check_concurrency,
    chunk_idempotency_key,
    plan_chunks,
    trigger_body,
)
from ._deadline import SharedPause
from ._transport import Transport, raise_for_body_shape
from ._validation import check_idempotency_key, check_transaction_id
from .errors import BulkTriggerError, TeleflowError
from .response import Response
from .results import BulkTriggerResult, TriggerResult, chunk_results, trigger_result
from .types import Actor, Recipients, Tenant, TriggerEvent, TriggerEventBody

logger = logging.getLogger("teleflow_py")

TRIGGER_PATH = "/v1/events/trigger"
BULK_PATH = "/v1/events/trigger/bulk"
BROADCAST_PATH = "/v1/events/trigger/broadcast"

#: What ``trigger_bulk_event`` takes: the typed wire dict, or a :class:`TriggerEvent`.
BulkEventInput = Union[TriggerEventBody, TriggerEvent]

__all__ = [
    "BROADCAST_PATH",
    "BULK_PATH",
    "MAX_BULK_EVENTS",
    "TRIGGER_PATH",
    "BulkEventInput",
    "BulkOutcomes",
    "EventsMixin",
    "cancel_path",
    "cancel_result",
    "chunk_idempotency_key",
]


def _unwrap(response: Response, expected: str) -> Any:
    """The ``data`` of an answer; the body itself when the server did not wrap it."""
    body = response.body
    if isinstance(body, dict):
        return body.get("data", body)
    raise_for_body_shape(response, expected)
    raise AssertionError("unreachable")  # pragma: no cover


class EventsMixin:
    """Events API methods; mixed into :class:`~teleflow_py.Client`, which owns the transport."""

    _transport: Transport

    def trigger_event(
        self,
        name: str,
        to: Recipients,
        *,
        payload: Optional[Mapping[str, Any]] = None,
        overrides: Optional[Mapping[str, Any]] = None,
        transaction_id: Optional[str] = None,
        actor: Optional[Actor] = None,
        tenant: Optional[Tenant] = None,
        idempotency_key: Optional[str] = None,
    ) -> TriggerResult:
        """Trigger workflow ``name`` for the recipients in ``to``.

        Sends ``POST /v1/events/trigger`` at once (never queued). Every argument is checked
        and the body encoded before anything is sent.

        Args:
            name: the workflow's trigger identifier, as shown on the workflow in the
                dashboard (a non-empty string).
            to: who receives it: a subscriber id (``"user-1"``), a subscriber dict
                (:class:`~teleflow_py.SubscriberPayload`: ``subscriberId`` plus optional
                ``email``, ``firstName``, ``lastName``, ``phone``, ``avatar``, ``locale``,
                ``data``, ``channels``; the server creates or updates that subscriber), a
                topic (:class:`~teleflow_py.TopicPayload`,
                ``{"type": "Topic", "topicKey": "..."}``: every subscriber of the topic),
                or a non-empty list mixing them.
            payload: the data the workflow's templates and step conditions read (for
                example ``{"order": {"id": 42}}``); a dict of JSON values, where
                ``datetime``, ``date`` and ``UUID`` values are sent as ISO-8601 strings.
                Not sent when omitted.
            overrides: provider-specific settings that replace the workflow's for this
                trigger, keyed by provider or channel (for example
                ``{"fcm": {"color": "#fff"}}``); a dict, sent as given (not sent when
                omitted).
            transaction_id: your unique id for this trigger, sent as ``transactionId``; the
                server generates one when omitted and returns it on
                ``result.transaction_id``. Give one to cancel the trigger later with
                :meth:`cancel_triggered_event` or to look it up; a non-empty string, not
                ``"."`` or ``".."``.
            actor: the subscriber who caused the notification, whose avatar the
                notification shows: a subscriber id or a
                :class:`~teleflow_py.SubscriberPayload` dict (the server creates that
                subscriber when new); not a topic. Not sent when omitted.
            tenant: the tenant this trigger runs for (its data is available to the
                workflow): a tenant identifier or a :class:`~teleflow_py.TenantPayload`
                dict (``identifier``, ``name``, ``data``), created by the server when new.
                Not sent when omitted.
            idempotency_key: sent as the ``Idempotency-Key`` header on every attempt, so a
                retried request is processed once; 1 to 255 printable ASCII characters
                without whitespace. Default: a new UUID4 per call. Pass your own to make
                repeating the whole call (after a crash, say) safe too.

        Returns:
            The server's :class:`TriggerResult`; check ``result.ok`` (a status other than
            ``processed`` is logged at warning level, not raised). An accepted answer that
            does not describe the trigger gives an unconfirmed result, not an error.

        Raises:
            ValidationError: bad input (the message names the argument, for example
                ``to[1]`` or ``payload['when']``), before anything is sent;
                :class:`~teleflow_py.InvalidIdempotencyKeyError` for a bad
                ``idempotency_key``.
            APIError: the server answered an error status. 408, 409, 429, 502, 503 and 504
                are retried (up to ``max_retries`` times, within ``deadline``, with the
                same idempotency key) before this is raised; any other status, a 429
                saying the daily quota is spent, and a 429 asking for a wait over
                ``max_retry_wait``, are raised at once.
            APIConnectionError: no answer from the server; retried like the statuses above
                unless a repeat cannot help (``retryable`` false).
                :class:`~teleflow_py.APITimeoutError` for a timeout or the deadline,
                :class:`~teleflow_py.ResponseTooLargeError` (not retried) for an answer
                over ``max_response_bytes``.
        """
        body = trigger_body(
            name,
            to,
            payload=payload,
            overrides=overrides,
            transaction_id=transaction_id,
            actor=actor,
            tenant=tenant,
        )
        return self._send_one(TRIGGER_PATH, body, idempotency_key, f"trigger {name!r}")

    def broadcast_event(
        self,
        name: str,
        payload: Mapping[str, Any],
        *,
        overrides: Optional[Mapping[str, Any]] = None,
        transaction_id: Optional[str] = None,
        actor: Optional[Actor] = None,
        tenant: Optional[Tenant] = None,
        idempotency_key: Optional[str] = None,
    ) -> TriggerResult:
        """Trigger workflow ``name`` for every subscriber of the environment.

        Sends ``POST /v1/events/trigger/broadcast`` at once (never queued); there is no
        ``to``: the server sends to all subscribers.

        Args:
            name: the workflow's trigger identifier, as shown on the workflow in the
                dashboard (a non-empty string).
            payload: the data the workflow's templates and step conditions read; a dict of
                JSON values (``datetime``, ``date`` and ``UUID`` sent as ISO-8601 strings).
                Required by the server for a broadcast: pass ``{}`` for none.
            overrides: provider-specific settings that replace the workflow's for this
                trigger, keyed by provider or channel (for example
                ``{"fcm": {"color": "#fff"}}``); a dict, sent as given (not sent when
                omitted).
            transaction_id: your unique id for this trigger, sent as ``transactionId``; the
                server generates one when omitted and returns it on
                ``result.transaction_id``. Give one to cancel the trigger later with
                :meth:`cancel_triggered_event` or to look it up; a non-empty string, not
                ``"."`` or ``".."``.
            actor: the subscriber who caused the notification, whose avatar the
                notification shows: a subscriber id or a
                :class:`~teleflow_py.SubscriberPayload` dict (the server creates that
                subscriber when new); not a topic. Not sent when omitted.
            tenant: the tenant this trigger runs for (its data is available to the
                workflow): a tenant identifier or a :class:`~teleflow_py.TenantPayload`
                dict (``identifier``, ``name``, ``data``), created by the server when new.
                Not sent when omitted.
            idempotency_key: sent as the ``Idempotency-Key`` header on every attempt, so a
                retried request is processed once; 1 to 255 printable ASCII characters
                without whitespace. Default: a new UUID4 per call. Pass your own to make
                repeating the whole call (after a crash, say) safe too.

        Returns:
            The server's :class:`TriggerResult`, as for :meth:`trigger_event`.

        Raises:
            ValidationError: bad input (``payload`` missing or not a dict, or any other
                argument), before anything is sent.
            APIError: the server answered an error status; retried as for
                :meth:`trigger_event` (408, 409, 429, 502, 503, 504) before it is raised.
            APIConnectionError: no answer from the server after retries
                (:class:`~teleflow_py.APITimeoutError` for a timeout or the deadline).
        """
        body = broadcast_body(
            name,
            payload,
            overrides=overrides,
            transaction_id=transaction_id,
            actor=actor,
            tenant=tenant,
        )
        return self._send_one(BROADCAST_PATH, body, idempotency_key, f"broadcast {name!r}")

    def _send_one(
        self, path: str, body: bytes, idempotency_key: Optional[str], what: str
    ) -> TriggerResult:
        key = check_idempotency_key(idempotency_key)
        response = self._transport.request("POST", path, body=body, idempotency_key=key)
        return trigger_result(response, what)

    def trigger_bulk_event(
        self,
        events: Iterable[BulkEventInput],
        *,
        idempotency_key: Optional[str] = None,
        concurrency: int = 1,
    ) -> BulkTriggerResult:
        """Trigger many events; more than 100 are split into requests of at most 100.

        Every event is checked and encoded before the first request goes out. Each request
        carries its own idempotency key derived from ``idempotency_key`` (see
        :func:`~teleflow_py.events.chunk_idempotency_key`), so repeating the call with the
        same key repeats exactly the same requests. Each request has its own ``deadline``
        and retries; a 429's wait (or a spent rate-limit window) pauses every request of
        the call, which slows down rather than fails.

        Args:
            events: the triggers, each a :class:`~teleflow_py.types.TriggerEventBody` dict
                or a :class:`~teleflow_py.types.TriggerEvent`.
            idempotency_key: the call's key (default: a new one); see above.
            concurrency: how many requests (of up to 100 events) may be in flight at once,
                1 to 32, on the client's keep-alive connections. The default, 1, sends the
                requests in order, one at a time, which no rate limit can object to.

        Returns:
            One result per event, in input order; ``result.failed`` lists the events the
            server did not process, ``result.unconfirmed`` those accepted without a result.

        Raises:
            ValidationError: bad input (an empty list, a bad event, a bad ``concurrency``),
                before anything is sent; the message names ``events[<index>]``.
            BulkTriggerError: the events were split over several requests and one failed
                for good. No request starts after that; those in flight finish. It carries
                the accepted results (``accepted``, with input indexes) and the unsent
                events with their keys (``unsent``, ``unsent_chunks``) to resume with; the
                first failed request's error is ``.error``.
            APIError, APIConnectionError: the single request (100 events or fewer) failed.
        """
        workers = check_concurrency(concurrency)
        chunks = plan_chunks(events, idempotency_key)
        pause = SharedPause()
        if len(chunks) == 1:
            response = self._send_chunk(chunks[0], pause)
            return BulkTriggerResult(chunk_results(response, chunks[0]), [response])
        outcomes = BulkOutcomes(len(chunks))
        if workers == 1:
            for chunk in chunks:
                if not outcomes.run(chunk, partial(self._send_chunk, chunk, pause)):
                    break
        else:
            _run_concurrently(chunks, workers, outcomes, lambda c: self._send_chunk(c, pause))
        return outcomes.result(chunks)

    def _send_chunk(self, chunk: Chunk, pause: SharedPause) -> Response:
        return self._transport.request(
            "POST", BULK_PATH, body=chunk.body, idempotency_key=chunk.key, pause=pause
        )

    def cancel_triggered_event(self, transaction_id: str) -> bool:
        """Cancel the pending steps (delays, digests) of a triggered transaction.

        Sends ``DELETE /v1/events/trigger/<transaction_id>``, with a new idempotency key
        kept across its retries. Steps already sent are not undone.

        Args:
            transaction_id: the ``transactionId`` of the trigger to cancel: the one you
                passed to :meth:`trigger_event` (or a bulk event), or the one the server
                returned on ``result.transaction_id``. A non-empty string, not ``"."`` or
                ``".."``; sent as one percent-encoded path segment, so no character in it
                can reach another endpoint.

        Returns:
            ``True`` when the server cancelled something, ``False`` when there was nothing
            (left) to cancel (and for an empty answer, with a warning logged).

        Raises:
            ValidationError: ``transaction_id`` is not a non-empty string, is ``"."`` or
                ``".."``, or holds a lone surrogate.
            APIError: the server answered an error status (retried first for 408, 409, 429,
                502, 503, 504); :class:`~teleflow_py.UnexpectedResponseError` when a 2xx
                answer's ``data`` is not a boolean.
            APIConnectionError: no answer from the server after retries.
        """
        response = self._transport.request(
            "DELETE", cancel_path(transaction_id), idempotency_key=check_idempotency_key(None)
        )
        return cancel_result(response, transaction_id)


def cancel_path(transaction_id: str) -> str:
    """The path that cancels ``transaction_id``, sent as one percent-encoded segment.

    Raises:
        ValidationError: ``transaction_id`` is empty or not a string.
    """
    check_transaction_id(transaction_id)
    return f"{TRIGGER_PATH}/{quote(transaction_id, safe='')}"


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


def _run_concurrently(
    chunks: List[Chunk],
    workers: int,
    outcomes: BulkOutcomes,
    send: Callable[[Chunk], Response],
) -> None:
    """Send ``chunks`` on up to ``workers`` threads, taking them in input order."""
    pending = iter(chunks)
    lock = threading.Lock()

    def work() -> None:
        while True:
            with lock:
                chunk = next(pending, None)
            if chunk is None or not outcomes.run(chunk, partial(send, chunk)):
                return

    threads = [
        threading.Thread(target=work, name=f"teleflow-bulk-{n}", daemon=True)
        for n in range(min(workers, len(chunks)))
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
