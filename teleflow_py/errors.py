"""Every exception ``teleflow_py`` raises, in one tree.

::

    TeleflowError
    ├── ValidationError (also a ValueError): bad input refused before anything is sent
    │   └── InvalidIdempotencyKeyError
    ├── APIConnectionError: the request never got a (whole) HTTP answer
    │   ├── APITimeoutError: a timeout, or the call's deadline, passed first
    │   └── ResponseTooLargeError: the answer passed ``max_response_bytes`` (not retried)
    ├── APIError: the server answered with an error status
    │   ├── BadRequestError            400
    │   ├── AuthenticationError        401 (names the key's source and last 4 characters)
    │   ├── QuotaExceededError         402: the plan's event quota is spent (not retried)
    │   ├── PermissionDeniedError      403
    │   ├── NotFoundError              404
    │   ├── RequestTimeoutError        408
    │   ├── ConflictError              409
    │   ├── PayloadTooLargeError       413
    │   ├── UnprocessableEntityError   422
    │   ├── UnexpectedResponseError    a 2xx whose body is not what the API documents
    │   ├── RateLimitError             429 (``retry_after`` in seconds)
    │   │   ├── DailyQuotaIsReachedError        not retried: waiting minutes helps nobody
    │   │   └── SecondBasedQuotaIsReachedError
    │   └── ServerError                500 and any other 5xx
    │       ├── BadGatewayError        502
    │       ├── ServiceUnavailableError 503
    │       └── GatewayTimeoutError    504
    ├── BulkTriggerError: a chunk of a split bulk trigger failed for good; carries the
    │   results already obtained and the events not yet sent, so a caller can resume.
    └── EventsRejectedError: the server took an analytics batch but refused some events
        (passed to ``on_error``, never raised to the caller of ``track``).

An :class:`APIError` keeps the whole server answer: ``status``, the parsed ``body``,
``headers``, ``request_id``, ``retry_count`` and the :class:`~teleflow_py.response.Response`.
No error ever carries the API key: request headers are redacted before they are stored.

``maybe_delivered`` (on :class:`APIConnectionError` and :class:`APIError`) is true when an
Events call stopped after a failure that may have followed processing (a timeout or reset
after the request was sent, a 502 or 504) and was not retried because the server does not
deduplicate retried requests (see "When the server does not deduplicate" in the docs): the
notification may or may not have been sent, and sending it again may send it twice.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any, Dict, List, Mapping, Optional, Sequence, Tuple, Type

from ._core.headers import CaseInsensitiveDict
from ._core.retry import server_requested_wait
from ._hints import mentions_daily_quota, next_step
from .response import request_id_of

if TYPE_CHECKING:
    from .response import Response
    from .results import TriggerResult


class TeleflowError(Exception):
    """Base class of every exception raised by ``teleflow_py``."""

    def __reduce__(self) -> Tuple[Any, ...]:
        # Rebuild from the stored fields: the subclasses' __init__ signatures differ from
        # their args, and errors must cross process boundaries (multiprocessing, Celery).
        return (_restore_error, (type(self), self.args, self.__dict__))


def _restore_error(
    cls: Type[TeleflowError], args: Tuple[Any, ...], state: Dict[str, Any]
) -> TeleflowError:
    error = cls.__new__(cls)
    Exception.__init__(error, *args)
    error.__dict__.update(state)
    return error


class ValidationError(TeleflowError, ValueError):
    """Input refused before anything was sent; the message names the argument.

    Also a :class:`ValueError`, so ``except ValueError`` catches it too. ``str(error)`` is
    ``"<argument>: <message>"``.

    Args:
        argument: the name of the refused argument as the caller wrote it, kept on
            ``error.argument``: a parameter (``"payload"``), a setting (``"api_key"``) or a
            path into it (``"to[2]"``, ``"events[1234].payload"``).
        message: what is wrong with it, in words (never the API key).
    """

    def __init__(self, argument: str, message: str) -> None:
        self.argument = argument
        super().__init__(f"{argument}: {message}")


class InvalidIdempotencyKeyError(ValidationError):
    """An idempotency key given by the caller is not 1 to 255 printable ASCII characters."""


class APIConnectionError(TeleflowError):
    """No HTTP answer was received (refused, reset, DNS, TLS, or the connection dropped).

    The Events API retries it (with the same idempotency key) when ``retryable`` is true,
    up to ``max_retries`` times within the call's ``deadline``; the error raised is the last
    attempt's. The server may have processed a request whose answer was lost: repeating it
    with the same idempotency key is safe when the server deduplicates.

    ``maybe_delivered`` is true when the failure may have followed processing (a timeout
    or reset after the request was sent) and the call was not retried because the server
    does not deduplicate (``server_deduplicates``): the notification may or may not have
    been sent; check before sending it again. False otherwise (a refused connection proves
    nothing was sent, and is retried).

    Args:
        message: what failed, with the method and URL (``str(error)``).
        retry_count: how many retries were made before giving up (0: the first attempt
            failed and was not repeated).
        url: the full URL of the request (``""`` when unknown); it never holds the API key.
        retryable: false when a repeat cannot help (an invalid URL or header, a TLS
            certificate that fails to verify, a CA bundle that cannot be read): such an
            error is raised at once, without retries.
    """

    def __init__(
        self, message: str, *, retry_count: int = 0, url: str = "", retryable: bool = True
    ) -> None:
        self.retry_count = retry_count
        self.url = url
        #: False when a repeat cannot help (an invalid URL or header, a failed TLS check).
        self.retryable = retryable
        #: The call may or may not have been delivered, and was not repeated (see above).
        self.maybe_delivered = False
        super().__init__(message)


class APITimeoutError(APIConnectionError):
    """A connect, write or read timeout, or the call's ``deadline``, passed first."""


