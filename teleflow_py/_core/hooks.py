"""The per-attempt hook interface: where pacing and tracing plug into the attempt loop.

:meth:`~teleflow_py._core.attempts.Attempts.flow` is the only place where the events of a
call happen (it starts, an attempt is about to be sent, answered or failed, a wait is
decided, the call ends), whichever driver runs it: the sync client, the async client or
the analytics worker. It tells an :class:`AttemptObserver` of each, in this order::

    call_started
    (  (delay_before_send -> [waiting -> Sleep step])+ -> attempt_started -> [Send step]
       -> attempt_answered | attempt_failed
       -> [waiting -> Sleep step]  )*
    call_ended

``call_started`` answers whether the observer watches the call. When it does not (nothing
is traced and nothing paced: the usual case), the loop reports only ``attempt_answered``
(every answer, so that rate-limit headers that appear are learnt) and skips the other
hooks: a call that goes well then costs one hook call besides that one.

An observer is given to a driver (``Transport(..., observer=)``,
``AsyncTransport(..., observer=)``); :data:`NO_OBSERVER` does nothing. Hooks run on the
caller's thread or event loop, inside the call: keep them quick; an exception they raise
ends the call with it (an observer that must never fail catches its own errors).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Mapping, MutableMapping, Optional

from typing_extensions import Protocol

if TYPE_CHECKING:
    from ..errors import TeleflowError
    from ..response import Response
    from .calls import Call
    from .deadline import Deadline


class AttemptObserver(Protocol):
    """What the attempt loop reports, and the one thing it asks (a delay before a send).

    ``attempt`` counts from 0 (the first attempt) and equals the ``X-Teleflow-Retry-Count``
    header of that attempt.
    """

    def call_started(self, call: Call) -> bool:
        """A call begins (before any wait or attempt): open a call span here.

        Return whether to hear of the call's attempts, waits and end (and to be asked
        :meth:`delay_before_send`); ``False`` leaves only :meth:`attempt_answered`.
        """

    def delay_before_send(self, call: Call, attempt: int, deadline: Deadline) -> float:
        """Seconds to wait before this attempt is sent (pacing); 0 for none.

        Asked only when the client paces by the rate-limit headers. After a wait the loop
        asks again, until the answer is 0: an observer that reserved budget for this
        attempt answers 0 the second time, one that was told to look again (the first
        answer of a bucket is awaited) asks its pacer again. ``deadline`` is the call's
        (:meth:`~teleflow_py._core.deadline.Deadline.remaining` is the time left). A delay
        it cannot fit ends the call with an :class:`~teleflow_py.errors.APITimeoutError`
        (not retryable) before the wait.
        """

    def attempt_started(self, call: Call, attempt: int, headers: MutableMapping[str, str]) -> None:
        """An attempt is about to be sent with ``headers`` (without ``Authorization``).

        The observer may add headers (a ``traceparent``); they go out on this attempt.
        """

    def attempt_answered(
        self, call: Call, attempt: int, status: int, headers: Mapping[str, str]
    ) -> None:
        """The server answered the attempt (any status): read ``RateLimit-*`` here."""

    def attempt_failed(self, call: Call, attempt: int, error: TeleflowError) -> None:
        """The attempt got no (whole) answer: ``error`` is what it became."""

    def waiting(self, call: Call, attempt: int, seconds: float, why: str) -> None:
        """The loop is about to wait ``seconds`` before attempt ``attempt``.

        ``why`` is ``"retry"`` (backoff or the server's ``Retry-After``), ``"pause"`` (the
        pause shared by a bulk call's requests) or ``"pacing"``
        (:meth:`delay_before_send`).
        """

    def call_ended(
        self, call: Call, response: Optional[Response], error: Optional[BaseException]
    ) -> None:
        """The call is over: with the accepted ``response``, or with ``error`` raised."""


class NoObserver:
    """The default :class:`AttemptObserver`: every hook does nothing, no delay."""

    def call_started(self, call: Call) -> bool:
        """Not watched."""
        return False

    def delay_before_send(self, call: Call, attempt: int, deadline: Deadline) -> float:
        """No delay."""
        return 0.0

    def attempt_started(self, call: Call, attempt: int, headers: MutableMapping[str, str]) -> None:
        """Nothing."""

    def attempt_answered(
        self, call: Call, attempt: int, status: int, headers: Mapping[str, str]
    ) -> None:
        """Nothing."""

    def attempt_failed(self, call: Call, attempt: int, error: TeleflowError) -> None:
        """Nothing."""

    def waiting(self, call: Call, attempt: int, seconds: float, why: str) -> None:
        """Nothing."""

    def call_ended(
        self, call: Call, response: Optional[Response], error: Optional[BaseException]
    ) -> None:
        """Nothing."""


#: The observer of a driver given none.
NO_OBSERVER: AttemptObserver = NoObserver()
