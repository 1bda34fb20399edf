"""The Events API: trigger, bulk trigger, broadcast, cancel. Answered at once, never queued.

The mixin checks the arguments and documents the calls; each call itself is data
(:mod:`teleflow_py._core.calls`), sent by the sync driver (:mod:`teleflow_py._transport`)
and read by :mod:`teleflow_py._core.answers`.

See docs/architecture.rst for how a call travels and the module map.
"""

from __future__ import annotations

import functools
import inspect
import threading
from functools import partial
from typing import Any, Callable, Generic, Iterable, List, Mapping, Optional, TypeVar, Union

from typing_extensions import Concatenate, ParamSpec

from ._bodies import (
    DEFAULT_CONCURRENCY,
    MAX_BULK_EVENTS,
    Chunk,
    broadcast_body,
    chunk_idempotency_key,
    trigger_body,
)
from ._core.answers import cancel_result, trigger_result
from ._core.bulk import BulkOutcomes, BulkPlan
from ._core.calls import (
    BROADCAST_PATH,
    BULK_PATH,
    TRIGGER_PATH,
    Call,
    bulk_call,
    cancel_call,
    cancel_path,
    trigger_call,
)
from ._core.deadline import SharedPause
from ._core.tracing import CallSpan
from ._observing import bulk_span
from ._transport import Transport
from ._validation import check_idempotency_key
from .integrations.otel import telemetry
from .response import Response
from .results import BulkTriggerResult, TriggerResult
from .types import Actor, Recipients, Tenant, TriggerEvent, TriggerEventBody

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


R = TypeVar("R")
P = ParamSpec("P")


class EventRequest(Generic[R]):
    """One Events API call as data, and how its accepted answer becomes the result.

    What each Events method of both clients builds before any I/O; the client's driver
    sends :attr:`call` and hands it with the accepted :class:`Response` to :attr:`read`.
    ``read`` takes the call (a trigger's kind and workflow are there) rather than binding
    them: the methods keep only ``call`` and a module function while the answer is
    awaited, nothing made per call.
    """

    __slots__ = ("call", "read")

    def __init__(self, call: Call, read: Callable[[Call, Response], R]) -> None:
        self.call = call
        self.read = read


# -- the calls, written once: both clients' methods are made from these -----------------


def _trigger_event(
    name: str,
    to: Recipients,
    *,
    payload: Optional[Mapping[str, Any]] = None,
    overrides: Optional[Mapping[str, Any]] = None,
    transaction_id: Optional[str] = None,
    actor: Optional[Actor] = None,
    tenant: Optional[Tenant] = None,
    idempotency_key: Optional[str] = None,
) -> EventRequest[TriggerResult]:
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
    return _one(TRIGGER_PATH, body, idempotency_key, "trigger", name)


def _broadcast_event(
    name: str,
    payload: Mapping[str, Any],
    *,
    overrides: Optional[Mapping[str, Any]] = None,
    transaction_id: Optional[str] = None,
    actor: Optional[Actor] = None,
    tenant: Optional[Tenant] = None,
    idempotency_key: Optional[str] = None,
) -> EventRequest[TriggerResult]:
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
    return _one(BROADCAST_PATH, body, idempotency_key, "broadcast", name)


def _cancel_triggered_event(transaction_id: str) -> EventRequest[bool]:
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
    call = cancel_call(transaction_id, check_idempotency_key(None))
    return EventRequest(call, partial(_cancelled, transaction_id=transaction_id))


def _cancelled(call: Call, response: Response, transaction_id: str) -> bool:
    return cancel_result(response, transaction_id)


def _one(
    path: str, body: bytes, idempotency_key: Optional[str], kind: str, name: str
) -> EventRequest[TriggerResult]:
    call = trigger_call(path, body, check_idempotency_key(idempotency_key), kind, name)
    return EventRequest(call, _triggered)


def _triggered(call: Call, response: Response) -> TriggerResult:
    return trigger_result(response, call.kind, call.workflow or "")


def client_method(build: Callable[..., Any], method: Callable[..., Any]) -> Callable[..., Any]:
    """``method`` dressed as ``build``: its name, docstring, parameters (after ``self``).

    ``build``'s return annotation ``EventRequest[X]`` becomes ``X``, so the reference and
    ``help()`` show what the method returns.
    """
    functools.update_wrapper(method, build)
    del method.__wrapped__  # type: ignore[attr-defined]
    method.__name__ = method.__qualname__ = build.__name__.lstrip("_")
    signature = inspect.signature(build)
    self_ = inspect.Parameter("self", inspect.Parameter.POSITIONAL_OR_KEYWORD)
    result = str(build.__annotations__["return"])[len("EventRequest[") : -1]
    method.__signature__ = signature.replace(  # type: ignore[attr-defined]
        parameters=[self_, *signature.parameters.values()], return_annotation=result
    )
    method.__annotations__ = {**build.__annotations__, "return": result}
    return method


def _sent(build: Callable[P, EventRequest[R]]) -> Callable[Concatenate[EventsMixin, P], R]:
    """``build`` as a method of the sync client: send its call, read the answer."""

    def method(self: EventsMixin, /, *args: P.args, **kwargs: P.kwargs) -> R:
        request = build(*args, **kwargs)
        call, read = request.call, request.read
        return read(call, self._transport.send(call))

    return client_method(build, method)


class EventsMixin:
    """Events API methods; mixed into :class:`~teleflow_py.Client`, which owns the transport."""

    _transport: Transport

    trigger_event = _sent(_trigger_event)
    broadcast_event = _sent(_broadcast_event)
    cancel_triggered_event = _sent(_cancel_triggered_event)

    def trigger_bulk_event(
        self,
        events: Iterable[BulkEventInput],
        *,
        idempotency_key: Optional[str] = None,
        concurrency: int = DEFAULT_CONCURRENCY,
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
                1 to 32, on the client's keep-alive connections (default 8). Against a
                server that sends rate-limit headers the requests are paced to the budget
                (see ``pace_by_rate_limit``); 1 sends them in order, one at a time.

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
        plan = BulkPlan.of(events, idempotency_key, concurrency)
        with bulk_span(telemetry(), plan.chunks, plan.key) as scope:
            return self._send_plan(plan, scope)

    def _send_plan(self, plan: BulkPlan, scope: Optional[CallSpan]) -> BulkTriggerResult:
        workers, chunks, pause, _ = plan
        if len(chunks) == 1:
            return plan.single(self._send_chunk(chunks[0], pause, scope))
        outcomes = BulkOutcomes(len(chunks))
        if workers == 1:
            for chunk in chunks:
                if not outcomes.run(chunk, partial(self._send_chunk, chunk, pause, scope)):
                    break
        else:
            _run_concurrently(
                chunks, workers, outcomes, lambda c: self._send_chunk(c, pause, scope)
            )
        return outcomes.result(chunks)

    def _send_chunk(self, chunk: Chunk, pause: SharedPause, scope: Optional[CallSpan]) -> Response:
        call = bulk_call(chunk.body, chunk.key, len(chunk.events), scope)
        return self._transport.send(call, pause)


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