class ResponseTooLargeError(APIConnectionError):
    """The answer was longer than ``max_response_bytes``; reading stopped there.

    Not retried: the same request would most likely get the same answer. The server may
    have processed the request (retrying later with the same idempotency key is safe).

    Args:
        limit: the ``max_response_bytes`` that was passed.
        url: the URL of the request.
    """

    def __init__(self, limit: int, *, url: str = "") -> None:
        self.limit = limit
        super().__init__(
            f"the answer is longer than max_response_bytes={limit}", url=url, retryable=False
        )


def _extract_message(body: Any) -> str:
    """Turn either documented error body shape into one readable line."""
    if isinstance(body, dict):
        message = body.get("message")
        if isinstance(message, list):
            text = "; ".join(str(item) for item in message)
        elif message is not None:
            text = str(message)
        else:
            text = str(body.get("error") or "")
        errors = body.get("errors")
        if isinstance(errors, dict) and errors:
            details = []
            for field_name, detail in errors.items():
                messages = detail.get("messages") if isinstance(detail, dict) else detail
                if isinstance(messages, list):
                    messages = ", ".join(str(m) for m in messages)
                details.append(f"{field_name}: {messages}")
            text = f"{text} ({'; '.join(details)})" if text else "; ".join(details)
        return text
    if isinstance(body, str):
        return body.strip()[:500]
    return ""


class APIError(TeleflowError):
    """The server answered with an error status. The whole answer is kept on the error.

    Raised as the subclass that matches the status (see the tree above); the message reads
    ``HTTP <status>: <the server's message>``. ``server_message`` is that message as one
    line, :attr:`message_list` the server's ``message`` as a list, :attr:`request_id` the
    server's request id header (quote it to support).

    ``maybe_delivered`` is true for a 502, a 504 or a 503 without ``Retry-After`` (a
    gateway's answer, which may follow processing) that ended an Events call without a
    retry because the server does not deduplicate (``server_deduplicates``): the
    notification may or may not have been sent. False otherwise.

    Args:
        status: the HTTP status code of the answer (for example 400, 422, 503).
        body: the answer's body: parsed JSON (usually a dict with ``message``, ``error``
            and sometimes ``errors``), the raw text when it is not JSON, or ``None`` when
            empty.
        headers: the answer's headers; kept case-insensitive (``error.headers["retry-after"]``
            finds ``Retry-After``).
        response: the whole exchange as a :class:`~teleflow_py.response.Response` (the URL,
            the request headers with ``Authorization`` redacted, the request body, the
            idempotency key, the time spent), or ``None`` where none was built (the
            analytics worker).
        retry_count: how many retries were made before this answer ended the call (0: the
            first answer was final).
        key_hint: which API key was sent, safe to print (its source and at most its last 4
            characters); a 401's message names it.
    """

    status: int

    def __init__(
        self,
        status: int,
        body: Any,
        headers: Mapping[str, str],
        *,
        response: Optional[Response] = None,
        retry_count: int = 0,
        key_hint: str = "",
    ) -> None:
        self.status = status
        self.body = body
        self.headers: Mapping[str, str] = CaseInsensitiveDict(headers)
        self.response = response
        self.retry_count = retry_count
        self.server_message = _extract_message(body)
        #: The call may or may not have been delivered, and was not repeated (see above).
        self.maybe_delivered = False
        super().__init__(self._describe(key_hint))

    @property
    def request_id(self) -> Optional[str]:
        """The server's request id header, when it sent one."""
        return request_id_of(self.headers)

    @property
    def message_list(self) -> List[str]:
        """The server's ``message`` as a list (NestJS validation sends a list of strings)."""
        if isinstance(self.body, dict):
            message = self.body.get("message")
            if isinstance(message, list):
                return [str(item) for item in message]
            if message is not None:
                return [str(message)]
        return [self.server_message] if self.server_message else []

    def _describe(self, key_hint: str = "") -> str:
        text = f"HTTP {self.status}"
        if self.server_message:
            text += f": {self.server_message}"
        location = self.headers.get("Location")
        if 300 <= self.status < 400 and location:
            text += f" (redirect to {location}: is base_url right?)"
        if self.retry_count:
            text += f" (after {self.retry_count} retries)"
        hint = next_step(self.status, self.server_message, self.response, key_hint)
        return f"{text}: {hint}" if hint else text


