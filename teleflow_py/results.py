"""What the Events API calls return."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterator, List, Optional, Sequence, Tuple, overload

from .response import Response

PROCESSED = "processed"


@dataclass(frozen=True)
class TriggerResult:
    """The server's answer to one trigger (or broadcast, or one event of a bulk trigger).

    ``ok`` is true only for ``status == "processed"``: ``trigger_not_active``,
    ``subscriber_id_missing``, ``no_tenant_found`` or ``error`` are not success, even though
    the request itself was answered 2xx.
    """

    acknowledged: bool
    status: str
    transaction_id: Optional[str]
    error: List[str] = field(default_factory=list)
    response: Optional[Response] = field(default=None, repr=False, compare=False)

    @property
    def ok(self) -> bool:
        """Whether the server processed the trigger."""
        return self.acknowledged and self.status == PROCESSED

    @classmethod
    def from_data(cls, data: Any, response: Optional[Response]) -> TriggerResult:
        """Build from the unwrapped ``data`` object of an answer."""
        error = data.get("error")
        if error is None:
            errors: List[str] = []
        elif isinstance(error, list):
            errors = [str(item) for item in error]
        else:
            errors = [str(error)]
        transaction_id = data.get("transactionId")
        return cls(
            acknowledged=bool(data.get("acknowledged", False)),
            status=str(data.get("status", "")),
            transaction_id=str(transaction_id) if transaction_id is not None else None,
            error=errors,
            response=response,
        )


class BulkTriggerResult(Sequence[TriggerResult]):
    """One :class:`TriggerResult` per event, in input order; ``failed`` lists the others.

    ``responses`` holds one :class:`Response` per request sent (a list over 100 events is
    split into several requests).
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
        """``(input index, result)`` of every event the server did not process."""
        return [(index, result) for index, result in enumerate(self._results) if not result.ok]

    @property
    def ok(self) -> bool:
        """Whether every event was processed."""
        return all(result.ok for result in self._results)

    def __repr__(self) -> str:
        return (
            f"BulkTriggerResult(events={len(self._results)}, failed={len(self.failed)}, "
            f"requests={len(self.responses)})"
        )
