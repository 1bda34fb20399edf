"""The one place a low-level failure becomes an :class:`~teleflow_py.errors.APIConnectionError`.

Each driver names its library's exception classes once, as a :class:`FailureKinds` table
(which are timeouts, which no repeat can fix, which are transient); :func:`api_error` runs
the same ladder for all of them, so the sync client, the async client and the analytics
worker raise the same class, message and ``retryable`` for the same failure:

1. an error of ours (:class:`~teleflow_py.errors.ResponseTooLargeError`, a closed client)
   is kept, with the URL added;
2. a timeout (of an operation, or the deadline) is :class:`~teleflow_py.errors.APITimeoutError`;
3. a failure the driver lists as permanent is not retryable;
4. a TLS failure (anywhere in the chain of causes) is retryable only when the peer ended
   the connection (EOF), not for a certificate that fails to verify;
5. a ``ValueError`` (a header value that will not encode) is not retryable;
6. anything the driver lists as transient (and any ``OSError``) is retryable.

Anything else is not a transport failure and is raised as it is by the caller.

:func:`never_sent` tells the failures that prove the request never left (refused, DNS,
a connect timeout), which a retry cannot deliver twice, from the others, which may have
followed processing (see :mod:`teleflow_py._core.dedup`).
"""

from __future__ import annotations

import http.client
import socket
import ssl
from typing import NamedTuple, Optional, Tuple, Type

from ..errors import APIConnectionError, APITimeoutError, ResponseTooLargeError, TeleflowError

_Classes = Tuple[Type[BaseException], ...]


class FailureKinds(NamedTuple):
    """A driver's exception classes by what they mean (see the module docstring)."""

    timeouts: _Classes
    permanent: _Classes
    transient: _Classes
    #: Failures met before any byte of the request was sent (connecting), anywhere in the
    #: chain of causes: a retry cannot deliver the call twice.
    unsent: _Classes = ()


class ConnectTimedOut(TimeoutError):
    """Connecting timed out: nothing of the request was sent (a driver raises it)."""


#: The standard library's failures, which every driver may meet.
STDLIB = FailureKinds(
    timeouts=(socket.timeout, TimeoutError),
    permanent=(http.client.InvalidURL,),
    transient=(http.client.HTTPException, OSError),
    unsent=(ConnectionRefusedError, socket.gaierror, ConnectTimedOut),
)


def reason(exc: BaseException) -> str:
    """A short, key-free description of a transport failure (the key is never in a URL)."""
    text = str(exc) or type(exc).__name__
    return f"{type(exc).__name__}: {text[:300]}"


def _in_chain(exc: BaseException, classes: _Classes) -> Optional[BaseException]:
    """The first of ``exc`` and its causes that is one of ``classes``."""
    seen: Optional[BaseException] = exc
    for _ in range(20):  # a chain of causes is short; a cycle must not hang us
        if seen is None:
            return None
        if isinstance(seen, classes):
            return seen
        seen = seen.__cause__ or seen.__context__
    return None


def _tls_cause(exc: BaseException) -> Optional[ssl.SSLError]:
    found = _in_chain(exc, (ssl.SSLError,))
    return found if isinstance(found, ssl.SSLError) else None


def never_sent(exc: BaseException, kinds: FailureKinds = STDLIB) -> bool:
    """Whether the failure ``exc`` proves the request never left (refused, DNS, connecting).

    Anything else (a timeout or reset after connecting) may have followed processing.
    """
    return _in_chain(exc, kinds.unsent + STDLIB.unsent) is not None


def api_error(
    method: str, url: str, exc: BaseException, kinds: FailureKinds = STDLIB
) -> Optional[TeleflowError]:
    """The SDK error for ``exc``, a failure of one attempt; ``None`` when it is not one.

    ``kinds`` is the driver's table; the standard library's failures are always known.
    """
    if isinstance(exc, ResponseTooLargeError):
        if not exc.url:
            exc.url = url
            exc.args = (f"{method} {url}: {exc}",)
        return exc
    if isinstance(exc, TeleflowError):
        return exc
    if isinstance(exc, kinds.timeouts + STDLIB.timeouts):
        return APITimeoutError(f"{method} {url} timed out: {reason(exc)}", url=url)
    if isinstance(exc, kinds.permanent + STDLIB.permanent):
        return APIConnectionError(
            f"{method} {url} cannot succeed: {reason(exc)}", url=url, retryable=False
        )
    tls = _tls_cause(exc)
    if tls is not None:
        return APIConnectionError(
            f"{method} {url} failed in TLS: {reason(tls)}",
            url=url,
            retryable=isinstance(tls, (ssl.SSLEOFError, ssl.SSLZeroReturnError)),
        )
    if isinstance(exc, ValueError):
        # http.client raises ValueError for a header value it will not send.
        return APIConnectionError(
            f"{method} {url} cannot succeed: {reason(exc)}", url=url, retryable=False
        )
    if isinstance(exc, kinds.transient + STDLIB.transient):
        return APIConnectionError(f"{method} {url} failed: {reason(exc)}", url=url)
    return None