class BadRequestError(APIError):
    """400: the server refused the request body."""


class AuthenticationError(APIError):
    """401: the API key is missing or wrong; the message names which key was sent.

    The message says where the key came from (the ``api_key=`` argument or
    ``TELEFLOW_API_KEY``) and its last 4 characters (none for a key of 8 characters or
    fewer), never more.
    """


class QuotaExceededError(APIError):
    """402: the plan's event quota is spent; never retried (a repeat gets the same answer).

    The server's resource throttler (NxPKG/teleflow
    ``apps/api/src/app/resource-limiting/guards/resource-throttler.guard.ts``) refuses the
    request before processing it, so nothing was sent; ``server_message`` is the server's
    message (with where to upgrade the plan).
    """


class PermissionDeniedError(APIError):
    """403: the API key may not do this."""


class NotFoundError(APIError):
    """404: no such route or resource."""


class RequestTimeoutError(APIError):
    """408: the server gave up waiting for the request."""


class ConflictError(APIError):
    """409: for example a request with the same idempotency key is still in flight."""


class PayloadTooLargeError(APIError):
    """413: the request body is over the server's limit."""


class UnprocessableEntityError(APIError):
    """422: for example an unknown workflow, or an idempotency key reused with another body."""


class UnexpectedResponseError(APIError):
    """The server answered 2xx, but with a body that is not the documented shape."""


class RateLimitError(APIError):
    """429: too many requests. ``retry_after`` is the server's wait in seconds, if it said.

    The Events API retries a 429 after the wait the server asks for (a backoff when it
    names none), when that wait is at most ``max_retry_wait`` and fits the call's
    ``deadline``; otherwise, and once ``max_retries`` retries are spent, this is raised.
    :class:`DailyQuotaIsReachedError` is raised at once, without retries.

    Args:
        status: the HTTP status code, 429.
        body: the answer's body (parsed JSON, raw text, or ``None`` when empty).
        headers: the answer's headers, kept case-insensitive (``Retry-After``,
            ``RateLimit-Remaining``, ``RateLimit-Reset``...).
        response: the whole exchange as a :class:`~teleflow_py.response.Response`, or
            ``None`` where none was built.
        retry_count: how many retries were made before this answer ended the call.
        retry_after: the wait the server asked for, in seconds (from
            ``X-Secondly-Retry-After`` or ``retry-after-ms`` in milliseconds,
            ``Retry-After`` in seconds or as an HTTP date, or ``RateLimit-Reset``), or
            ``None`` when its headers did not say.
    """

    def __init__(
        self,
        status: int,
        body: Any,
        headers: Mapping[str, str],
        *,
        response: Optional[Response] = None,
        retry_count: int = 0,
        retry_after: Optional[float] = None,
    ) -> None:
        self.retry_after = retry_after
        super().__init__(status, body, headers, response=response, retry_count=retry_count)


class DailyQuotaIsReachedError(RateLimitError):
    """429 saying the daily quota is spent: raised at once, never retried."""


class SecondBasedQuotaIsReachedError(RateLimitError):
    """429 for a per-second quota: retried after the wait the server asks for."""


class ServerError(APIError):
    """500, or any 5xx without a class of its own."""


class BadGatewayError(ServerError):
    """502."""


class ServiceUnavailableError(ServerError):
    """503."""


class GatewayTimeoutError(ServerError):
    """504."""


