"""Pacing against the server's own token bucket, on a fake clock: few refusals, little idle time.

The server side is the emulator's :class:`~teleflow_py.emulator.ratelimit.RateLimiter`, a port
of the Teleflow guard's bucket (NxPKG/teleflow ``apps/api/src/app/rate-limiting/usecases/
evaluate-token-bucket-rate-limit/evaluate-token-bucket-rate-limit.usecase.ts``: refill delayed
until the bucket cannot pay, burst ``floor(limit * 1.1)``, bulk costs 100). Eight senders share
one :class:`Pacer`; each request travels to the server and back with a random delay, so
answers arrive out of order. A refused request is retried as the client does today: after
``Retry-After`` seconds, through the pacer again.

The bucket allows ``burst`` tokens at once and ``limit / w`` a second after that, so the
fastest possible finish is ``(tokens - burst) / rate``: the paced senders must finish within
1.2 times that, with at most 0.2 % of requests refused. The same run without pacing is
refused far more often (the proof the numbers can fail).
"""

from __future__ import annotations

import heapq
import itertools
import math
import random
from collections import deque
from dataclasses import dataclass, field
from typing import Callable, List, Tuple

import pytest

from teleflow_py._core.pacing import Pacer, Ticket
from teleflow_py._core.ratelimit_headers import RouteCost, route_cost
from teleflow_py.emulator.ratelimit import RateLimiter

SENDERS = 8
KEY = "sk_test_simulation"


@dataclass
class Simulation:
    now: float = 0.0
    _events: List[Tuple[float, int, Callable[[], None]]] = field(default_factory=list)
    _order: itertools.count[int] = field(default_factory=itertools.count)

    def at(self, when: float, action: Callable[[], None]) -> None:
        heapq.heappush(self._events, (when, next(self._order), action))

    def run(self) -> None:
        while self._events:
            self.now, _, action = heapq.heappop(self._events)
            action()


@dataclass
class Outcome:
    requests: int = 0
    refused: int = 0
    delivered: int = 0
    finished: float = 0.0


def simulate(
    requests: int,
    route: RouteCost,
    limit: int,
    window: float,
    latency: Tuple[float, float],
    paced: bool,
    seed: int = 7,
) -> Outcome:
    sim = Simulation()
    server = RateLimiter(limit, window, clock=lambda: sim.now)
    pacer = Pacer(clock=lambda: sim.now, enabled=paced)
    rng = random.Random(seed)
    work = deque(range(requests))
    outcome = Outcome()

    def take() -> None:
        if work:
            work.popleft()
            ask()

    def ask() -> None:
        ticket = pacer.reserve(KEY, route, math.inf)
        assert ticket.fits
        if ticket.recheck:
            sim.at(sim.now + ticket.wait, ask)
        else:
            sim.at(sim.now + ticket.wait, lambda: send(ticket))

    def send(ticket: Ticket) -> None:
        outcome.requests += 1
        sim.at(sim.now + rng.uniform(*latency), lambda: arrive(ticket))

    def arrive(ticket: Ticket) -> None:
        decision = server.hit(KEY, route.category, route.cost_name)
        sim.at(
            sim.now + rng.uniform(*latency),
            lambda: answer(ticket, decision.allowed, decision.headers),
        )

    def answer(ticket: Ticket, allowed: bool, headers: dict[str, str]) -> None:
        pacer.answered(ticket, 201 if allowed else 429, headers)
        if allowed:
            outcome.delivered += 1
            outcome.finished = sim.now
            take()
        else:
            outcome.refused += 1
            sim.at(sim.now + float(headers["Retry-After"]), ask)

    for _ in range(SENDERS):
        sim.at(0.0, take)
    sim.run()
    return outcome


def fastest_finish(requests: int, cost: int, limit: int, window: float) -> float:
    burst = math.floor(limit * 1.1)
    return max(0.0, (requests * cost - burst) / (limit / window))


BULK = route_cost("POST", "/v1/events/trigger/bulk")
SINGLE = route_cost("POST", "/v1/events/trigger")
LOOPBACK = (0.0002, 0.002)
NETWORK = (0.002, 0.02)

CASES = [
    # 40,000 events as 400 bulk requests; Teleflow business tier (600/s, w=1, burst 660).
    pytest.param(400, BULK, 600, 1.0, LOOPBACK, id="bulk-600/s-loopback"),
    pytest.param(400, BULK, 600, 1.0, NETWORK, id="bulk-600/s-network"),
    # The emulator's default: Novu's 5 s window, 300 tokens (burst 330).
    pytest.param(400, BULK, 300, 5.0, LOOPBACK, id="bulk-300/5s-loopback"),
    # 4,000 trigger_event calls; free tier (60/s) and business tier (600/s).
    pytest.param(4000, SINGLE, 60, 1.0, LOOPBACK, id="single-60/s-loopback"),
    pytest.param(4000, SINGLE, 600, 1.0, LOOPBACK, id="single-600/s-loopback"),
    pytest.param(4000, SINGLE, 150, 1.0, NETWORK, id="single-150/s-network"),
]


@pytest.mark.parametrize("requests, route, limit, window, latency", CASES)
def test_paced_senders_are_rarely_refused_and_finish_near_the_bucket_rate(
    requests: int, route: RouteCost, limit: int, window: float, latency: Tuple[float, float]
) -> None:
    paced = simulate(requests, route, limit, window, latency, paced=True)
    assert paced.delivered == requests
    assert paced.refused <= 0.002 * paced.requests, paced
    bound = fastest_finish(requests, route.cost, limit, window)
    assert paced.finished <= 1.2 * bound + 0.1, (paced.finished, bound)


@pytest.mark.parametrize("requests, route, limit, window, latency", CASES)
def test_the_same_senders_without_pacing_meet_many_429s(
    requests: int, route: RouteCost, limit: int, window: float, latency: Tuple[float, float]
) -> None:
    unpaced = simulate(requests, route, limit, window, latency, paced=False)
    assert unpaced.delivered == requests
    assert unpaced.refused > 0.002 * unpaced.requests, unpaced
