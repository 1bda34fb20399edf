"""A client's settings for sending, as the attempt loop reads them: built once per client.

:class:`Sending` gathers what every call of a client shares (base URL and headers, retry
policy, timeouts, deadline, answer cap, the driver's failure table, the observer), so the
loop (:mod:`teleflow_py._core.attempts`) reads one object instead of a client's settings.
"""

from __future__ import annotations

from typing import Dict, NamedTuple, Optional

from ..config import ClientConfig
from .dedup import Dedup, dedup_for
from .failures import STDLIB, FailureKinds
from .headers import base_headers
from .hooks import NO_OBSERVER, AttemptObserver
from .limits import Timeouts
from .retry import RetryPolicy


class Sending(NamedTuple):
    """A client's settings for sending, built once per client (and per ``with_options``)."""

    base_url: str
    base_headers: Dict[str, str]
    policy: RetryPolicy
    timeouts: Timeouts
    #: Seconds for one whole call (``None`` or ``math.inf``: no limit).
    deadline: Optional[float]
    max_response_bytes: int
    #: The driver's exception classes (see :mod:`teleflow_py._core.failures`).
    kinds: FailureKinds = STDLIB
    observer: AttemptObserver = NO_OBSERVER
    #: The deadline bounds each attempt rather than the whole call (the analytics worker,
    #: whose waits between attempts its own shutdown deadline bounds).
    per_attempt: bool = False
    #: Whether the server deduplicates retried Events requests, learnt or set
    #: (:mod:`teleflow_py._core.dedup`); ``None`` where it does not apply (analytics).
    dedup: Optional[Dedup] = None
    #: Which API key is sent, safe to print (a 401's message names it).
    key_hint: str = ""
    #: Ask the observer for a delay before each attempt (pacing by the rate-limit
    #: headers, ``pace_by_rate_limit``); off, a bulk call's requests still share the
    #: whole-second pause of a spent window.
    paced: bool = False

    @classmethod
    def of(
        cls, config: ClientConfig, kinds: FailureKinds, observer: AttemptObserver = NO_OBSERVER
    ) -> Sending:
        """The Events API settings of a client's ``config``, for a driver with ``kinds``."""
        return cls(
            base_url=config.base_url,
            base_headers=base_headers(
                config.telemetry, config.telemetry_hostname, config.default_headers
            ),
            policy=RetryPolicy(
                max_retries=config.max_retries, max_server_wait=config.max_retry_wait
            ),
            timeouts=Timeouts(
                connect=config.open_timeout, read=config.timeout, write=config.write_timeout
            ),
            deadline=config.deadline,
            max_response_bytes=config.max_response_bytes,
            kinds=kinds,
            observer=observer,
            dedup=dedup_for(config.base_url, config.hosted, config.server_deduplicates),
            key_hint=config.key_hint,
            paced=config.pace_by_rate_limit and observer is not NO_OBSERVER,
        )