class BulkTriggerError(TeleflowError):
    """A request of a bulk trigger split over several requests failed for good.

    ``accepted`` holds ``(input index, result)`` for every event of the requests the server
    accepted, in input order, and ``results`` the same results alone; ``unsent`` the events
    not accepted (the failed requests and every one not started), in input order, with
    their input indexes in ``unsent_indices``; ``unsent_chunks`` the same events as
    ``(idempotency_key, events)`` pairs with the keys the failed call used, so resuming
    chunk by chunk never repeats or loses an event (a failed request the server did
    process is answered from its idempotency record)::

        except BulkTriggerError as exc:
            for key, chunk in exc.unsent_chunks:
                client.trigger_bulk_event(chunk, idempotency_key=key)

    ``error`` is the error of the first failed request (also ``__cause__``).

    Args:
        error: the error of the first failed request.
        results: the results of the accepted events, in input order.
        unsent_chunks: ``(idempotency_key, events)`` of every request not accepted.
        accepted: ``(input index, result)`` of the accepted events (default: ``results``
            numbered from 0).
        unsent_indices: the input indexes of the unsent events.
    """

    def __init__(
        self,
        error: TeleflowError,
        results: Sequence[TriggerResult],
        unsent_chunks: Sequence[Tuple[str, List[Dict[str, Any]]]],
        *,
        accepted: Optional[Sequence[Tuple[int, TriggerResult]]] = None,
        unsent_indices: Optional[Sequence[int]] = None,
    ) -> None:
        self.error = error
        self.results = list(results)
        self.accepted = list(accepted) if accepted is not None else list(enumerate(results))
        self.unsent_chunks = [(key, list(events)) for key, events in unsent_chunks]
        self.unsent = [event for _, events in self.unsent_chunks for event in events]
        self.unsent_indices = list(unsent_indices) if unsent_indices is not None else []
        super().__init__(
            f"bulk trigger stopped: {len(self.results)} events were accepted, "
            f"{len(self.unsent)} were not sent: {error}"
        )


class EventsRejectedError(TeleflowError):
    """The server accepted an analytics batch but refused some of its events.

    Logged at warning level and passed to the client's ``on_error`` callback with the
    refused events; never raised to the caller of ``track``, ``identify`` or ``alias``. The message lists the first five
    entries of ``errors``.

    Args:
        errors: the server's entries for the refused events, each a dict
            ``{"index": <position in the batch>, "message": <why>}``; may be empty when
            the server gave only a count.
        rejected: how many events of the batch the server refused.
        total: how many events the batch held (``rejected`` of ``total`` in the message).
    """

    def __init__(self, errors: List[Dict[str, Any]], rejected: int, total: int) -> None:
        self.errors = errors
        self.rejected = rejected
        details = "; ".join(f"#{e.get('index')}: {e.get('message')}" for e in errors[:5])
        suffix = f": {details}" if details else ""
        super().__init__(f"the server rejected {rejected} of {total} events{suffix}")


_STATUS_CLASSES: Dict[int, Type[APIError]] = {
    400: BadRequestError,
    401: AuthenticationError,
    402: QuotaExceededError,
    403: PermissionDeniedError,
    404: NotFoundError,
    408: RequestTimeoutError,
    409: ConflictError,
    413: PayloadTooLargeError,
    422: UnprocessableEntityError,
    500: ServerError,
    502: BadGatewayError,
    503: ServiceUnavailableError,
    504: GatewayTimeoutError,
}

_SECOND = re.compile(r"second", re.IGNORECASE)


def is_daily_quota(body: Any) -> bool:
    """Whether a 429 body says the daily quota is spent (text mentions a daily limit)."""
    return mentions_daily_quota(_extract_message(body) + " " + str(_error_field(body)))


def _error_field(body: Any) -> str:
    return str(body.get("error", "")) if isinstance(body, dict) else ""


def error_for_status(
    status: int,
    body: Any,
    headers: Mapping[str, str],
    *,
    response: Optional[Response] = None,
    retry_count: int = 0,
    key_hint: str = "",
) -> APIError:
    """Build the exception class that matches an HTTP error answer.

    A 429 carries ``retry_after``: the wait its headers ask for, if they say; a 401 names
    ``key_hint`` (which key was sent, safe to print).
    """
    if status == 429:
        rate_class: Type[RateLimitError] = RateLimitError
        lowered = {key.lower() for key in headers}
        if is_daily_quota(body):
            rate_class = DailyQuotaIsReachedError
        elif "x-secondly-retry-after" in lowered or _SECOND.search(_extract_message(body)):
            rate_class = SecondBasedQuotaIsReachedError
        return rate_class(
            status,
            body,
            headers,
            response=response,
            retry_count=retry_count,
            retry_after=server_requested_wait(headers),
        )
    cls = _STATUS_CLASSES.get(status)
    if cls is None:
        cls = ServerError if status >= 500 else APIError
    error = cls(
        status, body, headers, response=response, retry_count=retry_count, key_hint=key_hint
    )
    error.status = status
    return error
