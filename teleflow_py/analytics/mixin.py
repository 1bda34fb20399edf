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
    (queue full, spool full, or, with ``spool_mode="sync"``, a spool that could not commit
    it) or refused (after :meth:`shutdown`); drops are also counted in
    :attr:`analytics_stats` and passed to ``on_drop``. ``True`` always means the message is
    in memory or in the spool file; with ``spool_mode="sync"`` it means committed.
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

        The event goes to ``POST /v1/events/batch`` with the others of its batch, under
        a message id minted now (the server drops repeats). The whole encoded event may be
        at most 32 KB (32,768 bytes).

        Args:
            event: the event's name, for example ``"page_viewed"``; a non-empty string.
            user_id: the person's id in your system, sent as ``user_id``; a non-empty
                string. At least one of ``user_id``, ``anonymous_id`` and ``external_id``
                is required (give every one you know).
            anonymous_id: an id for a visitor not yet known by ``user_id`` (a device or
                cookie id), sent as ``anonymous_id``; a non-empty string. Link it to the
                ``user_id`` later with :meth:`alias`.
            external_id: another id of the same person, sent as given as
                ``external_id``; a non-empty string.
            properties: what to record about the event (``{"path": "/pricing"}``); a
                dict of JSON values, where ``datetime``, ``date`` and ``UUID`` values are
                sent as ISO-8601 strings. Not sent when omitted.
            timestamp: when the event happened, sent as ``occurred_at`` in UTC: a
                ``datetime`` or an ISO-8601 string (a trailing ``Z`` or an offset is
                converted to UTC; without an offset it is taken as UTC). Default: now.
            context: facts about where the event came from (app version, locale, IP...);
                a dict of JSON values, sent as ``context``. Not sent when omitted.

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

        Sent with the other events (``POST /v1/events/batch``), timestamped now.

        Args:
            user_id: the person's id in your system, sent as ``user_id``; a non-empty
                string. At least one of ``user_id``, ``anonymous_id`` and ``external_id``
                is required (give every one you know).
            anonymous_id: an id for a visitor not yet known by ``user_id`` (a device or
                cookie id), sent as ``anonymous_id``; a non-empty string. Link it to the
                ``user_id`` later with :meth:`alias`.
            external_id: another id of the same person, sent as given as
                ``external_id``; a non-empty string.
            traits: what is known about the person (``{"plan": "pro", "email": ...}``);
                a dict of JSON values, sent as ``traits``. Not sent when omitted.

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
        is queued after it, on its own to ``POST /v1/identify/alias``. ``True`` if queued.

        Args:
            user_id: the id the person is known by from now on (a non-empty string,
                required).
            anonymous_id: the anonymous id (a device or cookie id) their earlier events
                were tracked under; a non-empty string.
            previous_id: an earlier ``user_id`` of the same person; a non-empty string.
                Give ``anonymous_id``, ``previous_id`` or both.

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
        Returns a :class:`FlushResult` of what was accepted, rejected or left pending
        during the wait; it does not stop the worker. With a spool shared by other clients
        of this process, it also waits for the batches their workers took (counted in
        those clients' stats).

        Args:
            timeout: seconds to wait at most (``>= 0``; ``math.inf`` or ``None``, the
                default: until everything queued now has been answered or given back).
                Returning at the timeout stops nothing: the worker keeps sending.

        Raises:
            ValidationError: ``timeout`` is not ``None`` or a number >= 0.
        """
        return self._batcher.flush(timeout)

    def shutdown(self, timeout: Optional[float] = None) -> FlushResult:
        """Flush within ``timeout`` (default ``shutdown_timeout``) and stop the worker.

        Logs a warning with the number of events not delivered. Idempotent and safe from
        several threads (later calls wait for the first and return its result); messages
        tracked afterwards are refused and counted. ``close()`` and the exit hook call it.
        With a spool shared by other clients of this process, it waits for their workers
        too, as :meth:`flush` does, and stops only this client's; what is still pending
        while one of them stays open is left to it (their workers send it; an INFO line,
        not a warning), and only the last of them to shut down warns about what is left.

        Args:
            timeout: seconds the whole shutdown may take (``>= 0``; default ``None``: the
                client's ``shutdown_timeout``, 5 s unless set). Retry waits are cut short
                to fit; what is still queued after it is not delivered (kept in the spool
                when ``spool_path`` is set).

        Raises:
            ValidationError: ``timeout`` is not ``None`` or a number >= 0.
        """
        return self._batcher.shutdown(timeout)
