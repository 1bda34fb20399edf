"""Each Events API call as data: what to send on every attempt.

A :class:`Call` is everything the attempt loop needs to know about one call (method, path,
encoded body, idempotency key and the header it travels in, and whether a 2xx answer is
the endpoint's own). How each call reads its accepted answer is
:mod:`teleflow_py._core.answers`. Pure: building a call sends nothing.
"""

from __future__ import annotations

from typing import Callable, NamedTuple, Optional
from urllib.parse import quote

from .._validation import check_transaction_id
from ..response import Response
from .tracing import CallSpan

TRIGGER_PATH = "/v1/events/trigger"
BULK_PATH = "/v1/events/trigger/bulk"
BROADCAST_PATH = "/v1/events/trigger/broadcast"


class Call(NamedTuple):
    """One call to the API, as the attempt loop sends it on every attempt."""

    method: str
    path: str
    body: Optional[bytes]
    idempotency_key: Optional[str]
    #: The header the key travels in (the analytics endpoints use ``X-Idempotency-Key``).
    idempotency_header: str = "Idempotency-Key"
    #: What the call is, for logs and observers: ``"trigger"``, ``"broadcast"``,
    #: ``"bulk"``, ``"cancel"``, ``"batch"``.
    kind: str = "request"
    #: Whether a 2xx answer is the endpoint's own (``None``: every 2xx is). One that is
    #: not (a captive portal, a proxy's page) is retried like a lost answer.
    accepts: Optional[Callable[[Response], bool]] = None
    #: For observers (spans, logs): the workflow triggered, and how many events it carries.
    workflow: Optional[str] = None
    events: int = 1
    #: The span of the whole call this request is one of (a bulk trigger's requests share
    #: the ``teleflow.trigger_bulk`` span its method opened); ``None``: a call of its own.
    scope: Optional[CallSpan] = None


def trigger_call(
    path: str, body: bytes, idempotency_key: str, kind: str, workflow: Optional[str] = None
) -> Call:
    """``POST`` of one trigger (``TRIGGER_PATH``) or broadcast (``BROADCAST_PATH``)."""
    # Positional: a namedtuple's keywords cost as much again, on every call.
    return Call("POST", path, body, idempotency_key, "Idempotency-Key", kind, None, workflow)


def bulk_call(
    body: bytes, idempotency_key: str, events: int = 1, scope: Optional[CallSpan] = None
) -> Call:
    """``POST`` of one request (up to 100 events) of a bulk trigger, in the call's ``scope``."""
    return Call("POST", BULK_PATH, body, idempotency_key, kind="bulk", events=events, scope=scope)


def cancel_path(transaction_id: str) -> str:
    """The path that cancels ``transaction_id``, sent as one percent-encoded segment.

    Raises:
        ValidationError: ``transaction_id`` is empty or not a string.
    """
    check_transaction_id(transaction_id)
    return f"{TRIGGER_PATH}/{quote(transaction_id, safe='')}"


def cancel_call(transaction_id: str, idempotency_key: str) -> Call:
    """``DELETE`` of a triggered transaction's pending steps.

    Raises:
        ValidationError: ``transaction_id`` is empty or not a string.
    """
    return Call("DELETE", cancel_path(transaction_id), None, idempotency_key, kind="cancel")
