"""What the Events API calls return."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterator, List, Optional, Sequence, Tuple, overload

from .response import Response

PROCESSED = "processed"
#: The status of a trigger accepted (2xx) by an answer that did not describe it.
UNCONFIRMED = "unconfirmed"


@dataclass(frozen=True, init=False)
class TriggerResult:
    """The server's answer to one trigger (or broadcast, or one event of a bulk trigger).

    ``ok`` is true only for ``status == "processed"``: ``trigger_not_active``,
    ``subscriber_id_missing``, ``no_tenant_found`` or ``error`` are not success, even though
    the request itself was answered 2xx.

    ``confirmed`` is false when the server accepted the request (a 2xx) but its answer did
    not say what became of this trigger (an empty body, no ``data``, fewer results than
    events): the trigger was sent and must not be sent again as if it had not been, but
    nothing confirms it was processed. Such a result has ``acknowledged`` true, ``status``
    ``"unconfirmed"`` and ``ok`` false; a warning is logged.

    ``response`` is the raw HTTP answer (status, headers, body, request id).

    Args:
        acknowledged: whether the server acknowledged the trigger.
        status: the server's status for it (``"processed"``, ``"trigger_not_active"``...).
        transaction_id: the trigger's transaction id, if the server gave one.
        error: what the server said went wrong (default: nothing).
        response: the HTTP answer the result came in.
        confirmed: whether the answer described this trigger (see above).
    """

    acknowledged: bool
    status: str
    transaction_id: Optional[str]
    error: List[str] = field(default_factory=list)
    response: Optional[Response] = field(default=None, repr=False, compare=False)
    confirmed: bool = True

    def __init__(
        self,
        acknowledged: bool,
        status: str,
        transaction_id: Optional[str],
        error: Optional[List[str]] = None,
        response: Optional[Response] = None,
        confirmed: bool = True,
    ) -> None:
        # Written out, as Response's (and for the same reason): one result per call, and
        # 100,000 for a bulk call of that many events. A test holds it to the fields.
        self.__dict__.update(
            acknowledged=acknowledged,
            status=status,
            transaction_id=transaction_id,
            error=[] if error is None else error,
            response=response,
            confirmed=confirmed,
        )

    @property
    def ok(self) -> bool:
        """Whether the server processed the trigger."""
        return self.acknowledged and self.status == PROCESSED

    @classmethod
    def unconfirmed(cls, response: Optional[Response], reason: str) -> TriggerResult:
        """A trigger the server accepted (2xx) without saying what became of it.

        Args:
            response: the accepted answer.
            reason: what was wrong with it (kept in ``error``).
        """
        return cls(True, UNCONFIRMED, None, [reason], response, confirmed=False)

    @classmethod
    def from_data(cls, data: Any, response: Optional[Response]) -> TriggerResult:
        """Build from the unwrapped ``data`` object of an answer.

        Missing fields read as not acknowledged, status ``""`` and no transaction id; an
        ``error`` given as one string becomes a one-item list. Nothing is logged and
        ``confirmed`` is true: the answer described this trigger.

        Args:
            data: one trigger's result as the server sends it, a dict with
                ``acknowledged`` (bool), ``status`` (``"processed"``,
                ``"trigger_not_active"``, ``"subscriber_id_missing"``, ``"no_tenant_found"``,
                ``"error"``...), ``transactionId`` and optionally ``error`` (a string or a
                list of strings): the ``data`` of a trigger or broadcast answer, or one item
                of a bulk answer's ``data`` list.
            response: the HTTP answer it came in, kept on ``result.response`` (``None``
                when there is none, for example in a test).

        Raises:
            AttributeError: ``data`` is not a dict (it has no ``get``).
        """
        get = data.get
        error = get("error")
        if error is None:
            errors: List[str] = []
        elif isinstance(error, list):
            errors = [str(item) for item in error]
        else:
            errors = [str(error)]
        status = get("status", "")
        transaction_id = get("transactionId")
        # Positional and without keyword matching: a bulk call builds 100,000 of these.
        return cls(
            bool(get("acknowledged", False)),
            status if type(status) is str else str(status),
            transaction_id
            if transaction_id is None or type(transaction_id) is str
            else str(transaction_id),
            errors,
            response,
        )


class BulkTriggerResult(Sequence[TriggerResult]):
    """One :class:`TriggerResult` per event, in input order.

    ``failed`` lists the events the server answered for and did not process;
    ``unconfirmed`` those sent in an accepted request whose answer did not describe them
    (do not send these again as if lost). ``responses`` holds one :class:`Response` per
    request, in input order (a list over 100 events is split into several requests).

    Built by :meth:`~teleflow_py.Client.trigger_bulk_event`; a caller reads it as a
    sequence (``len``, indexing, iteration) and through ``ok``, ``failed`` and
    ``unconfirmed``.

    Args:
        results: one result per event, in the order the events were given.
        responses: the accepted (2xx) answer of every request the events went in, in
            request order (one for 100 events or fewer).
    """

    def __init__(self, results: Sequence[TriggerResult], responses: Sequence[Response]) -> None:
        self._results = list(results)
        self.responses = list(responses)

    @overload
    def __getitem__(self, index: int) -> TriggerResult: ...

    @overload
    def __getitem__(self, index: slice) -> Sequence[TriggerResult]: ...

    def __getitem__(self, index: Any) -> Any:
        return self._results[index]

    def __len__(self) -> int:
        return len(self._results)

    def __iter__(self) -> Iterator[TriggerResult]:
        return iter(self._results)

    @property
    def failed(self) -> List[Tuple[int, TriggerResult]]:
        """``(input index, result)`` of every event the server said it did not process."""
        return [
            (index, result)
            for index, result in enumerate(self._results)
            if result.confirmed and not result.ok
        ]

    @property
    def unconfirmed(self) -> List[Tuple[int, TriggerResult]]:
        """``(input index, result)`` of every event accepted without a result of its own."""
        return [(i, result) for i, result in enumerate(self._results) if not result.confirmed]

    @property
    def ok(self) -> bool:
        """Whether every event was processed."""
        return all(result.ok for result in self._results)

    def __repr__(self) -> str:
        return (
            f"BulkTriggerResult(events={len(self._results)}, failed={len(self.failed)}, "
            f"unconfirmed={len(self.unconfirmed)}, requests={len(self.responses)})"
        )
