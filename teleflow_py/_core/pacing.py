"""Pacing by the server's rate-limit headers: how long a request must wait so it meets no 429.

One :class:`Pacer` is shared by every thread and task of a client (and its ``with_options``
copies). It keeps, per (API key identity, rate-limit category), a model of the server's token
bucket learnt from the answers (:mod:`.ratelimit_headers`), and answers one question before
each send: "a request of this cost, with this much time left: when may it go?". It never
sleeps: the driver sleeps the returned :attr:`Ticket.wait` (``time.sleep`` or
``asyncio.sleep``), then sends.

The model. ``RateLimit-Reset`` is in whole seconds, far coarser than the bucket (600 tokens
a second refill one every 1.7 ms), so the pacer does not wait for the reset: it takes the
refill rate (``limit / w``) and the bucket size (``burst``) from ``RateLimit-Policy`` and
models the bucket between answers as a continuous token bucket (a GCRA). The server's bucket
(``evaluate-token-bucket-rate-limit.usecase.ts``) credits its refill only when it cannot pay
for a request, so it is never less generous than that model started from the same level.

- :meth:`Pacer.reserve` takes the tokens at once, even when the request must wait (the level
  goes below zero, a debt), so N threads asking together get N different send times instead
  of all seeing the same remaining budget.
- :meth:`Pacer.answered` sets the level to what the server said remained, minus the
  requests scheduled to go at or after the answered one (the server had not counted them
  yet); an answer older than the one the level came from is ignored. A 429 says 0 remain.
  The level is dated at the answer's arrival, so the refill during its trip home is not
  counted: a small, safe error.
- Until a policy is known, nothing is paced, except one cold-start rule: while the first
  request of a bucket is on its way (at most :data:`PROBE_PATIENCE` seconds), the others of
  that bucket wait for its answer, so a burst of concurrent first requests cannot overdraw
  a bucket the client knows nothing about. After an answer without the headers, nothing
  waits. A 429 with ``Retry-After`` and no policy holds the whole bucket that long.
- A request that costs more than the bucket holds (a bulk on a plan whose burst is below
  100) is never paced: only the server can refuse it.
"""

from __future__ import annotations

import itertools
import threading
import time
from dataclasses import dataclass
from typing import Callable, Dict, Hashable, Mapping, Optional, Tuple

from .ratelimit_headers import Policy, RouteCost, read_fields

#: While the first request of a bucket is answered, the others ask again this often.
PROBE_POLL = 0.01
#: The others wait for the first request's answer at most this long after it was sent.
PROBE_PATIENCE = 1.0
#: A reservation neither answered, failed nor released this long after its send time is
#: forgotten (looked for once more than a few are outstanding).
FORGET_AFTER = 600.0
_MANY_OUTSTANDING = 64


@dataclass(frozen=True)
class Budget:
    """What the last answer of one (key, category) said, as the server sent it.

    ``observed_at`` is the pacer's clock (``time.monotonic`` unless another was given).
    """

    category: str
    limit: Optional[int]
    remaining: Optional[int]
    reset: Optional[float]
    policy: Optional[str]
    observed_at: float


@dataclass(frozen=True)
class Ticket:
    """The pacer's answer for one request.

    ``wait`` is the seconds to sleep before the send. ``fits`` is False when that wait does
    not fit in the time left: nothing was reserved, and the caller ends the call (a timeout)
    instead of sleeping. ``recheck`` means: sleep ``wait``, then call :meth:`Pacer.reserve`
    again (nothing was reserved; the first answer of the bucket is awaited). Otherwise the
    caller sleeps ``wait``, sends, and reports with :meth:`Pacer.answered`,
    :meth:`Pacer.failed` or, if it did not send after all, :meth:`Pacer.release`.
    """

    wait: float
    fits: bool = True
    recheck: bool = False
    number: int = 0
    key: Optional[Tuple[Hashable, str]] = None
    cost: int = 0
    send_at: float = 0.0


class _Bucket:
    """The model of one server bucket (guarded by the pacer's lock)."""

    __slots__ = (
        "answered_once",
        "budget",
        "hold_until",
        "known",
        "level",
        "outstanding",
        "policy",
        "probe",
        "probe_sent",
        "stamp",
    )

    def __init__(self) -> None:
        self.policy: Optional[Policy] = None
        self.known = False  # whether `level` has been set from an answer
        self.level = 0.0
        self.stamp = 0.0
        self.outstanding: Dict[int, Tuple[float, int]] = {}  # ticket -> (send time, cost)
        self.answered_once = False
        self.probe: Optional[int] = None
        self.probe_sent = 0.0
        self.hold_until = 0.0
        self.budget: Optional[Budget] = None

    def refill(self, now: float, policy: Policy) -> None:
        if now > self.stamp:
            self.level = min(float(policy.burst), self.level + policy.rate * (now - self.stamp))
            self.stamp = now


