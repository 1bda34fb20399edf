"""The analytics methods of :class:`~teleflow_py.Client`: track, identify, alias, flush."""

from __future__ import annotations

import datetime as _dt
from typing import Any, Mapping, Optional, Union

from .batcher import Batcher
from .messages import alias_batch, encode_identify, encode_track
from .stats import AnalyticsHealth, AnalyticsStats, FlushResult


class AnalyticsQueueMixin:
    """Product analytics, queued on the caller's thread and sent in the background.

    ``track``, ``identify`` and ``alias`` check their input, encode it once (a snapshot:
    later changes to your dicts are not sent) and return at once, without network I/O.
    They return ``True`` when the message was queued and ``False`` when it was dropped
    (queue full) or refused (after :meth:`shutdown`); drops are also counted in
    :attr:`analytics_stats` and passed to ``on_drop``.
    """

    _batcher: Batcher

    def track(
        self,
        event: str,
        *,
        user_id: Optional[str] = None,
        anonymous_id: Optional[str] = None,
        external_id: Optional[str] = None,
        properties: Optional[Mapping[str, Any]] = None,
        timestamp: Union[_dt.datetime, str, None] = None,
        context: Optional[Mapping[str, Any]] = None,
    ) -> bool:
        """Queue an event; ``True`` if queued, ``False`` if dropped or refused.

        ``timestamp`` (a ``datetime``, or an ISO-8601 string; naive means UTC) defaults to
        now. At least one of ``user_id``, ``anonymous_id``, ``external_id`` is required.

        Raises:
            ValidationError: an empty event name, no id, a bad ``timestamp``,
                ``properties``/``context`` that JSON cannot encode, or an event over 32 KB
                encoded. Nothing is queued then. Network and server problems never raise.
        """
        return self._batcher.put(
            encode_track(event, user_id, anonymous_id, external_id, properties, timestamp, context)
        )

    def identify(
        self,
        *,
        user_id: Optional[str] = None,
        anonymous_id: Optional[str] = None,
        external_id: Optional[str] = None,
        traits: Optional[Mapping[str, Any]] = None,
    ) -> bool:
        """Queue a ``$identify`` event with ``traits``; ``True`` if queued.

        Raises:
            ValidationError: no id, ``traits`` that JSON cannot encode, or an event over
                32 KB encoded. Nothing is queued then.
        """
        return self._batcher.put(encode_identify(user_id, anonymous_id, external_id, traits))

    def alias(
        self,
        *,
        user_id: str,
        anonymous_id: Optional[str] = None,
        previous_id: Optional[str] = None,
    ) -> bool:
        """Queue an alias of ``user_id`` to ``anonymous_id`` and/or ``previous_id``.

        It is sent in order with the events: after what was queued before it, before what
        is queued after it. ``True`` if queued.

        Raises:
            ValidationError: no ``user_id``, or neither ``anonymous_id`` nor ``previous_id``.
        """
        return self._batcher.put(alias_batch(user_id, anonymous_id, previous_id))

    @property
    def analytics_stats(self) -> AnalyticsStats:
        """Totals of the analytics pipeline so far (see :class:`AnalyticsStats`)."""
        return self._batcher.stats()

    def analytics_health(self) -> AnalyticsHealth:
        """Whether events are flowing: worker state, oldest pending age, last success and
        last error (see :class:`AnalyticsHealth`). Cheap enough for a health endpoint."""
        return self._batcher.health()


class AnalyticsMixin(AnalyticsQueueMixin):
    """The queue plus :meth:`flush` and :meth:`shutdown`, which wait on the caller's thread.

    The async client mixes in :class:`AnalyticsQueueMixin` and awaits these in a thread.
    """

    def flush(self, timeout: Optional[float] = None) -> FlushResult:
        """Send everything queued now; wait until done, or at most ``timeout`` seconds.

        A batch whose retries are spent stays queued (``pending``) for a later attempt.

        Raises:
            ValidationError: ``timeout`` is not ``None`` or a number >= 0.
        """
        return self._batcher.flush(timeout)

    def shutdown(self, timeout: Optional[float] = None) -> FlushResult:
        """Flush within ``timeout`` (default ``shutdown_timeout``) and stop the worker.

        Logs a warning with the number of events not delivered. Idempotent and safe from
        several threads; messages tracked afterwards are refused and counted.

        Raises:
            ValidationError: ``timeout`` is not ``None`` or a number >= 0.
        """
        return self._batcher.shutdown(timeout)