class Pacer:
    """The rate-limit budgets of one client, shared by its threads and tasks.

    Args:
        clock: seconds, monotonic (tests pass a fake one).
        enabled: False turns pacing off: every ticket says "go now"; answers still feed
            :meth:`snapshot`.
    """

    def __init__(self, clock: Callable[[], float] = time.monotonic, enabled: bool = True) -> None:
        self._clock = clock
        self.enabled = enabled
        self._lock = threading.Lock()
        self._buckets: Dict[Tuple[Hashable, str], _Bucket] = {}
        self._numbers = itertools.count(1)

    def reserve(self, identity: Hashable, route: RouteCost, time_left: float) -> Ticket:
        """When may a request of ``route``'s cost go: a :class:`Ticket`.

        Args:
            identity: who the server counts against (the client's API key credential).
            route: the request's category and cost (:func:`.route_cost`).
            time_left: seconds left in the call's deadline (``math.inf``: none).
        """
        key = (identity, route.category)
        if not self.enabled:
            return Ticket(0.0, key=key)
        cost = route.cost
        with self._lock:
            now = self._clock()
            bucket = self._buckets.get(key)
            if bucket is None:
                bucket = self._buckets[key] = _Bucket()
            wait = max(0.0, bucket.hold_until - now)
            policy = bucket.policy
            if policy is None:
                if not bucket.answered_once:
                    if bucket.probe is None:
                        bucket.probe = next(self._numbers)
                        bucket.probe_sent = now + wait
                        return self._ticket(bucket, key, bucket.probe, cost, now, wait, time_left)
                    patience = bucket.probe_sent + PROBE_PATIENCE - now
                    if patience > 0 and time_left > PROBE_POLL:
                        return Ticket(max(wait, min(PROBE_POLL, patience)), recheck=True)
                return self._ticket(bucket, key, None, cost, now, wait, time_left)
            if cost > policy.burst:
                return self._ticket(bucket, key, None, cost, now, wait, time_left)
            bucket.refill(now, policy)
            # One token of margin: the server credits whole tokens, the model fractions.
            if bucket.level < cost + 1:
                wait = max(wait, (cost + 1 - bucket.level) / policy.rate)
            if wait > time_left:
                return Ticket(wait, fits=False)
            bucket.level -= cost
            return self._ticket(bucket, key, None, cost, now, wait, time_left)

    def _ticket(
        self,
        bucket: _Bucket,
        key: Tuple[Hashable, str],
        number: Optional[int],
        cost: int,
        now: float,
        wait: float,
        time_left: float,
    ) -> Ticket:
        if wait > time_left:
            if number is not None and bucket.probe == number:
                bucket.probe = None
            return Ticket(wait, fits=False)
        number = number if number is not None else next(self._numbers)
        send_at = now + wait
        bucket.outstanding[number] = (send_at, cost)
        return Ticket(wait, number=number, key=key, cost=cost, send_at=send_at)

    def release(self, ticket: Ticket) -> None:
        """The request was not sent after all (deadline, cancellation): give its tokens back.

        Args:
            ticket: a ticket from :meth:`reserve`; others are ignored.
        """
        bucket = self._done(ticket)
        if bucket is not None and bucket.policy is not None and ticket.cost <= bucket.policy.burst:
            bucket.level += ticket.cost

    def failed(self, ticket: Ticket) -> None:
        """The request got no answer: the server may have counted it, so its tokens stay spent.

        Args:
            ticket: a ticket from :meth:`reserve`; others are ignored.
        """
        self._done(ticket)

    def answered(self, ticket: Ticket, status: int, headers: Mapping[str, str]) -> None:
        """Learn from an answer (any status) to the request ``ticket`` was for.

        Args:
            ticket: the ticket the request was sent with.
            status: the answer's HTTP status.
            headers: the answer's headers.
        """
        if ticket.key is None:
            return
        fields = read_fields(headers)
        with self._lock:
            bucket = self._buckets.get(ticket.key)
            if bucket is None:
                bucket = self._buckets[ticket.key] = _Bucket()
            now = self._clock()
            debited = ticket.number in bucket.outstanding
            self._forget(bucket, ticket)
            bucket.answered_once = True
            if fields.present:
                bucket.budget = Budget(
                    category=ticket.key[1],
                    limit=fields.limit,
                    remaining=fields.remaining,
                    reset=fields.reset,
                    policy=fields.policy_text,
                    observed_at=now,
                )
            remaining = 0 if status == 429 else fields.remaining
            if fields.policy is not None and remaining is not None:
                bucket.policy = fields.policy
            policy = bucket.policy
            if policy is not None and remaining is not None and fields.present:
                # Requests scheduled at or after this one: not counted in `remaining` yet.
                later = sum(
                    cost
                    for sent, cost in bucket.outstanding.values()
                    if sent >= ticket.send_at and cost <= policy.burst
                )
                observed = min(float(policy.burst), float(remaining)) - later
                if bucket.known:
                    bucket.refill(now, policy)
                    if status == 429 and debited and ticket.cost <= policy.burst:
                        bucket.level += ticket.cost  # refused: the server took nothing
                    bucket.level = min(bucket.level, observed)
                else:
                    bucket.level, bucket.stamp, bucket.known = observed, now, True
            elif status == 429 and fields.retry_after is not None:
                bucket.hold_until = max(bucket.hold_until, now + fields.retry_after)

    def _done(self, ticket: Ticket) -> Optional[_Bucket]:
        if ticket.key is None:
            return None
        with self._lock:
            bucket = self._buckets.get(ticket.key)
            if bucket is not None:
                self._forget(bucket, ticket)
            return bucket

    @staticmethod
    def _forget(bucket: _Bucket, ticket: Ticket) -> None:
        outstanding = bucket.outstanding
        outstanding.pop(ticket.number, None)
        if bucket.probe == ticket.number:
            bucket.probe = None
        # Tickets never reported (a driver bug) must not pile up for the client's lifetime.
        if outstanding and len(outstanding) > _MANY_OUTSTANDING:
            horizon = ticket.send_at - FORGET_AFTER
            for number in [n for n, (sent, _) in outstanding.items() if sent < horizon]:
                del outstanding[number]

    def snapshot(self, identity: Hashable) -> Dict[str, Budget]:
        """The last known budget of each category of ``identity`` (read-only copies).

        Args:
            identity: the identity passed to :meth:`reserve`.
        """
        with self._lock:
            return {
                category: bucket.budget
                for (who, category), bucket in self._buckets.items()
                if who == identity and bucket.budget is not None
            }
